"""LoRA League adapter versions under AReaL's names, on a LoRA League server.

AReaL's rollout client (`areal.engine.vllm_remote.RemotevLLMEngine` with `use_lora=True`) names
the adapter of every request `{gconfig.lora_name}-v{engine version}`
(`areal.api.io_struct.get_versioned_lora_name`); LoRA League names a published version
`{name}@v{version}` (`agents.serving.types.AdapterRef.lora_name`). `serve_for_areal` loads a
version published on a LoRA League server (`python -m agents.serving`) under AReaL's name too,
with the very request AReaL's client sends to load a LoRA adapter from disk, so AReaL's client
reaches it with `gconfig.lora_name = ref.name` and `engine.set_version(ref.version)`.

AReaL's own trainer loads its adapters the same way (`update_weights_from_disk`); against a LoRA
League server the folder it writes must lie inside the server's adapter store
(`GET /lora_league/info` says where), which the server checks.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from agents.serving.guard import API_KEY_ENV
from agents.serving.types import AdapterRef

if TYPE_CHECKING:
    from agents.serving.client import RemotePolicyServer


def areal_lora_name(ref: AdapterRef) -> str:
    """The engine-side name AReaL's client asks for when it serves `ref`."""
    from areal.api.io_struct import get_versioned_lora_name

    return get_versioned_lora_name(ref.name, ref.version)


def serve_for_areal(server: RemotePolicyServer, ref: AdapterRef, api_key: str | None = None) -> str:
    """Load `ref`, published on `server` (an `agents.serving.client.RemotePolicyServer`), under
    AReaL's versioned name as well; return that name. `api_key` (default `$LORA_LEAGUE_API_KEY`)
    is for this call only: AReaL's client sends none, so the server it uses runs without one."""
    from areal.api.io_struct import WeightUpdateMeta
    from areal.engine.vllm_remote import VLLMBackend

    meta = WeightUpdateMeta(
        type="disk",
        path=str(server.store.get(ref).path),
        use_lora=True,
        lora_name=ref.name,
        version=ref.version,
    )
    for request in VLLMBackend().build_disk_weight_update_requests(meta).requests:
        _post(server.base_url, request.endpoint, request.payload, api_key)
    return areal_lora_name(ref)


def withdraw_from_areal(
    server: RemotePolicyServer, ref: AdapterRef, api_key: str | None = None
) -> None:
    """Unload the AReaL-named copy of `ref` (before the version is retired on `server`)."""
    payload = {"lora_name": areal_lora_name(ref)}
    _post(server.base_url, "/v1/unload_lora_adapter", payload, api_key)


def _post(base_url: str, endpoint: str, payload: dict, api_key: str | None) -> None:
    import httpx

    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.post(f"{base_url}{endpoint}", json=payload, headers=headers, timeout=120)
    if response.status_code >= 400:
        raise RuntimeError(f"HTTP {response.status_code} from {endpoint}: {response.text[:500]}")
