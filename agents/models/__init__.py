"""Model names -> local Hugging Face folders (see `resolve_model`).

| name                                      | resolves to                                          |
|-------------------------------------------|------------------------------------------------------|
| `"default"`, `"SmolLM2-135M-Instruct"`,   | the real repo if the Hugging Face cache holds it,    |
| `"HuggingFaceTB/SmolLM2-135M-Instruct"`   | else the embedded GGUF, converted once (embedded.py) |
| `"tiny"`, `"tiny:<seed>"`                 | a tiny random model built on the spot (tiny.py)      |
| a folder holding `config.json`            | that folder                                          |
| any other string                          | a Hugging Face id: the local cache first, then the   |
|                                           | hub (unless `HF_HUB_OFFLINE`), failing fast offline  |

The aliases win over a local folder of the same name; pass `./default` to mean the folder.

Built and converted models live in `cache.default_cache_dir()` (`$LORA_LEAGUE_CACHE`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from agents.models.cache import default_cache_dir
from agents.models.errors import ModelNotFoundError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "SmolLM2-135M-Instruct"
DEFAULT_MODEL_HF_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
TINY_MODEL = "tiny"
DEFAULT_ALIASES = frozenset({"default", DEFAULT_MODEL, DEFAULT_MODEL_HF_ID})
HUB_TIMEOUT_S = 5.0
"""How long the one reachability probe of the hub may take before we call it unreachable."""
WEIGHT_PATTERNS = ("*.safetensors", "*.bin")
DOWNLOAD_PATTERNS = ("*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.tiktoken")
"""What a snapshot download fetches: config, weights, tokenizer; not ONNX, GGUF or other copies."""
_ALTERNATIVES = (
    "pass a local folder that holds config.json, 'default' for the embedded SmolLM2-135M-Instruct, "
    "or 'tiny' for a tiny test model"
)

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_MODEL_HF_ID",
    "TINY_MODEL",
    "ModelNotFoundError",
    "describe_model",
    "resolve_model",
]


def resolve_model(name: str | os.PathLike[str], cache_dir: Path | None = None) -> Path:
    """Turn a model name (see the module docstring) into a local folder for vLLM and transformers.

    Raises `ModelNotFoundError` (a `ValueError`) with what was tried and what to do instead.
    """
    name = os.fspath(name).strip()
    if not name:
        raise ModelNotFoundError(f"empty model name: {_ALTERNATIVES}")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if name in DEFAULT_ALIASES:
        return _default_model(cache)
    if name == TINY_MODEL or name.startswith(f"{TINY_MODEL}:"):
        from agents.models.tiny import tiny_model_path

        return tiny_model_path(cache, _tiny_seed(name))
    local = Path(name).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise ModelNotFoundError(
                f"folder {local} holds no config.json, so it is not a model folder"
            )
        return local.resolve()
    if _looks_like_path(name):
        raise ModelNotFoundError(
            f"no folder {name!r} (it is not a Hugging Face id either): {_ALTERNATIVES}"
        )
    return hub_snapshot(name)


def _default_model(cache: Path) -> Path:
    cached = _cached_snapshot(DEFAULT_MODEL_HF_ID)
    if cached is not None:
        log.info("model %s: the Hugging Face cache copy %s", DEFAULT_MODEL, cached)
        return cached
    from agents.models.embedded import embedded_model_path

    path = embedded_model_path(cache)
    log.info("model %s: the embedded conversion %s", DEFAULT_MODEL, path)
    return path


def _tiny_seed(name: str) -> int:
    _, _, seed = name.partition(":")
    if not seed:
        return 0
    if not seed.isdigit():
        raise ModelNotFoundError(
            f"{name!r}: the tiny model's seed must be an integer >= 0, as in 'tiny:3'"
        )
    return int(seed)


def _looks_like_path(name: str) -> bool:
    """True for names that can only be a path, not a Hugging Face id (`org/name` may be either)."""
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        return True
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return True
    return False


def hub_offline() -> bool:
    """Whether the hub must not be contacted (`HF_HUB_OFFLINE` / `TRANSFORMERS_OFFLINE`), read now
    rather than when huggingface_hub was imported."""
    from huggingface_hub import constants

    flags = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    return bool(constants.HF_HUB_OFFLINE) or any(
        (flag or "").strip().upper() in {"1", "ON", "YES", "TRUE"} for flag in flags
    )


def hub_snapshot(repo_id: str) -> Path:
    """A Hugging Face repo as a local folder: the cached snapshot, else a download.

    The hub is contacted only when the cache lacks the repo and `HF_HUB_OFFLINE` is unset, and first
    with one probe bounded by `HUB_TIMEOUT_S` (huggingface_hub itself sets no timeout on it).
    """
    cached = _cached_snapshot(repo_id)
    if cached is not None:
        return cached
    tried = f"looked for {repo_id!r} as a local folder and in the Hugging Face cache"
    if hub_offline():
        raise ModelNotFoundError(
            f"model {repo_id!r} not found: {tried}, and HF_HUB_OFFLINE forbids downloading it. "
            f"Unset HF_HUB_OFFLINE on a machine that can reach the hub, or {_ALTERNATIVES}"
        )
    info = _probe_hub(repo_id, tried)
    from huggingface_hub import snapshot_download

    files = {sibling.rfilename for sibling in info.siblings or []}
    patterns = list(DOWNLOAD_PATTERNS)
    if not any(f.endswith(".safetensors") for f in files):
        patterns.append("*.bin")
    log.info("downloading %s (revision %s) from the Hugging Face hub", repo_id, info.sha)
    folder = Path(snapshot_download(repo_id, revision=info.sha, allow_patterns=patterns))
    return _check_model_folder(folder, repo_id)


def _cached_snapshot(repo_id: str) -> Path | None:
    """The Hugging Face cache's snapshot of `repo_id` if it holds a config and weights."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, FileNotFoundError):
        return None
    if not (folder / "config.json").is_file() or not _has_weights(folder):
        log.info(
            "the Hugging Face cache holds an incomplete %s (%s); not using it", repo_id, folder
        )
        return None
    return folder


def _probe_hub(repo_id: str, tried: str) -> Any:
    """`model_info(repo_id)`, in a daemon thread so that even a hung DNS lookup cannot block us."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    outcome: dict[str, Any] = {}

    def probe() -> None:
        try:
            outcome["info"] = HfApi().model_info(repo_id, timeout=HUB_TIMEOUT_S)
        except Exception as error:  # handed to the caller's thread below
            outcome["error"] = error

    thread = threading.Thread(target=probe, name="hub-probe", daemon=True)
    thread.start()
    wait_s = HUB_TIMEOUT_S + 1.0  # the client's own timeouts do not cover DNS or its first set-up
    thread.join(wait_s)
    error = outcome.get("error")
    if "info" in outcome:
        return outcome["info"]
    if isinstance(error, GatedRepoError):
        raise ModelNotFoundError(
            f"model {repo_id!r} is gated on the Hugging Face hub: accept its licence there, log in "
            f"(`hf auth login` or HF_TOKEN), or {_ALTERNATIVES}"
        ) from error
    if isinstance(error, RepositoryNotFoundError):
        raise ModelNotFoundError(
            f"model {repo_id!r} not found: {tried}; the hub has no such public repo (check the "
            f"spelling; private repos need HF_TOKEN). Else {_ALTERNATIVES}"
        ) from error
    why = (
        f"{type(error).__name__}: {error}" if error is not None else f"no answer in {wait_s:.1f} s"
    )
    raise ModelNotFoundError(
        f"model {repo_id!r} not found: {tried}, and the Hugging Face hub is unreachable ({why}). "
        f"Download it on a connected machine (`hf download {repo_id}`) or {_ALTERNATIVES}"
    ) from error


def _has_weights(folder: Path) -> bool:
    return any(next(folder.glob(pattern), None) is not None for pattern in WEIGHT_PATTERNS)


def _check_model_folder(folder: Path, repo_id: str) -> Path:
    if not (folder / "config.json").is_file() or not _has_weights(folder):
        raise ModelNotFoundError(
            f"{repo_id!r} downloaded to {folder}, but it holds no config.json with safetensors or "
            f".bin weights: it is not a transformers model repo. {_ALTERNATIVES}"
        )
    return folder


def describe_model(path: Path) -> dict[str, Any]:
    """Facts from a model folder's config.json: architecture, an estimate of the parameter count
    (decoder-only transformer, biases ignored) and the dtype of its weights."""
    config = json.loads((Path(path) / "config.json").read_text())
    text = config.get("text_config") or config
    hidden = text.get("hidden_size") or text.get("n_embd") or text.get("d_model")
    layers = text.get("num_hidden_layers") or text.get("n_layer")
    vocab = text.get("vocab_size")
    heads = text.get("num_attention_heads") or text.get("n_head")
    facts: dict[str, Any] = {
        "path": str(path),
        "architecture": (config.get("architectures") or [None])[0],
        "model_type": config.get("model_type"),
        "dtype": config.get("dtype") or config.get("torch_dtype") or text.get("dtype"),
        "vocab_size": vocab,
        "hidden_size": hidden,
        "num_layers": layers,
        "tie_word_embeddings": config.get("tie_word_embeddings", True),
        "params": None,
        "kv_bytes_per_token": None,
    }
    if hidden and layers and vocab and heads:
        head_dim = text.get("head_dim") or hidden // heads
        kv_heads = text.get("num_key_value_heads") or heads
        attention = 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim
        if text.get("intermediate_size"):  # gated MLP (Llama, Qwen, Mistral): gate, up, down
            mlp = 3 * hidden * text["intermediate_size"]
        else:  # GPT-2 style: up and down, 4x wide unless n_inner says otherwise
            mlp = 2 * hidden * (text.get("n_inner") or 4 * hidden)
        embeddings = vocab * hidden * (1 if facts["tie_word_embeddings"] else 2)
        facts["params"] = embeddings + layers * (attention + mlp + 2 * hidden) + hidden
        # A key and a value per layer and KV head, at fp32's 4 bytes: an upper bound whatever
        # the engine's dtype.
        facts["kv_bytes_per_token"] = 2 * layers * kv_heads * head_dim * 4
    return facts
