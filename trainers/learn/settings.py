"""How the learner is set up: the shape of every adapter (`LoRASettings`) and how it optimises
(`LearnerConfig`). Both validate in `__post_init__`, so a bad value fails where it is written.

The fields a run sets are written once, here, in two bases: `LoRAOptions` and `LearnerOptions`.
The run's config group (`trainers.config.LearnConfig`) inherits them, so a field has one name,
one default and one docstring, whether the learner is built by a run or by hand. Choice fields
are `Literal`s (tyro lists and checks them); their unit test keeps them equal to the registries
in `trainers.learn.algorithms`. This module imports no torch, so the command line stays light.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

__all__ = [
    "DTYPES",
    "AggregationName",
    "KlEstimatorName",
    "LearnerConfig",
    "LearnerDtype",
    "LearnerOptions",
    "LoRAOptions",
    "LoRASettings",
    "LossName",
    "check_choice",
]

LossName = Literal["reinforce", "ppo_clip", "decoupled_ppo"]
AggregationName = Literal["token_mean", "sequence_mean"]
KlEstimatorName = Literal["k1", "k2", "k3"]
LearnerDtype = Literal["float32", "bfloat16"]
DTYPES: tuple[str, ...] = get_args(LearnerDtype)


def check_choice(name: str, value: object, choices: Any) -> None:
    """Raise ValueError unless `value` is one of the `Literal` `choices` (Python callers and
    loaded configs reach past tyro's own check)."""
    allowed = get_args(choices)
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")


@dataclass(frozen=True)
class LoRAOptions:
    """The shape of every adapter (one for all, so all are comparable)."""

    lora_rank: int = 16
    """LoRA rank r of every adapter (the policy server's `max_lora_rank` must be at least this)."""
    lora_alpha: int = 32
    """LoRA alpha; the update is scaled by alpha / rank."""
    lora_dropout: float = 0.0
    """Dropout on the LoRA input during updates (never while scoring)."""
    lora_target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    """Names of the linear layers that get an adapter."""


@dataclass(frozen=True)
class LoRASettings(LoRAOptions):
    """`LoRAOptions`, checked, and their peft config."""

    def __post_init__(self) -> None:
        if isinstance(self.lora_target_modules, str):
            raise ValueError(
                "lora_target_modules must be a sequence of module names, not one string"
            )
        object.__setattr__(self, "lora_target_modules", tuple(self.lora_target_modules))
        if self.lora_rank < 1:
            raise ValueError(f"lora_rank must be >= 1, got {self.lora_rank}")
        if not self.lora_alpha > 0:
            raise ValueError(f"lora_alpha must be > 0, got {self.lora_alpha}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must lie in [0, 1), got {self.lora_dropout}")
        if not self.lora_target_modules or not all(
            isinstance(m, str) and m for m in self.lora_target_modules
        ):
            raise ValueError("lora_target_modules must name at least one module, e.g. ('q_proj',)")

    def to_peft(self) -> Any:
        """The peft `LoraConfig` for these settings."""
        from peft import LoraConfig

        return LoraConfig(
            r=self.lora_rank,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=list(self.lora_target_modules),
            bias="none",
            task_type="CAUSAL_LM",
        )


@dataclass(frozen=True)
class LearnerOptions:
    """How the adapters optimise: optimizer, loss, KL, precision."""

    lr: float = 2e-4
    """AdamW learning rate of every adapter (scaled per adapter by the adaptive controller)."""
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
    """Sequences per learner forward/backward pass (gradients accumulate over the batch)."""
    loss: LossName = "ppo_clip"
    """Policy loss (`trainers.learn.algorithms.LOSSES`)."""
    aggregation: AggregationName = "token_mean"
    """How token losses reduce to a scalar (over the whole batch)."""
    clip_eps: float = 0.2
    """PPO clip range below (and above, unless clip_eps_high is set) a ratio of 1."""
    clip_eps_high: float | None = None
    """Upper clip range (DAPO's clip-higher); None: clip_eps."""
    weight_cap: float | None = None
    """decoupled_ppo only: cap on the behaviour importance weight; None: no cap."""
    kl_coef: float = 0.02
    """Initial weight of the KL penalty to the base model (adapters off); adapted per adapter
    when `adaptive` is on."""
    kl_estimator: KlEstimatorName = "k3"
    """KL estimator (see `trainers.learn.algorithms.kl_penalty`)."""
    entropy_coef: float = 0.0
    """Weight of an entropy bonus: the mean, over the agent's tokens, of the entropy of the
    distribution each was sampled from (masked to the legal moves on constrained turns, so forced
    tokens add 0 and a move's entropy sits at its branching token; over the whole vocabulary on
    free-text turns, i.e. over invalid moves). Keeps mixed strategies mixed (Kuhn poker's
    equilibrium bluffs and calls at fixed odds)."""
    track_kl: bool = True
    """Measure the KL to the base even when kl_coef is 0 (one extra no-grad forward pass)."""
    kl_skip_below: float = 1e-3
    """A KL coefficient below this counts as 0 (e.g. 1e-4, where the adaptive controller's
    floor leaves it): the penalty, whose gradient is then ~1e-4 of the policy gradient's, is
    left out, and the reference pass it needs runs only on every `kl_every`-th update, to keep
    the KL logged and the controller informed. 0: never skip."""
    kl_every: int = 4
    """While the KL penalty is skipped: measure the KL on every k-th update of an adapter."""
    reference_cache: bool = True
    """Reuse the base model's log-probs of tokens the KL reference pass already scored in the
    same chat context (exact: the base model is frozen; Kuhn poker's decisions repeat)."""
    skip_silent: bool = True
    """In an update without a KL or entropy term, leave out the samples whose every token has
    advantage 0 (a decision whose q-target replaced its policy-gradient term, a return equal to
    its baseline): their gradient is exactly 0, and under token_mean they would count in the
    divisor and shrink every other token's weight. False: score them."""
    shared_prefix: bool = True
    """Score each micro-batch's common prefix (the rules text of one seat) once and let the
    chats attend to it (`trainers.learn.prefix`); micro-batches are grouped by shared prefix.
    Same log-probs and gradients as the plain pass, to fp32 rounding. False: the plain pass."""
    learner_dtype: LearnerDtype = "bfloat16"
    """Learner compute dtype: bfloat16 autocast of the forward pass (faster on a CPU with
    AVX512-bf16 or a GPU; LoRA weights and optimizer stay float32) or float32 (exact)."""


@dataclass(frozen=True)
class LearnerConfig(LearnerOptions):
    """`LearnerOptions`, checked, and what the learner takes from the rest of the run."""

    cast_base: bool = True
    """With learner_dtype bfloat16: store the frozen base's linear weights in bf16 once, instead
    of autocast casting them on every call (the same values; `adapters.store_frozen_linears`).
    Read when the learner is built."""
    temperature: float = 1.0
    """The rollout's sampling temperature: log-probs are of logits / temperature."""
    device: str | None = None
    """torch device; None: cuda if available, else cpu."""

    def __post_init__(self) -> None:
        self._check_optimizer()
        self._check_loss()
        check_choice("learner_dtype", self.learner_dtype, LearnerDtype)
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(
                f"temperature must be > 0 (the rollout's sampling temperature; greedy decoding "
                f"has no log-probs to train on), got {self.temperature}"
            )
        if self.device is not None:
            import torch

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
        check_choice("loss", self.loss, LossName)
        check_choice("aggregation", self.aggregation, AggregationName)
        check_choice("kl_estimator", self.kl_estimator, KlEstimatorName)
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
