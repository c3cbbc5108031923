"""N peft LoRA adapters on one base model: names, seeded creation, and each adapter's parameters
keyed as peft saves them. The learner builds on these; nothing here trains."""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from trainers.learn.settings import LoRASettings

__all__ = [
    "adapter_key",
    "adapter_params",
    "base_model_id",
    "check_adapter_names",
    "check_lora_shape",
    "store_frozen_linears",
    "wrap",
]

# Adapter names become peft module keys, folder names and `AdapterStore` names: keep them plain.
_ADAPTER_NAME = re.compile(r"[A-Za-z0-9_-]+")
# Parameter-name parts under which peft keeps one module per adapter: `lora_A.<adapter>.weight`.
_LORA_PARTS = frozenset({"lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B"})


def check_adapter_names(names: Sequence[str] | str) -> tuple[str, ...]:
    """The names as a tuple; raises unless they are unique, plain and at least one."""
    names = (names,) if isinstance(names, str) else tuple(names)
    if not names:
        raise ValueError("the learner needs at least one adapter name")
    bad = [n for n in names if not isinstance(n, str) or not _ADAPTER_NAME.fullmatch(n)]
    if bad:
        raise ValueError(f"bad adapter names {bad}: use letters, digits, '-' and '_' only")
    if len(set(names)) != len(names):
        raise ValueError(f"adapter names must be unique, got {list(names)}")
    return names


def base_model_id(model_name: str) -> str:
    """What saved adapters name as their base: the Hugging Face id of the embedded default
    model (so `AutoPeftModelForCausalLM` can find it), else the name the learner was given."""
    from agents.models import DEFAULT_ALIASES, DEFAULT_MODEL_HF_ID

    return DEFAULT_MODEL_HF_ID if model_name in DEFAULT_ALIASES else model_name


def wrap(base: Any, names: Sequence[str], lora: LoRASettings, seed: int, model_name: str) -> Any:
    """`base` as a peft model with one adapter per name, each initialised from (seed, name)."""
    from peft import get_peft_model

    peft_model = None
    for name in names:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_adapter_seed(seed, name))
            if peft_model is None:
                peft_model = get_peft_model(base, lora.to_peft(), adapter_name=name)
            else:
                peft_model.add_adapter(name, lora.to_peft())
        peft_model.peft_config[name].base_model_name_or_path = base_model_id(model_name)
    return peft_model


def store_frozen_linears(peft_model: Any, dtype: torch.dtype) -> None:
    """Store the frozen base model's linear weights in `dtype`.

    Under `dtype` autocast every matmul casts its fp32 weight to `dtype` on each call (the same
    rounding as casting it once), so a base stored cast gives the same log-probs and gradients
    without that copy per call, in half the memory. LoRA weights (trained, kept in fp32 for the
    optimizer), the embedding and the output head (often one tied tensor, also read outside the
    matmuls) and the norms stay as they are."""
    head = peft_model.get_output_embeddings()
    skip = {id(head.weight)} if head is not None else set()
    for name, module in peft_model.named_modules():
        if type(module) is not torch.nn.Linear or any(p in name.split(".") for p in _LORA_PARTS):
            continue
        if not module.weight.requires_grad and id(module.weight) not in skip:
            module.weight.data = module.weight.data.to(dtype)


def adapter_params(peft_model: Any, adapter: str) -> dict[str, torch.nn.Parameter]:
    """The adapter's parameters by their saved-format key, in a fixed order."""
    params = {}
    for name, param in peft_model.named_parameters():
        found = adapter_key(name)
        if found is not None and found[0] == adapter:
            params[found[1]] = param
    if not params:
        raise ValueError(f"no LoRA parameters for adapter {adapter!r}: check target_modules")
    return params


def adapter_key(param_name: str) -> tuple[str, str] | None:
    """(adapter, key in peft's saved format) of a LoRA parameter, else None.

    `...q_proj.lora_A.<adapter>.weight` -> (`<adapter>`, `...q_proj.lora_A.weight`): the part after
    the LoRA part is dropped, never a module that happens to share the adapter's name.
    """
    parts = param_name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part in _LORA_PARTS:
            return parts[i + 1], ".".join(parts[: i + 1] + parts[i + 2 :])
    return None


def check_lora_shape(lora: LoRASettings, saved: Any) -> None:
    """A checkpoint's adapter (`saved`: its LoraConfig or adapter_config.json dict) must have
    this learner's rank, alpha and targets: a different alpha would load without error and
    silently rescale every update."""
    from agents.serving.adapters import lora_config_dict

    saved = saved if isinstance(saved, Mapping) else lora_config_dict(saved)
    ours = (lora.lora_rank, float(lora.lora_alpha), sorted(lora.lora_target_modules))
    theirs = (
        saved.get("r"),
        float(saved.get("lora_alpha", 0)),
        sorted(saved.get("target_modules") or []),
    )
    if ours != theirs:
        raise ValueError(
            f"checkpoint adapter has (rank, alpha, targets) {theirs}, this learner {ours}"
        )


def _adapter_seed(seed: int, name: str) -> int:
    """Each adapter's init depends on (seed, name) only, not on which other adapters exist."""
    return zlib.crc32(f"{seed}:{name}".encode())
