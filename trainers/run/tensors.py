"""Tensors on disk as safetensors (no pickle), written atomically.

torch and safetensors are imported inside the functions, so importing this module stays light.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from trainers.run.atomic import PathLike, atomic_path

if TYPE_CHECKING:
    import torch

__all__ = ["load_tensors", "read_tensor_metadata", "save_tensors"]


def save_tensors(
    path: PathLike,
    tensors: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Save a dict of CPU tensors as safetensors, atomically.

    Tensors must be on the CPU (move them first: a device copy here would hide a sync point) and
    must not share memory with each other (safetensors refuses aliases).
    """
    import torch
    from safetensors.torch import save_file

    flat: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name!r} is a {type(tensor).__name__}, not a torch.Tensor")
        if tensor.device.type != "cpu":
            raise ValueError(f"{name!r} is on {tensor.device}; move it to the CPU before saving")
        flat[name] = tensor.detach().contiguous()
    with atomic_path(path) as tmp:
        save_file(flat, os.fspath(tmp), metadata=dict(metadata) if metadata else None)
    return Path(path)


def load_tensors(path: PathLike) -> dict[str, torch.Tensor]:
    """Load a safetensors file onto the CPU."""
    from safetensors.torch import load_file

    return load_file(os.fspath(path), device="cpu")


def read_tensor_metadata(path: PathLike) -> dict[str, str]:
    """The string metadata stored with `save_tensors`, without loading the tensors."""
    from safetensors import safe_open

    with safe_open(os.fspath(path), framework="pt") as f:
        return dict(f.metadata() or {})
