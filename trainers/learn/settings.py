"""How the learner is set up: the shape of every adapter (`LoRASettings`) and how it optimises
(`LearnerConfig`). Both validate in `__post_init__`, so a bad value fails where it is written."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from trainers.learn.algorithms import AGGREGATIONS, KL_ESTIMATORS, LOSSES

__all__ = ["DTYPES", "LearnerConfig", "LoRASettings"]

DTYPES: tuple[str, ...] = ("float32", "bfloat16")



@dataclass(frozen=True)
class LoRASettings:
    """The shape of every adapter the learner trains (one config for all, so all are comparable)."""

    rank: int = 16
    """LoRA rank r (the policy server's `max_lora_rank` must be at least this)."""
    alpha: float = 32
    """LoRA alpha; the update is scaled by alpha / rank."""
    dropout: float = 0.0
    """Dropout on the LoRA input during `update()` (never while scoring)."""
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    """Names of the linear layers that get an adapter."""

    def __post_init__(self) -> None:
        if isinstance(self.target_modules, str):
            raise ValueError("target_modules must be a sequence of module names, not one string")
        object.__setattr__(self, "target_modules", tuple(self.target_modules))
        if self.rank < 1:
            raise ValueError(f"rank must be >= 1, got {self.rank}")
        if not self.alpha > 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if not self.target_modules or not all(
            isinstance(m, str) and m for m in self.target_modules
        ):
            raise ValueError("target_modules must name at least one module, e.g. ('q_proj',)")

    def to_peft(self) -> Any:
        """The peft `LoraConfig` for these settings."""
        from peft import LoraConfig

        return LoraConfig(
            r=self.rank,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=list(self.target_modules),
            bias="none",
            task_type="CAUSAL_LM",
        )


@dataclass(frozen=True)
class LearnerConfig:
    """How the learner optimises: optimizer, loss, KL, precision, device."""

    lr: float = 2e-4
    """AdamW learning rate of every adapter (per adapter: `set_lr`, per step: `lr_scale`)."""
    weight_decay: float = 0.0
    """AdamW decoupled weight decay."""
    lora_plus_ratio: float = 1.0
    """LoRA+ (Hayou et al. 2024): the B matrices learn at lr * ratio, the A matrices at lr. With
    B initialised to 0 and A random, one shared lr leaves B, which the first steps must grow,
    learning too slowly; the paper uses 16. 1: plain LoRA."""
    betas: tuple[float, float] = (0.9, 0.999)
    """AdamW moment decay rates."""
    max_grad_norm: float | None = 1.0
    """Clip each adapter's gradient to this global norm; None: no clipping (norm still logged)."""
    micro_batch_size: int = 8
    """Sequences per forward/backward pass; gradients accumulate over a whole `update()`."""
    loss: str = "ppo_clip"
    """Policy loss by name, from `trainers.learn.algorithms.LOSSES`."""
    aggregation: str = "token_mean"
    """How token losses reduce to a scalar: token_mean or sequence_mean (over the whole batch)."""
    clip_eps: float = 0.2
    """PPO clip range below (and above, unless clip_eps_high is set) a ratio of 1."""
    clip_eps_high: float | None = None
    """Upper clip range (DAPO's clip-higher); None: clip_eps."""
    weight_cap: float | None = None
    """decoupled_ppo only: cap on the behaviour importance weight; None: no cap."""
    kl_coef: float = 0.0
    """Weight of the KL penalty to the base model (adapters off); `update(kl_coef=)` overrides."""
    kl_estimator: str = "k3"
    """KL estimator: k1, k2 or k3 (see `trainers.learn.algorithms.kl_penalty`)."""
    entropy_coef: float = 0.0
    """Weight of an entropy bonus: the mean, over the agent's tokens, of the entropy of the
    distribution each was sampled from (masked to the legal moves on constrained turns, so forced
    tokens add 0 and a move's entropy sits at its branching token; over the whole vocabulary on
    free-text turns). Keeps mixed strategies mixed in games whose equilibria are mixed."""
    track_kl: bool = True
    """Measure the KL to the base even when kl_coef is 0 (one extra no-grad forward pass)."""
    kl_skip_below: float = 1e-3
    """A KL coefficient below this counts as 0 (e.g. 1e-4, where the adaptive controller's
    floor leaves it): the penalty, whose gradient is then ~1e-4 of the policy gradient's, is
    left out, and the reference pass it needs runs only on every `kl_every`-th update, to keep
    the KL logged and the controller informed (NaN on the others). 0: never skip."""
    kl_every: int = 4
    """While the penalty is skipped: measure the KL on every k-th update of an adapter."""
    reference_cache: bool = True
    """Keep the base model's log-prob of every token the KL reference pass scored, by its chat
    context, and score only tokens not seen before (exact: the base model is frozen)."""
    skip_silent: bool = True
    """In an update without a KL or entropy term, leave out the samples whose every token has
    advantage 0 (a decision whose q-target replaced its policy-gradient term, a return equal to
    its baseline): their gradient is exactly 0, so they cost a forward and backward for
    nothing, and under token_mean they would count in the divisor and shrink every other
    token's weight (in the default team battle the targets held 48% of the tokens
    with them, 65% without). False: score them."""
    shared_prefix: bool = True
    """Score each micro-batch's common prefix (the rules text of one seat) once and let the
    chats attend to it (`trainers.learn.prefix`); micro-batches are grouped by shared prefix.
    Same log-probs and gradients as the plain pass, to fp32 rounding. False: the plain pass,
    micro-batches grouped by length."""
    dtype: str = "float32"
    """float32, or bfloat16 autocast of the forward pass (LoRA weights and optimizer stay
    float32)."""
    cast_base: bool = True
    """With dtype bfloat16: store the frozen base's linear weights in bf16 once, instead of
    autocast casting them on every call (the same values; `adapters.store_frozen_linears`).
    Read when the learner is built."""
    temperature: float = 1.0
    """The rollout's sampling temperature: log-probs are of logits / temperature."""
    device: str | None = None
    """torch device; None: cuda if available, else cpu."""

    def __post_init__(self) -> None:
        self._check_optimizer()
        self._check_loss()
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(
                f"temperature must be > 0 (the rollout's sampling temperature; greedy decoding "
                f"has no log-probs to train on), got {self.temperature}"
            )
        if self.device is not None:
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError) as error:
                raise ValueError(f"device {self.device!r} is not a torch device") from error

    def _check_optimizer(self) -> None:
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not (math.isfinite(self.lora_plus_ratio) and self.lora_plus_ratio > 0):
            raise ValueError(f"lora_plus_ratio must be > 0, got {self.lora_plus_ratio}")
        object.__setattr__(self, "betas", tuple(self.betas))
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be > 0 or None, got {self.max_grad_norm}")
        if self.micro_batch_size < 1:
            raise ValueError(f"micro_batch_size must be >= 1, got {self.micro_batch_size}")

    def _check_loss(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(
                f"unknown aggregation {self.aggregation!r}; choose one of {', '.join(AGGREGATIONS)}"
            )
        if not self.clip_eps > 0 or (self.clip_eps_high is not None and not self.clip_eps_high > 0):
            raise ValueError(
                f"clip_eps and clip_eps_high must be > 0, got {self.clip_eps}, {self.clip_eps_high}"
            )
        if self.weight_cap is not None and not self.weight_cap > 0:
            raise ValueError(f"weight_cap must be > 0 or None, got {self.weight_cap}")
        if not (math.isfinite(self.kl_coef) and self.kl_coef >= 0):
            raise ValueError(f"kl_coef must be >= 0, got {self.kl_coef}")
        if not (math.isfinite(self.entropy_coef) and self.entropy_coef >= 0):
            raise ValueError(f"entropy_coef must be >= 0, got {self.entropy_coef}")
        if not (math.isfinite(self.kl_skip_below) and self.kl_skip_below >= 0):
            raise ValueError(f"kl_skip_below must be >= 0, got {self.kl_skip_below}")
        if self.kl_every < 1:
            raise ValueError(f"kl_every must be >= 1, got {self.kl_every}")
        if self.kl_estimator not in KL_ESTIMATORS:
            raise ValueError(
                f"unknown kl_estimator {self.kl_estimator!r}; choose one of "
                f"{', '.join(KL_ESTIMATORS)}"
            )
