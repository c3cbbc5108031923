"""The learner's checkpoint folder: its `state_dict()` on disk, nothing pickled.

        folder/learner.json                       settings, adapter names, steps, learning rates
        folder/adapters/<name>/                   adapter_model.safetensors, adapter_config.json
        folder/optimizer/<name>.safetensors       AdamW moments, keyed like the adapter weights
        folder/optimizer/<name>.json              hyperparameters and the parameter order

`write_learner_state(state, folder)` writes what `Learner.state_dict()` returns;
`read_learner_state` reads it back into the same shape, for `Learner.load_state_dict()`.
Adapters are peft folders (safetensors + json), so a checkpoint can be handed to anyone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "ADAPTERS_DIR",
    "FORMAT_VERSION",
    "OPTIMIZER_DIR",
    "STATE_FILE",
    "read_learner_state",
    "write_learner_state",
]

STATE_FILE = "learner.json"
ADAPTERS_DIR = "adapters"
OPTIMIZER_DIR = "optimizer"
FORMAT_VERSION = 1
#: The key of a learner state dict that holds the tensors (per adapter: weights, adapter config,
#: optimizer state, parameter order); everything else is json and goes to `STATE_FILE`.
ADAPTER_STATE = "adapter_state"


def write_learner_state(state: Mapping[str, Any], folder: str | os.PathLike[str]) -> Path:
    """Write a learner state dict to `folder` (replaced if it exists), atomically: everything
    goes to a temporary sibling first, renamed into place when complete."""
    from agents.serving.adapters import write_adapter
    from trainers.run.io import atomic_directory

    folder = Path(folder)
    meta = {k: v for k, v in state.items() if k != ADAPTER_STATE}
    with atomic_directory(folder, overwrite=True) as tmp:
        for name, part in state[ADAPTER_STATE].items():
            write_adapter(tmp / ADAPTERS_DIR / name, part["weights"], part["adapter_config"])
            _write_optimizer(tmp / OPTIMIZER_DIR, name, part["optimizer"], part["params"])
        (tmp / STATE_FILE).write_text(json.dumps(meta, indent=2))
    return folder


def read_learner_state(
    folder: str | os.PathLike[str], adapters: Sequence[str] | None = None
) -> dict[str, Any]:
    """The state dict `write_learner_state` wrote to `folder`, with the tensors of `adapters`
    only (default: all it holds)."""
    from safetensors.torch import load_file

    from agents.serving.adapters import ADAPTER_CONFIG, ADAPTER_WEIGHTS

    folder = Path(folder)
    state_file = folder / STATE_FILE
    if not state_file.is_file():
        raise FileNotFoundError(f"{folder} is not a learner checkpoint (no {STATE_FILE})")
    state = json.loads(state_file.read_text())
    if state.get("format") != FORMAT_VERSION:
        raise ValueError(f"checkpoint format {state.get('format')} != {FORMAT_VERSION}")
    names = state["adapters"] if adapters is None else list(adapters)
    for name in names:
        if name not in state["adapters"]:
            raise ValueError(f"checkpoint {folder} holds no adapter {name!r}")
    parts = {}
    for name in names:
        adapter = folder / ADAPTERS_DIR / name
        tensors = load_file(str(folder / OPTIMIZER_DIR / f"{name}.safetensors"))
        meta = json.loads((folder / OPTIMIZER_DIR / f"{name}.json").read_text())
        parts[name] = {
            "weights": load_file(str(adapter / ADAPTER_WEIGHTS)),
            "adapter_config": json.loads((adapter / ADAPTER_CONFIG).read_text()),
            "optimizer": _optimizer_from_flat(tensors, meta),
            "params": list(meta["params"]),
        }
    state[ADAPTER_STATE] = parts
    return state


def _write_optimizer(
    folder: Path, name: str, optimizer_state: Mapping[str, Any], keys: list[str]
) -> None:
    from safetensors.torch import save_file

    tensors, meta = _optimizer_to_flat(optimizer_state, keys)
    folder.mkdir(exist_ok=True)
    save_file(tensors, str(folder / f"{name}.safetensors"))
    (folder / f"{name}.json").write_text(json.dumps(meta, indent=2))


def _optimizer_to_flat(
    state: Mapping[str, Any], keys: list[str]
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer's state dict as named tensors (`<weight key>:<field>`) plus json metadata, so
    that no pickle is needed. `keys` name the optimizer's parameters in order."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, fields in state["state"].items():
        for name, value in fields.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{keys[index]}:{name}"] = value.detach().to("cpu").contiguous()
            else:
                scalars.setdefault(keys[index], {})[name] = value
    return tensors, {"params": keys, "param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_from_flat(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> dict:
    """The inverse of `_optimizer_to_flat`: a dict for `optimizer.load_state_dict`."""
    index = {key: i for i, key in enumerate(meta["params"])}
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        key, _, field_name = name.rpartition(":")
        state.setdefault(index[key], {})[field_name] = value
    for key, fields in meta.get("scalars", {}).items():
        state.setdefault(index[key], {}).update(fields)
    groups = [dict(g) for g in meta["param_groups"]]
    for group in groups:
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
    return {"state": state, "param_groups": groups}
