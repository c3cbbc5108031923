"""Each adapter's optimizer: AdamW over its A and B matrices (LoRA+ puts B in a group of its own
with a higher lr) and the clipped step, which a non-finite gradient skips."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from trainers.learn.settings import LearnerConfig

__all__ = ["adapter_optimizer", "clipped_step", "is_lora_b"]


def is_lora_b(key: str) -> bool:
    """Whether a saved-format adapter key names a B (up-projection) matrix."""
    return ".lora_B." in key


def adapter_optimizer(
    params: Mapping[str, torch.nn.Parameter], cfg: LearnerConfig
) -> torch.optim.AdamW:
    """AdamW over an adapter's parameters (by saved-format key), B in a group of its own that
    learns at `lora_plus_ratio` times the lr (LoRA+; the same single lr when the ratio is 1)."""
    ratio = cfg.lora_plus_ratio
    groups = [{"params": list(params.values()), "lr_ratio": 1.0}]
    if ratio != 1.0:  # one group otherwise: checkpoints of plain-LoRA runs load unchanged
        groups = [
            {"params": [p for k, p in params.items() if not is_lora_b(k)], "lr_ratio": 1.0},
            {"params": [p for k, p in params.items() if is_lora_b(k)], "lr_ratio": ratio},
        ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def clipped_step(
    optimizer: torch.optim.Optimizer,
    params: Sequence[torch.nn.Parameter],
    lr: float,
    max_grad_norm: float | None,
) -> float:
    """Clip the gradient of `params` to `max_grad_norm` (None: no clipping) and, if its norm is
    finite, step `optimizer` at `lr` times each group's `lr_ratio`. Returns the norm before
    clipping (not finite: no step was taken)."""
    grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_grad_norm or float("inf")))
    if not math.isfinite(grad_norm):
        return grad_norm
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_ratio", 1.0)
    optimizer.step()
    return grad_norm
