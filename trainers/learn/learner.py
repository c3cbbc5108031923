"""The learner: ONE transformers base model, N peft LoRA adapters on it, one AdamW per adapter.

    learner = Learner("default", ["red", "blue"], LoRASettings(), LearnerConfig(), seed=0)
    stats = learner.update("red", samples_from_trajectories(trajs, advantages))
    server.publish("red", *learner.adapter_weights("red"))     # the new version is served

- Settings (`settings`): `LoRASettings` (adapter shape), `LearnerConfig` (optimizer, loss, KL).
- Samples (`samples`): a `TrainSample` is one agent's whole episode as one growing chat
  (`trainers.episode`), collated into padded micro-batches.
- Scoring (`scoring.Scorer`): the forward pass from a batch to per-token log-probs under the
  distribution the server sampled from (own-position projection, legal-move masks, entropy).
- Training (here). `update()` is one optimizer step of the configured loss (`algorithms.LOSSES`)
  over every sample, with gradient accumulation over padded micro-batches, an optional KL penalty
  to the base model and gradient clipping; each adapter's AdamW and its clipped step are `optim`'s.
- KL reference (`reference`): the same base with the adapters switched off (`disable_adapter()`),
  so there is no second model in memory; when an update needs it, and its cache.
- Checkpoints (`state`): `state_dict()` / `load_state_dict()`, and `save(folder)` / `load(folder)`
  that write them as peft folders (safetensors + json) and optimizer states as safetensors + json;
  nothing is pickled, so a checkpoint can be handed to anyone.

Only the LoRA weights are trained and only in float32 (bf16 is autocast for the forward pass), so
optimizer states and checkpoints never lose precision.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from trainers.learn.adapters import (
    adapter_params,
    check_adapter_names,
    check_lora_shape,
    store_frozen_linears,
    wrap,
)
from trainers.learn.objective import micro_batch_loss
from trainers.learn.optim import adapter_optimizer, clipped_step
from trainers.learn.prefix import body_positions, prefix_micro_batches
from trainers.learn.reference import (
    REFERENCE_CACHE_SIZE,
    ReferenceCache,
    applied_kl_coef,
    kl_plan,
    reference_keys,
)
from trainers.learn.samples import (
    Batch,
    TrainSample,
    input_len,
    micro_batches,
    pad_flat,
    samples_from_trajectories,
)
from trainers.learn.scoring import PROJECTIONS, Projection, Scorer, check_plain_head
from trainers.learn.settings import DTYPES, LearnerConfig, LoRASettings
from trainers.learn.state import (
    ADAPTER_STATE,
    FORMAT_VERSION,
    read_learner_state,
    write_learner_state,
)

log = logging.getLogger(__name__)


__all__ = [
    "DTYPES",
    "REFERENCE_CACHE_SIZE",
    "Learner",
    "LearnerConfig",
    "LoRASettings",
    "TrainSample",
    "reference_keys",
    "samples_from_trajectories",
]

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

        self.adapter_names = check_adapter_names(adapter_names)
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
        check_plain_head(base.config)
        # Adapters are created on the CPU so that their random init does not depend on the device.
        self.peft = wrap(base, self.adapter_names, self.lora, self.seed, self.model_name)
        if self.config.learner_dtype == "bfloat16" and self.config.cast_base:
            store_frozen_linears(self.peft, torch.bfloat16)
        self.peft.to(self.device).eval()
        self.scorer = Scorer(
            self.peft.get_base_model(),
            self.tokenizer,
            temperature=self.config.temperature,
            dtype=self.config.learner_dtype,
            device=self.device,
        )
        self.vocab_size = self.scorer.vocab_size
        self._params = {name: adapter_params(self.peft, name) for name in self.adapter_names}
        self._optimizers = {
            name: adapter_optimizer(self._params[name], self.config) for name in self.adapter_names
        }
        self._lr = dict.fromkeys(self.adapter_names, self.config.lr)
        self._steps = dict.fromkeys(self.adapter_names, 0)
        self._reference_cache = ReferenceCache()
        log.info(
            "learner on %s: %s adapters %s (r=%d), %s on %s",
            path.name,
            len(self.adapter_names),
            ", ".join(self.adapter_names),
            self.lora.lora_rank,
            self.config.learner_dtype,
            self.device,
        )

    # ------------------------------------------------------------------ construction
    def _check_dtype(self) -> None:
        if self.config.learner_dtype != "bfloat16":
            return
        kind = self.device.type
        supported = kind == "cpu" or (kind == "cuda" and torch.cuda.is_bf16_supported())
        if not supported or not torch.amp.is_autocast_available(kind):
            raise ValueError(f"bfloat16 autocast is not supported on {self.device}; use float32")

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

    # ------------------------------------------------------------------ scoring
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
        if projection not in PROJECTIONS:
            raise ValueError(f"projection must be 'own' or 'full', got {projection!r}")
        out = [torch.empty(0, device=self.device) for _ in samples]
        with torch.set_grad_enabled(grad), self._use(adapter):
            for group in self.micro_batches(samples):
                batch = self.scorer.collate([samples[i] for i in group])
                flat, _ = self.scorer.score(
                    batch, projection, shared_prefix=self.config.shared_prefix
                )
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
        projection: Projection = "own",
    ) -> dict[str, float]:
        """One optimizer step of `adapter` on `samples`; returns its stats.

        Gradients accumulate over micro-batches, each weighted by its share of the batch, so the
        step equals one over the whole batch. The loss uses the samples' behaviour log-probs (the
        server's); `decoupled_ppo`'s proximal policy is the weights before this step. `kl_coef`
        (None: the config's) weighs a KL penalty to the base model; `lr_scale` multiplies the
        adapter's lr for this step. A step whose gradient is not finite is skipped (`skipped` = 1).
        """
        self._check_adapter(adapter)
        kl_coef = self.config.kl_coef if kl_coef is None else float(kl_coef)
        if not (math.isfinite(kl_coef) and kl_coef >= 0):
            raise ValueError(f"kl_coef must be >= 0, got {kl_coef}")
        if not (math.isfinite(lr_scale) and lr_scale > 0):
            raise ValueError(f"lr_scale must be > 0, got {lr_scale}")
        start = time.perf_counter()
        optimizer = self._optimizers[adapter]
        optimizer.zero_grad(set_to_none=True)
        self.peft.train(self.lora.lora_dropout > 0)  # LoRA dropout only while training
        try:
            stats = self._accumulate(adapter, samples, kl_coef, projection)
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
            return self._accumulate(adapter, samples, kl_coef, "own", backward=False)

    def _accumulate(
        self,
        adapter: str,
        samples: Sequence[TrainSample],
        kl_coef: float,
        projection: Projection,
        backward: bool = True,
    ) -> dict[str, float]:
        """Forward (and backward) every micro-batch; stats are the whole batch's."""
        cfg, kl_coef = kl_plan(self.config, kl_coef, self._steps[adapter])
        samples = self._with_signal(samples, cfg, kl_coef)
        groups = self.micro_batches(samples)
        total = self._loss_weight(samples)
        if total == 0:
            raise ValueError("the samples hold no completion tokens to train on")
        sums: dict[str, float] = {}
        tokens = sequence_tokens = body_tokens = 0
        for group in groups:
            chunk = [samples[i] for i in group]
            batch = self.scorer.collate(chunk)
            with self._use(adapter):
                flat, rows = self.scorer.score(batch, projection, shared_prefix=cfg.shared_prefix)
            loss, stats = micro_batch_loss(
                cfg, batch, flat, rows, kl_coef, lambda b=batch, c=chunk: self._reference(b, c)
            )
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
            body_tokens += body_positions(
                batch.input_ids, batch.attention_mask, shared_prefix=cfg.shared_prefix
            )
        for key in ("clip_fraction", "approx_kl"):
            sums[key] /= max(tokens, 1)
        return {
            **sums,
            "tokens": float(tokens),
            "sequence_tokens": float(sequence_tokens),
            "body_tokens": float(body_tokens),
        }

    def micro_batches(self, samples: Sequence[TrainSample]) -> list[list[int]]:
        """Indices of the samples to score, per micro-batch, as `update()` groups them: by shared
        prefix when the prefix is shared (`prefix.prefix_micro_batches`), else by length.
        Samples without completion tokens are left out."""
        size = self.config.micro_batch_size
        if not self.config.shared_prefix:
            return micro_batches(samples, size)
        scored = [i for i, s in enumerate(samples) if s.positions]
        reads = [samples[i].token_ids[: input_len(samples[i])] for i in scored]
        return [[scored[k] for k in group] for group in prefix_micro_batches(reads, size)]

    def trained_samples(
        self, samples: Sequence[TrainSample], kl_coef: float | None = None
    ) -> Sequence[TrainSample]:
        """The samples `update(samples, kl_coef)` scores: less the silent ones
        (`LearnerConfig.skip_silent`) when only the advantages drive the loss; all of them if
        none carries a signal (the step is then the optimizer's decay alone, as without the
        skip). A caller that splits an update (minibatches) deals these."""
        kl_coef = self.config.kl_coef if kl_coef is None else kl_coef
        return self._with_signal(samples, self.config, applied_kl_coef(self.config, kl_coef))

    def _with_signal(
        self, samples: Sequence[TrainSample], cfg: LearnerConfig, kl_coef: float
    ) -> Sequence[TrainSample]:
        if not cfg.skip_silent or kl_coef > 0 or cfg.entropy_coef > 0:
            return samples
        loud = [s for s in samples if not s.silent]
        return loud or samples

    def _loss_weight(self, samples: Sequence[TrainSample]) -> int:
        """What a micro-batch's mean loss is weighted by: its tokens (token_mean) or its
        sequences that hold tokens (sequence_mean); their sum over the batch is the divisor."""
        if self.config.aggregation == "token_mean":
            return sum(len(s.positions) for s in samples)
        return sum(1 for s in samples if s.positions)

    def _reference(self, batch: Batch, samples: Sequence[TrainSample]) -> torch.Tensor:
        """Padded [B, T] log-probs of `batch` (collated from `samples`) under the base model:
        the same weights, adapters off; with `reference_cache`, tokens already scored in the
        same chat context come from the cache (`reference.ReferenceCache`)."""
        if not self.config.reference_cache:
            return pad_flat(self._base_logprobs(batch), batch.counts)[0]
        return self._reference_cache.logprobs(
            batch, samples, self._base_logprobs, self.scorer.collate, self.device
        )

    def _base_logprobs(self, batch: Batch) -> torch.Tensor:
        with torch.no_grad(), self._use(None):
            flat, _ = self.scorer.score(batch, shared_prefix=self.config.shared_prefix)
        return flat

    def _step(self, adapter: str, lr_scale: float) -> dict[str, float]:
        lr = self._lr[adapter] * lr_scale
        params, max_norm = self.parameters(adapter), self.config.max_grad_norm
        grad_norm = clipped_step(self._optimizers[adapter], params, lr, max_norm)
        if not math.isfinite(grad_norm):
            log.warning("adapter %s: gradient norm %s, step skipped", adapter, grad_norm)
            return {"grad_norm": grad_norm, "lr": lr, "skipped": 1.0}
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

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything a restart needs: settings, learning rates, step counts and, per adapter,
        its weights, adapter config and optimizer state (tensors are the live ones: copy before
        training on if you keep it). `state.write_learner_state` puts it on disk."""
        return {
            "format": FORMAT_VERSION,
            "model": self.model_name,
            "adapters": list(self.adapter_names),
            "seed": self.seed,
            "lora": asdict(self.lora),
            "config": asdict(self.config),
            "lr": dict(self._lr),
            "steps": dict(self._steps),
            ADAPTER_STATE: {name: self._adapter_state(name) for name in self.adapter_names},
        }

    def _adapter_state(self, adapter: str) -> dict[str, Any]:
        weights, config = self.adapter_weights(adapter)
        return {
            "weights": weights,
            "adapter_config": config,
            "optimizer": self._optimizers[adapter].state_dict(),
            "params": list(self._params[adapter]),
        }

    def load_state_dict(
        self, state: Mapping[str, Any], adapters: Sequence[str] | None = None
    ) -> None:
        """Restore adapters (default: all of this learner's) with their optimizer states,
        learning rates and step counts from a `state_dict()`. The learner must have been built
        with the same base model and LoRA shape."""
        if state.get("format") != FORMAT_VERSION:
            raise ValueError(f"checkpoint format {state.get('format')} != {FORMAT_VERSION}")
        names = self.adapter_names if adapters is None else check_adapter_names(adapters)
        parts = state[ADAPTER_STATE]
        for name in names:
            self._check_adapter(name)
            if name not in parts:
                raise ValueError(f"checkpoint holds no adapter {name!r}")
        for name in names:
            part = parts[name]
            check_lora_shape(self.lora, part["adapter_config"])
            self.set_adapter_weights(name, part["weights"])
            if list(part["params"]) != list(self._params[name]):
                raise ValueError(f"optimizer state of {name!r} is for different parameters")
            self._optimizers[name].load_state_dict(part["optimizer"])
            self._lr[name] = float(state["lr"][name])
            self._steps[name] = int(state["steps"][name])

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write `state_dict()` to `folder` (replaced if it exists), atomically."""
        return write_learner_state(self.state_dict(), folder)

    def load(self, folder: str | os.PathLike[str], adapters: Sequence[str] | None = None) -> None:
        """`load_state_dict()` from a folder written by `save()`."""
        names = self.adapter_names if adapters is None else check_adapter_names(adapters)
        self.load_state_dict(read_learner_state(folder, names), names)
