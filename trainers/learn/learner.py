"""The learner: ONE transformers base model, N peft LoRA adapters on it, one AdamW per adapter.

    learner = Learner("default", ["red", "blue"], LoRASettings(), LearnerConfig(), seed=0)
    stats = learner.update("red", samples_from_trajectories(trajs, advantages))
    server.publish("red", *learner.adapter_weights("red"))     # the new version is served

- Scoring. A sample is one agent's whole episode as one growing chat (`trainers.episode`). The
  transformer body runs once over it; the vocabulary projection (`lm_head`, 49k rows for SmolLM2)
  runs only at the positions that predict the agent's own tokens, since projecting every prompt
  position is most of the cost on a CPU and is thrown away. Each log-prob is taken under the
  distribution the server sampled from: logits / temperature, masked to the legal-move tokens on
  constrained turns (`agents.serving.choices.ChoiceMask`), log-softmax, as `process_logits` does.
- Training. `update()` is one optimizer step of the configured loss (`algorithms.LOSSES`)
  over every sample, with gradient accumulation over padded micro-batches, an optional KL penalty
  to the base model and gradient clipping. The KL reference is the same base with the adapters
  switched off (`disable_adapter()`): there is no second model in memory.
- Checkpoints. `save(folder)` / `load(folder)` write adapters as peft folders (safetensors + json)
  and optimizer states as safetensors + json; nothing is pickled, so a checkpoint can be handed
  to anyone.

        folder/learner.json                       settings, adapter names, steps, learning rates
        folder/adapters/<name>/                   adapter_model.safetensors, adapter_config.json
        folder/optimizer/<name>.safetensors       AdamW moments, keyed like the adapter weights
        folder/optimizer/<name>.json              hyperparameters and the parameter order

Only the LoRA weights are trained and only in float32 (bf16 is autocast for the forward pass), so
optimizer states and checkpoints never lose precision.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import re
import time
import zlib
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from trainers.episode import Trajectory, TurnTokens
from trainers.learn.algorithms import (
    AGGREGATIONS,
    KL_ESTIMATORS,
    LOSSES,
    aggregate,
    approx_kl,
    kl_penalty,
    policy_loss,
)

log = logging.getLogger(__name__)

__all__ = [
    "DTYPES",
    "Learner",
    "LearnerConfig",
    "LoRASettings",
    "TrainSample",
    "samples_from_trajectories",
]

DTYPES: tuple[str, ...] = ("float32", "bfloat16")
Projection = Literal["own", "full"]
STATE_FILE = "learner.json"
ADAPTERS_DIR = "adapters"
OPTIMIZER_DIR = "optimizer"
FORMAT_VERSION = 1
# Adapter names become peft module keys, folder names and `AdapterStore` names: keep them plain.
_ADAPTER_NAME = re.compile(r"[A-Za-z0-9_-]+")
# Parameter-name parts under which peft keeps one module per adapter: `lora_A.<adapter>.weight`.
_LORA_PARTS = frozenset({"lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B"})
_ALLOWED_CACHE_SIZE = 4096


# ---------------------------------------------------------------------------------- settings


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
    dtype: str = "float32"
    """float32, or bfloat16 autocast of the forward pass (weights and optimizer stay float32)."""
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
        if self.kl_estimator not in KL_ESTIMATORS:
            raise ValueError(
                f"unknown kl_estimator {self.kl_estimator!r}; choose one of "
                f"{', '.join(KL_ESTIMATORS)}"
            )


# ---------------------------------------------------------------------------------- samples


@dataclass(frozen=True)
class TrainSample:
    """One sequence to train on: its tokens, the agent's own completions in it, its advantage."""

    token_ids: tuple[int, ...]
    turns: tuple[TurnTokens, ...]
    #: Advantage of every completion token of this sequence (a number), or of each turn's tokens
    #: (one number per turn: per-decision baselines).
    advantage: float | tuple[float, ...]
    #: Completion positions (indices into token_ids), in order; derived from `turns`.
    positions: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "token_ids", tuple(int(t) for t in self.token_ids))
        object.__setattr__(self, "turns", tuple(self.turns))
        if isinstance(self.advantage, Sequence):
            object.__setattr__(self, "advantage", tuple(float(a) for a in self.advantage))
            if len(self.advantage) != len(self.turns):
                raise ValueError(
                    f"{len(self.advantage)} per-turn advantages for {len(self.turns)} turns"
                )
        else:
            object.__setattr__(self, "advantage", float(self.advantage))
        values = self.advantage if isinstance(self.advantage, tuple) else (self.advantage,)
        if not all(map(math.isfinite, values)):
            raise ValueError(f"advantage must be finite, got {self.advantage}")
        positions: list[int] = []
        for turn in self.turns:
            self._check_turn(turn, positions[-1] if positions else 0)
            positions.extend(range(turn.start, turn.start + len(turn.ids)))
        object.__setattr__(self, "positions", tuple(positions))

    def _check_turn(self, turn: TurnTokens, last: int) -> None:
        end = turn.start + len(turn.ids)
        if turn.start < 1 or (turn.ids and turn.start <= last) or end > len(self.token_ids):
            raise ValueError(
                f"turn at {turn.start} (+{len(turn.ids)}) must start after position 0 and after "
                f"the previous turn, and end inside the {len(self.token_ids)} tokens"
            )
        if tuple(self.token_ids[turn.start : end]) != tuple(turn.ids):
            raise ValueError(f"turn at {turn.start}: its ids differ from token_ids there")
        if len(turn.logprobs) != len(turn.ids):
            raise ValueError(
                f"turn at {turn.start}: {len(turn.logprobs)} log-probs for {len(turn.ids)} tokens"
            )

    @property
    def completion_ids(self) -> tuple[int, ...]:
        return tuple(t for turn in self.turns for t in turn.ids)

    def _turn_advantages(self) -> tuple[float, ...]:
        if isinstance(self.advantage, tuple):
            return self.advantage
        return (self.advantage,) * len(self.turns)

    @property
    def token_advantages(self) -> tuple[float, ...]:
        """The advantage of each completion token, in order."""
        return tuple(
            a for turn, a in zip(self.turns, self._turn_advantages(), strict=True) for _ in turn.ids
        )

    @property
    def behaviour_logprobs(self) -> tuple[float, ...]:
        """The server's log-probs of the completion tokens (the policy that sampled them)."""
        return tuple(float(x) for turn in self.turns for x in turn.logprobs)


def samples_from_trajectories(
    trajectories: Sequence[Trajectory], advantages: Sequence[float | Sequence[float]]
) -> list[TrainSample]:
    """One `TrainSample` per trajectory with its advantage (a number, or one per turn);
    trajectories without a completion token (scripted seats, forfeits before a move) carry
    nothing to train on and are dropped."""
    if len(trajectories) != len(advantages):
        raise ValueError(f"{len(trajectories)} trajectories but {len(advantages)} advantages")
    return [
        TrainSample(tuple(t.token_ids), tuple(t.turns), a)
        for t, a in zip(trajectories, advantages, strict=True)
        if t.completion_tokens > 0
    ]


# ---------------------------------------------------------------------------------- batches


@dataclass
class _Batch:
    """A right-padded micro-batch with the flat list of positions to score."""

    input_ids: torch.Tensor  # [B, T]
    attention_mask: torch.Tensor  # [B, T]
    rows: torch.Tensor  # [N] flat index b * T + p - 1 of the hidden state that predicts token p
    targets: torch.Tensor  # [N] the token at p
    allowed: torch.Tensor | None  # [N, V] bool legal-move mask, None when no turn is constrained
    counts: list[int]  # completion tokens per sample (N = sum)
    behaviour: torch.Tensor  # [N] the server's log-probs
    advantages: torch.Tensor  # [N] the advantage of each completion token
    sequence_tokens: int  # real (non-pad) tokens the model reads


def _pad_flat(flat: torch.Tensor, counts: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """[N] values split by `counts` -> padded [B, max(counts)] values and their mask."""
    width = max(max(counts, default=0), 1)
    out = flat.new_zeros((len(counts), width))
    mask = torch.zeros((len(counts), width), dtype=torch.bool, device=flat.device)
    for b, part in enumerate(torch.split(flat, list(counts))):
        out[b, : len(part)] = part
        mask[b, : len(part)] = True
    return out, mask


def _micro_batches(samples: Sequence[TrainSample], size: int) -> list[list[int]]:
    """Indices of the samples with completion tokens, in micro-batches of similar length (less
    padding); samples without any have nothing to score and are left out."""
    order = sorted(
        (i for i, s in enumerate(samples) if s.positions), key=lambda i: -_input_len(samples[i])
    )
    return [order[i : i + size] for i in range(0, len(order), size)]


def _input_len(sample: TrainSample) -> int:
    """Tokens the model must read: up to, not including, the last completion token (that one is
    only a target; whatever follows it cannot change an earlier token's log-prob)."""
    return sample.positions[-1]


def _adapter_key(param_name: str) -> tuple[str, str] | None:
    """(adapter, key in peft's saved format) of a LoRA parameter, else None.

    `...q_proj.lora_A.<adapter>.weight` -> (`<adapter>`, `...q_proj.lora_A.weight`): the part after
    the LoRA part is dropped, never a module that happens to share the adapter's name.
    """
    parts = param_name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part in _LORA_PARTS:
            return parts[i + 1], ".".join(parts[: i + 1] + parts[i + 2 :])
    return None


def _adapter_seed(seed: int, name: str) -> int:
    """Each adapter's init depends on (seed, name) only, not on which other adapters exist."""
    return zlib.crc32(f"{seed}:{name}".encode())


# ---------------------------------------------------------------------------------- learner


class Learner:
    """Trains N LoRA adapters on one shared base model (see the module docstring)."""

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        adapter_names: Sequence[str],
        lora: LoRASettings | None = None,
        config: LearnerConfig | None = None,
        seed: int = 0,
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from agents.models import resolve_model

        self.adapter_names = self._check_names(adapter_names)
        self.lora = lora or LoRASettings()
        self.config = config or LearnerConfig()
        self.seed = int(seed)
        self.model_name = os.fspath(model_path)
        self.device = torch.device(
            self.config.device or ("cuda" if torch.cuda.is_available() else "cpu")
        )
        self._check_dtype()
        path = resolve_model(self.model_name)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        base = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        self._check_plain_head(base.config)
        # Adapters are created on the CPU so that their random init does not depend on the device.
        self.peft = self._wrap(base)
        self.peft.to(self.device).eval()
        self._causal_lm = self.peft.get_base_model()
        self._body = self._causal_lm.get_decoder()
        self._head = self._causal_lm.get_output_embeddings()
        self.vocab_size = int(self._head.weight.shape[0])
        self._params = {name: self._named_params(name) for name in self.adapter_names}
        self._optimizers = {name: self._new_optimizer(name) for name in self.adapter_names}
        self._lr = dict.fromkeys(self.adapter_names, self.config.lr)
        self._steps = dict.fromkeys(self.adapter_names, 0)
        self._allowed_cache: dict[tuple[tuple[str, ...], tuple[int, ...]], tuple[int, ...]] = {}
        log.info(
            "learner on %s: %s adapters %s (r=%d), %s on %s",
            path.name,
            len(self.adapter_names),
            ", ".join(self.adapter_names),
            self.lora.rank,
            self.config.dtype,
            self.device,
        )

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _check_names(names: Sequence[str]) -> tuple[str, ...]:
        names = (names,) if isinstance(names, str) else tuple(names)
        if not names:
            raise ValueError("the learner needs at least one adapter name")
        bad = [n for n in names if not isinstance(n, str) or not _ADAPTER_NAME.fullmatch(n)]
        if bad:
            raise ValueError(f"bad adapter names {bad}: use letters, digits, '-' and '_' only")
        if len(set(names)) != len(names):
            raise ValueError(f"adapter names must be unique, got {list(names)}")
        return names

    def _check_dtype(self) -> None:
        if self.config.dtype != "bfloat16":
            return
        kind = self.device.type
        supported = kind == "cpu" or (kind == "cuda" and torch.cuda.is_bf16_supported())
        if not supported or not torch.amp.is_autocast_available(kind):
            raise ValueError(f"bfloat16 autocast is not supported on {self.device}; use float32")

    @staticmethod
    def _check_plain_head(model_config: Any) -> None:
        # Scoring applies the output embedding to hidden states itself; a model that transforms
        # its logits further (Gemma 2's soft-capping, Cohere's logit scale) would be mis-scored.
        softcap = getattr(model_config, "final_logit_softcapping", None)
        scale = getattr(model_config, "logit_scale", None)
        if softcap or (scale is not None and scale != 1):
            raise ValueError(
                f"{type(model_config).__name__} post-processes its logits (soft-capping or a "
                "logit scale), which the learner's own-positions projection does not reproduce"
            )

    def _wrap(self, base: Any) -> Any:
        from peft import get_peft_model

        peft_model = None
        for name in self.adapter_names:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(_adapter_seed(self.seed, name))
                if peft_model is None:
                    peft_model = get_peft_model(base, self.lora.to_peft(), adapter_name=name)
                else:
                    peft_model.add_adapter(name, self.lora.to_peft())
            peft_model.peft_config[name].base_model_name_or_path = self._base_model_id()
        return peft_model

    def _base_model_id(self) -> str:
        """What saved adapters name as their base: the Hugging Face id of the embedded default
        model (so `AutoPeftModelForCausalLM` can find it), else the name the learner was given."""
        from agents.models import DEFAULT_ALIASES, DEFAULT_MODEL_HF_ID

        return DEFAULT_MODEL_HF_ID if self.model_name in DEFAULT_ALIASES else self.model_name

    def _named_params(self, adapter: str) -> dict[str, torch.nn.Parameter]:
        """The adapter's parameters by their saved-format key, in a fixed order."""
        params = {}
        for name, param in self.peft.named_parameters():
            found = _adapter_key(name)
            if found is not None and found[0] == adapter:
                params[found[1]] = param
        if not params:
            raise ValueError(f"no LoRA parameters for adapter {adapter!r}: check target_modules")
        return params

    def _new_optimizer(self, adapter: str) -> torch.optim.AdamW:
        return torch.optim.AdamW(
            list(self._params[adapter].values()),
            lr=self.config.lr,
            betas=self.config.betas,
            weight_decay=self.config.weight_decay,
        )

    # ------------------------------------------------------------------ adapters and lr
    def _check_adapter(self, adapter: str | None, allow_base: bool = False) -> None:
        if adapter is None and allow_base:
            return
        if adapter not in self._optimizers:
            raise ValueError(
                f"unknown adapter {adapter!r}; this learner trains {', '.join(self.adapter_names)}"
            )

    def _use(self, adapter: str | None) -> AbstractContextManager[Any]:
        """Make `adapter` the one the model runs (None: the base model, adapters switched off)."""
        if adapter is None:
            return self.peft.disable_adapter()
        if self.peft.active_adapter != adapter:  # set_adapter walks every module: only on a change
            self.peft.set_adapter(adapter)
        return nullcontext()

    def _autocast(self) -> AbstractContextManager[Any]:
        if self.config.dtype == "bfloat16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def parameters(self, adapter: str) -> list[torch.nn.Parameter]:
        """The trainable parameters of one adapter (what its optimizer steps)."""
        self._check_adapter(adapter)
        return list(self._params[adapter].values())

    def lr(self, adapter: str) -> float:
        """The adapter's base learning rate (before any per-step `lr_scale`)."""
        self._check_adapter(adapter)
        return self._lr[adapter]

    def set_lr(self, adapter: str, lr: float) -> None:
        """Set one adapter's base learning rate (an adaptive controller's lever)."""
        self._check_adapter(adapter)
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be > 0, got {lr}")
        self._lr[adapter] = float(lr)

    def steps(self, adapter: str) -> int:
        """Optimizer steps taken by this adapter (skipped steps do not count)."""
        self._check_adapter(adapter)
        return self._steps[adapter]

    def optimizer(self, adapter: str) -> torch.optim.AdamW:
        self._check_adapter(adapter)
        return self._optimizers[adapter]

    # ------------------------------------------------------------------ batching
    def _allowed(self, choices: tuple[str, ...], prefix: tuple[int, ...]) -> tuple[int, ...]:
        """Legal next tokens after `prefix` in a constrained turn (cached: a vocab scan is slow)."""
        from agents.serving.choices import ChoiceMask

        key = (choices, prefix)
        if key not in self._allowed_cache:
            if len(self._allowed_cache) >= _ALLOWED_CACHE_SIZE:
                self._allowed_cache.clear()
            self._allowed_cache[key] = tuple(ChoiceMask(self.tokenizer, choices).allowed(prefix))
        return self._allowed_cache[key]

    def _allowed_mask(self, samples: Sequence[TrainSample]) -> torch.Tensor | None:
        """[N, V] True at the tokens each scored position may take; None if nothing is masked."""
        if not any(turn.choices for s in samples for turn in s.turns):
            return None
        rows: list[torch.Tensor] = []
        for sample in samples:
            for turn in sample.turns:
                for k in range(len(turn.ids)):
                    row = torch.ones(self.vocab_size, dtype=torch.bool)
                    if turn.choices:
                        row = torch.zeros(self.vocab_size, dtype=torch.bool)
                        row[list(self._allowed(tuple(turn.choices), tuple(turn.ids[:k])))] = True
                    rows.append(row)
        return torch.stack(rows).to(self.device)

    def _collate(self, samples: Sequence[TrainSample]) -> _Batch:
        lengths = [_input_len(s) for s in samples]
        width = max(lengths)
        pad = self.tokenizer.pad_token_id
        pad = 0 if pad is None else int(pad)
        ids = torch.full((len(samples), width), pad, dtype=torch.long)
        attention = torch.zeros((len(samples), width), dtype=torch.long)
        rows: list[int] = []
        for b, (sample, n) in enumerate(zip(samples, lengths, strict=True)):
            if max(sample.token_ids) >= self.vocab_size:
                raise ValueError(f"token id out of the model's vocabulary ({self.vocab_size})")
            ids[b, :n] = torch.tensor(sample.token_ids[:n], dtype=torch.long)
            attention[b, :n] = 1
            rows.extend(b * width + p - 1 for p in sample.positions)
        targets = [t for s in samples for t in s.completion_ids]
        behaviour = [x for s in samples for x in s.behaviour_logprobs]
        return _Batch(
            input_ids=ids.to(self.device),
            attention_mask=attention.to(self.device),
            rows=torch.tensor(rows, dtype=torch.long, device=self.device),
            targets=torch.tensor(targets, dtype=torch.long, device=self.device),
            allowed=self._allowed_mask(samples),
            counts=[len(s.positions) for s in samples],
            behaviour=torch.tensor(behaviour, dtype=torch.float32, device=self.device),
            advantages=torch.tensor(
                [a for s in samples for a in s.token_advantages],
                dtype=torch.float32,
                device=self.device,
            ),
            sequence_tokens=sum(lengths),
        )

    # ------------------------------------------------------------------ scoring
    def _processed(self, logits: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
        """Log-probs of the sampling distribution: mask, temperature, log-softmax (in fp32)."""
        logits = logits.float()
        if allowed is not None:
            logits = logits.masked_fill(~allowed, float("-inf"))
        return torch.log_softmax(logits / self.config.temperature, dim=-1)

    def _token_logprobs(self, batch: _Batch, projection: Projection = "own") -> torch.Tensor:
        """[N] log-probs of the completion tokens of a micro-batch under the active weights."""
        return self._token_scores(batch, projection)[0]

    def _token_scores(
        self, batch: _Batch, projection: Projection = "own"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """[N] completion-token log-probs and the [N, V] log-prob rows they were taken from (the
        sampling distributions: masked to the legal moves on constrained turns)."""
        with self._autocast():
            hidden = self._body(
                input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False
            ).last_hidden_state
            flat = hidden.reshape(-1, hidden.shape[-1])
            if projection == "own":
                # PERFORMANCE: gather the few hidden states that predict the agent's own tokens,
                # then project only those onto the vocabulary.
                logits = self._head(flat[batch.rows])
                logp = self._processed(logits, batch.allowed)
            else:
                logp = self._full_projection(flat, batch)
        return logp.gather(-1, batch.targets.unsqueeze(-1)).squeeze(-1), logp

    def _full_projection(self, flat: torch.Tensor, batch: _Batch) -> torch.Tensor:
        """The baseline a plain trainer runs: every position through the vocabulary projection
        and the log-softmax, then the needed rows picked (legal-move rows recomputed masked)."""
        logits = self._head(flat)
        full = torch.log_softmax(logits.float() / self.config.temperature, dim=-1)[batch.rows]
        if batch.allowed is None:
            return full
        masked = self._processed(logits[batch.rows], batch.allowed)
        constrained = ~batch.allowed.all(dim=-1, keepdim=True)
        return torch.where(constrained, masked, full)

    def logprobs(
        self,
        adapter: str | None,
        samples: Sequence[TrainSample],
        grad: bool = False,
        *,
        projection: Projection = "own",
    ) -> list[torch.Tensor]:
        """Per sample, a 1-D tensor of the log-probs of its completion tokens, in order, under the
        policy the server sampled from. `adapter=None` scores the base model (adapters off).

        `grad=True` keeps the graph (keep the batch small: every micro-batch's graph is held).
        `projection="full"` projects every position (the slow baseline, for tests and benchmarks).
        """
        self._check_adapter(adapter, allow_base=True)
        if projection not in ("own", "full"):
            raise ValueError(f"projection must be 'own' or 'full', got {projection!r}")
        out = [torch.empty(0, device=self.device) for _ in samples]
        with torch.set_grad_enabled(grad), self._use(adapter):
            for group in _micro_batches(samples, self.config.micro_batch_size):
                batch = self._collate([samples[i] for i in group])
                flat = self._token_logprobs(batch, projection)
                for i, part in zip(group, torch.split(flat, batch.counts), strict=True):
                    out[i] = part
        return out

    # ------------------------------------------------------------------ training
    def update(
        self,
        adapter: str,
        samples: Sequence[TrainSample],
        kl_coef: float | None = None,
        lr_scale: float = 1.0,
        *,
        proximal_logprobs: Sequence[torch.Tensor] | None = None,
        projection: Projection = "own",
    ) -> dict[str, float]:
        """One optimizer step of `adapter` on `samples`; returns its stats.

        Gradients accumulate over micro-batches, each weighted by its share of the batch, so the
        step equals one over the whole batch. The loss uses the samples' behaviour log-probs (the
        server's); `decoupled_ppo` also needs `proximal_logprobs` (per sample, as from
        `logprobs()`), which default to the weights before this step. `kl_coef` (None: the
        config's) weighs a KL penalty to the base model; `lr_scale` multiplies the adapter's lr for
        this step. A step whose gradient is not finite is skipped (`skipped` = 1).
        """
        self._check_adapter(adapter)
        kl_coef = self.config.kl_coef if kl_coef is None else float(kl_coef)
        if not (math.isfinite(kl_coef) and kl_coef >= 0):
            raise ValueError(f"kl_coef must be >= 0, got {kl_coef}")
        if not (math.isfinite(lr_scale) and lr_scale > 0):
            raise ValueError(f"lr_scale must be > 0, got {lr_scale}")
        if proximal_logprobs is not None and len(proximal_logprobs) != len(samples):
            raise ValueError("proximal_logprobs needs one tensor per sample")
        start = time.perf_counter()
        optimizer = self._optimizers[adapter]
        optimizer.zero_grad(set_to_none=True)
        self.peft.train(self.lora.dropout > 0)  # LoRA dropout only while training
        try:
            stats = self._accumulate(adapter, samples, kl_coef, proximal_logprobs, projection)
        finally:
            self.peft.eval()
        stats.update(self._step(adapter, lr_scale))
        optimizer.zero_grad(set_to_none=True)
        seconds = time.perf_counter() - start
        stats.update(
            kl_coef=kl_coef,
            seconds=seconds,
            tokens_per_s=stats["tokens"] / seconds,
            sequence_tokens_per_s=stats["sequence_tokens"] / seconds,
        )
        log.debug("update %s: %s", adapter, {k: round(v, 5) for k, v in stats.items()})
        return stats

    def evaluate(
        self, adapter: str, samples: Sequence[TrainSample], kl_coef: float | None = None
    ) -> dict[str, float]:
        """The loss and stats `update()` would report on `samples`, without a step or gradients."""
        self._check_adapter(adapter)
        kl_coef = self.config.kl_coef if kl_coef is None else float(kl_coef)
        with torch.no_grad():
            return self._accumulate(adapter, samples, kl_coef, None, "own", backward=False)

    def _accumulate(
        self,
        adapter: str,
        samples: Sequence[TrainSample],
        kl_coef: float,
        proximal: Sequence[torch.Tensor] | None,
        projection: Projection,
        backward: bool = True,
    ) -> dict[str, float]:
        """Forward (and backward) every micro-batch; stats are the whole batch's."""
        groups = _micro_batches(samples, self.config.micro_batch_size)
        total = self._loss_weight(samples)
        if total == 0:
            raise ValueError("the samples hold no completion tokens to train on")
        sums: dict[str, float] = {}
        tokens = sequence_tokens = 0
        for group in groups:
            chunk = [samples[i] for i in group]
            batch = self._collate(chunk)
            prox = None if proximal is None else [proximal[i] for i in group]
            loss, stats = self._micro_loss(adapter, batch, kl_coef, prox, projection)
            share = self._loss_weight(chunk) / total
            if backward:
                (loss * share).backward()
            n = sum(batch.counts)
            for key in ("loss", "policy_loss", "kl", "entropy"):
                sums[key] = sums.get(key, 0.0) + share * stats[key]
            for key in ("clip_fraction", "approx_kl"):
                sums[key] = sums.get(key, 0.0) + n * stats[key]
            tokens += n
            sequence_tokens += batch.sequence_tokens
        for key in ("clip_fraction", "approx_kl"):
            sums[key] /= max(tokens, 1)
        return {**sums, "tokens": float(tokens), "sequence_tokens": float(sequence_tokens)}

    def _loss_weight(self, samples: Sequence[TrainSample]) -> int:
        """What a micro-batch's mean loss is weighted by: its tokens (token_mean) or its
        sequences that hold tokens (sequence_mean); their sum over the batch is the divisor."""
        if self.config.aggregation == "token_mean":
            return sum(len(s.positions) for s in samples)
        return sum(1 for s in samples if s.positions)

    def _micro_loss(
        self,
        adapter: str,
        batch: _Batch,
        kl_coef: float,
        proximal: Sequence[torch.Tensor] | None,
        projection: Projection,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        with self._use(adapter):
            flat, rows = self._token_scores(batch, projection)
        if cfg.entropy_coef > 0:
            entropy_flat = _entropy(rows)
        else:
            with torch.no_grad():  # only logged: no [N, V] graph kept for it
                entropy_flat = _entropy(rows.detach())
        logp, mask = _pad_flat(flat, batch.counts)
        entropy = aggregate(_pad_flat(entropy_flat, batch.counts)[0], mask, cfg.aggregation)
        behaviour, _ = _pad_flat(batch.behaviour, batch.counts)
        if proximal is not None:
            prox_flat = torch.cat([p.detach().to(self.device, torch.float32) for p in proximal])
            proximal_logp, _ = _pad_flat(prox_flat, batch.counts)
        else:
            proximal_logp = logp.detach()  # the weights before this step
        loss, stats = policy_loss(
            cfg.loss,
            logp=logp,
            adv=_pad_flat(batch.advantages, batch.counts)[0],
            mask=mask,
            behaviour_logp=behaviour,
            proximal_logp=proximal_logp,
            clip_eps=cfg.clip_eps,
            clip_eps_high=cfg.clip_eps_high,
            weight_cap=cfg.weight_cap,
            aggregation=cfg.aggregation,
        )
        out = {
            "policy_loss": float(loss.detach()),
            "clip_fraction": stats.get("clip_fraction", 0.0),
            # Always against the behaviour policy (decoupled_ppo's own is against the proximal).
            "approx_kl": approx_kl(logp, behaviour, mask),
            "kl": math.nan,  # not measured (kl_coef 0 and track_kl off): not zero
            "entropy": float(entropy.detach()),
        }
        if cfg.entropy_coef > 0:
            loss = loss - cfg.entropy_coef * entropy
        if kl_coef > 0 or cfg.track_kl:
            kl, kl_stats = kl_penalty(
                logp, self._reference(batch), mask, cfg.kl_estimator, cfg.aggregation
            )
            out["kl"] = kl_stats["kl"]
            if kl_coef > 0:
                loss = loss + kl_coef * kl
        out["loss"] = float(loss.detach())
        return loss, out

    def _reference(self, batch: _Batch) -> torch.Tensor:
        """Padded [B, T] log-probs under the base model: the same weights, adapters off."""
        with torch.no_grad(), self._use(None):
            flat = self._token_logprobs(batch)
        return _pad_flat(flat, batch.counts)[0]

    def _step(self, adapter: str, lr_scale: float) -> dict[str, float]:
        params = self.parameters(adapter)
        max_norm = self.config.max_grad_norm or float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        lr = self._lr[adapter] * lr_scale
        if not math.isfinite(grad_norm):
            log.warning("adapter %s: gradient norm %s, step skipped", adapter, grad_norm)
            return {"grad_norm": grad_norm, "lr": lr, "skipped": 1.0}
        optimizer = self._optimizers[adapter]
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.step()
        self._steps[adapter] += 1
        return {"grad_norm": grad_norm, "lr": lr, "skipped": 0.0}

    # ------------------------------------------------------------------ weights
    def adapter_weights(self, adapter: str) -> tuple[dict[str, torch.Tensor], Any]:
        """(state dict, LoraConfig) of one adapter: CPU copies in peft's saved format, ready for
        `PolicyServer.publish(name, state_dict, config)`."""
        from peft import get_peft_model_state_dict

        self._check_adapter(adapter)
        # No embedding layers are trained; "auto" would look the base model up on the hub.
        state = get_peft_model_state_dict(
            self.peft, adapter_name=adapter, save_embedding_layers=False
        )
        weights = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}
        return weights, copy.deepcopy(self.peft.peft_config[adapter])

    def set_adapter_weights(self, adapter: str, weights: Mapping[str, torch.Tensor]) -> None:
        """Overwrite one adapter's weights from a state dict in peft's saved format (e.g. another
        adapter's `adapter_weights()`); every weight must be given, with the same shapes."""
        self._check_adapter(adapter)
        params = self._params[adapter]
        missing, unexpected = set(params) - set(weights), set(weights) - set(params)
        if missing or unexpected:
            raise ValueError(
                f"adapter {adapter!r}: weights do not match (missing {sorted(missing)[:3]}, "
                f"unexpected {sorted(unexpected)[:3]})"
            )
        with torch.no_grad():
            for key, param in params.items():
                value = weights[key]
                if tuple(value.shape) != tuple(param.shape):
                    raise ValueError(
                        f"adapter {adapter!r}: {key} has shape {tuple(value.shape)}, "
                        f"expected {tuple(param.shape)} (different rank or base model?)"
                    )
                param.copy_(value.to(param.device, param.dtype))

    # ------------------------------------------------------------------ checkpoints
    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write every adapter and optimizer state to `folder` (replaced if it exists), atomically:
        everything goes to a temporary sibling first, renamed into place when complete."""
        from trainers.run.io import atomic_directory

        folder = Path(folder)
        with atomic_directory(folder, overwrite=True) as tmp:
            for name in self.adapter_names:
                self._save_adapter(tmp, name)
            (tmp / STATE_FILE).write_text(json.dumps(self._state_json(), indent=2))
        return folder

    def _check_lora_shape(self, saved: Mapping[str, Any]) -> None:
        """A checkpoint's adapter must have this learner's rank, alpha and targets: a different
        alpha would load without error and silently rescale every update."""
        ours = (self.lora.rank, float(self.lora.alpha), sorted(self.lora.target_modules))
        theirs = (
            saved.get("r"),
            float(saved.get("lora_alpha", 0)),
            sorted(saved.get("target_modules") or []),
        )
        if ours != theirs:
            raise ValueError(
                f"checkpoint adapter has (rank, alpha, targets) {theirs}, this learner {ours}"
            )

    def _state_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "model": self.model_name,
            "adapters": list(self.adapter_names),
            "seed": self.seed,
            "lora": asdict(self.lora),
            "config": asdict(self.config),
            "lr": dict(self._lr),
            "steps": dict(self._steps),
        }

    def _save_adapter(self, root: Path, adapter: str) -> None:
        from safetensors.torch import save_file

        from agents.serving.adapters import write_adapter

        weights, config = self.adapter_weights(adapter)
        write_adapter(root / ADAPTERS_DIR / adapter, weights, config)
        tensors, meta = _optimizer_to_flat(self._optimizers[adapter], list(self._params[adapter]))
        (root / OPTIMIZER_DIR).mkdir(exist_ok=True)
        save_file(tensors, str(root / OPTIMIZER_DIR / f"{adapter}.safetensors"))
        (root / OPTIMIZER_DIR / f"{adapter}.json").write_text(json.dumps(meta, indent=2))

    def load(self, folder: str | os.PathLike[str], adapters: Sequence[str] | None = None) -> None:
        """Restore adapters (default: all of this learner's) and their optimizer states, learning
        rates and step counts from a folder written by `save()`. The learner must have been built
        with the same base model and LoRA shape."""
        folder = Path(folder)
        state_file = folder / STATE_FILE
        if not state_file.is_file():
            raise FileNotFoundError(f"{folder} is not a learner checkpoint (no {STATE_FILE})")
        state = json.loads(state_file.read_text())
        if state.get("format") != FORMAT_VERSION:
            raise ValueError(f"checkpoint format {state.get('format')} != {FORMAT_VERSION}")
        names = self.adapter_names if adapters is None else self._check_names(adapters)
        for name in names:
            self._check_adapter(name)
            if name not in state["adapters"]:
                raise ValueError(f"checkpoint {folder} holds no adapter {name!r}")
        for name in names:
            self._load_adapter(folder, name)
            self._lr[name] = float(state["lr"][name])
            self._steps[name] = int(state["steps"][name])

    def _load_adapter(self, root: Path, adapter: str) -> None:
        from safetensors.torch import load_file

        from agents.serving.adapters import ADAPTER_CONFIG, ADAPTER_WEIGHTS

        self._check_lora_shape(
            json.loads((root / ADAPTERS_DIR / adapter / ADAPTER_CONFIG).read_text())
        )
        self.set_adapter_weights(
            adapter, load_file(str(root / ADAPTERS_DIR / adapter / ADAPTER_WEIGHTS))
        )
        tensors = load_file(str(root / OPTIMIZER_DIR / f"{adapter}.safetensors"))
        meta = json.loads((root / OPTIMIZER_DIR / f"{adapter}.json").read_text())
        if meta["params"] != list(self._params[adapter]):
            raise ValueError(f"optimizer state of {adapter!r} is for different parameters")
        self._optimizers[adapter].load_state_dict(_optimizer_from_flat(tensors, meta))


# ---------------------------------------------------------------------------------- helpers


def _entropy(logp: torch.Tensor) -> torch.Tensor:
    """[N] entropy of each row of log-probs [N, V]; masked-out tokens (-inf) count 0 and pass no
    nan to the gradient (0 * -inf)."""
    masked = torch.isinf(logp)
    finite = logp.masked_fill(masked, 0.0)
    return -(finite.exp() * finite).masked_fill(masked, 0.0).sum(-1)


def _optimizer_to_flat(
    optimizer: torch.optim.Optimizer, keys: list[str]
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer's state as named tensors (`<weight key>:<field>`) plus json metadata, so that
    no pickle is needed. `keys` name the optimizer's parameters in order."""
    state = optimizer.state_dict()
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
