"""Policy serving: one engine, many LoRA adapters (and versions of them) in every batch.

>>> from agents.serving import make_policy_server
>>> server = make_policy_server("vllm", model="tiny")        # or "hf", or model="default"
>>> ref = server.publish("red", peft_state_dict, lora_config)  # -> AdapterRef("red", 1)
>>> server.generate([GenerationRequest(prompt_ids, adapter=ref)])

Heavy imports (torch, vllm, transformers) happen inside the backends.
"""

from __future__ import annotations

from typing import Any

from agents.serving.adapters import AdapterError, AdapterStore
from agents.serving.base import PolicyServer, RequestError
from agents.serving.types import AdapterRef, GenerationRequest, GenerationResult, SamplingSettings

#: Backends that run a model in this process (what a trainer can train against).
LOCAL_BACKENDS = ("vllm", "hf")
BACKENDS = (*LOCAL_BACKENDS, "remote")


def make_policy_server(backend: str = "vllm", **kwargs: Any) -> PolicyServer:
    """Build a policy server: `vllm` (in-process engine), `hf` (transformers + peft) or `remote`
    (a client of `python -m agents.serving`, `base_url=...`)."""
    if backend == "vllm":
        from agents.serving.vllm_backend import VLLMPolicyServer

        return VLLMPolicyServer(**kwargs)
    if backend == "hf":
        from agents.serving.hf_backend import HFPolicyServer

        return HFPolicyServer(**kwargs)
    if backend == "remote":
        from agents.serving.client import RemotePolicyServer

        return RemotePolicyServer(**kwargs)
    raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


__all__ = [
    "BACKENDS",
    "LOCAL_BACKENDS",
    "AdapterError",
    "AdapterRef",
    "AdapterStore",
    "GenerationRequest",
    "GenerationResult",
    "PolicyServer",
    "RequestError",
    "SamplingSettings",
    "make_policy_server",
]
