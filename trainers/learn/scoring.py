"""Scoring: the forward pass that turns a collated batch into per-token log-probs.

`Scorer.score(batch)` is the one seam between a `samples.Batch` and the model. The transformer
body runs once over each padded sequence; the vocabulary projection (`lm_head`, 49k rows for
SmolLM2) runs only at the positions that predict the agent's own tokens, since projecting every
prompt position is most of the cost on a CPU and is thrown away. Each log-prob is taken under the
distribution the server sampled from: logits / temperature, masked to the legal-move tokens on
constrained turns (`agents.serving.choices.ChoiceMask`) or to a free-form phase's format
(`agents.serving.formats.FormatMask`), log-softmax, as `process_logits` does.
The scorer runs whichever adapter the model has active; the learner chooses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal

import torch

from trainers.learn.prefix import body_hidden
from trainers.learn.samples import Batch, TrainSample, collate

__all__ = ["PROJECTIONS", "Projection", "Scorer", "check_plain_head", "entropy"]

Projection = Literal["own", "full"]
#: "own": project only the agent's own positions; "full": every position (the slow baseline a
#: plain trainer runs, kept to check and measure the fast path against).
PROJECTIONS: tuple[str, ...] = ("own", "full")
_ALLOWED_CACHE_SIZE = 4096
#: On a CPU, a micro-batch whose attention weights (kept for backward) fit in this many bytes
#: runs eager attention, batched matmuls on the same bf16 kernels as the rest of the model:
#: a recorded default team-battle update took 28 s instead of SDPA's 31-33 s (whose flash
#: kernel's backward is slow on a CPU). Larger ones keep SDPA, whose memory does not grow with
#: width squared. The bytes kept are an upper bound in bfloat16 (4 in float32: no copy).
EAGER_ATTENTION_BYTES = 2 * 2**30
#: Bytes eager attention keeps per weight for backward: the softmax's fp32 output and its bf16
#: copy that multiplies the values.
_EAGER_BYTES_PER_WEIGHT = 6


class Scorer:
    """Per-token log-probs of a causal LM's own completions (see the module docstring)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        temperature: float,
        dtype: str,
        device: torch.device,
    ) -> None:
        self.tokenizer = tokenizer
        self.temperature = float(temperature)
        self.dtype = dtype
        self.device = device
        self._body = model.get_decoder()
        self._head = model.get_output_embeddings()
        config = self._body.config
        self._weights_per_position = config.num_attention_heads * config.num_hidden_layers
        self.vocab_size = int(self._head.weight.shape[0])
        self._allowed_cache: dict[tuple[tuple[str, ...], tuple[int, ...]], tuple[int, ...]] = {}

    # ------------------------------------------------------------------ batches
    def collate(self, samples: Sequence[TrainSample]) -> Batch:
        """One padded micro-batch of `samples` on the scorer's device, legal-move mask included."""
        return collate(
            samples,
            pad_id=self.tokenizer.pad_token_id,
            vocab_size=self.vocab_size,
            device=self.device,
            allowed=self.legal_mask(samples),
        )

    def _allowed(self, choices: tuple[str, ...], prefix: tuple[int, ...]) -> tuple[int, ...]:
        """Legal next tokens after `prefix` in a constrained turn (cached: a vocab scan is slow)."""
        from agents.serving.choices import ChoiceMask

        key = (choices, prefix)
        if key not in self._allowed_cache:
            if len(self._allowed_cache) >= _ALLOWED_CACHE_SIZE:
                self._allowed_cache.clear()
            self._allowed_cache[key] = tuple(ChoiceMask(self.tokenizer, choices).allowed(prefix))
        return self._allowed_cache[key]

    def _format_rows(self, pattern: str, ids: tuple[int, ...]) -> torch.Tensor:
        """[len(ids), V] the format mask before each token of a format-constrained turn."""
        from agents.serving.formats import FormatMask

        return FormatMask(self.tokenizer, pattern, self.vocab_size).rows(ids)

    def legal_mask(self, samples: Sequence[TrainSample]) -> torch.Tensor | None:
        """[N, V] True at the tokens each scored position may take; None if nothing is masked."""
        turns = [turn for s in samples for turn in s.turns]
        if not any(turn.choices or turn.pattern for turn in turns):
            return None
        rows: list[torch.Tensor] = []
        for turn in turns:
            if turn.pattern:
                rows.extend(self._format_rows(turn.pattern, tuple(turn.ids)))
                continue
            for k in range(len(turn.ids)):
                row = torch.ones(self.vocab_size, dtype=torch.bool)
                if turn.choices:
                    row = torch.zeros(self.vocab_size, dtype=torch.bool)
                    row[list(self._allowed(tuple(turn.choices), tuple(turn.ids[:k])))] = True
                rows.append(row)
        return torch.stack(rows).to(self.device)

    # ------------------------------------------------------------------ scoring
    def _autocast(self) -> AbstractContextManager[Any]:
        if self.dtype == "bfloat16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def attention(self, batch: Batch) -> str:
        """The attention implementation for `batch`: eager on a CPU while its weights stay
        within `EAGER_ATTENTION_BYTES` (bounded by rows x heads x width^2 x layers), else sdpa.
        Both compute the same attention (to float rounding)."""
        if self.device.type != "cpu":
            return "sdpa"
        rows, width = batch.input_ids.shape
        weights = rows * width * width * self._weights_per_position
        return "eager" if weights * _EAGER_BYTES_PER_WEIGHT <= EAGER_ATTENTION_BYTES else "sdpa"

    def _processed(self, logits: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
        """Log-probs of the sampling distribution: mask, temperature, log-softmax (in fp32)."""
        logits = logits.float()
        if allowed is not None:
            logits = logits.masked_fill(~allowed, float("-inf"))
        return torch.log_softmax(logits / self.temperature, dim=-1)

    def score(
        self, batch: Batch, projection: Projection = "own", *, shared_prefix: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """[N] completion-token log-probs of `batch` under the model's active weights, and the
        [N, V] log-prob rows they were taken from (the sampling distributions: masked to the legal
        moves on constrained turns). `shared_prefix`: the rows' common prefix runs once
        (`trainers.learn.prefix`; the same values to fp32 rounding)."""
        if projection not in PROJECTIONS:
            raise ValueError(f"projection must be 'own' or 'full', got {projection!r}")
        self._body.set_attn_implementation(self.attention(batch))
        with self._autocast():
            hidden = body_hidden(
                self._body, batch.input_ids, batch.attention_mask, shared_prefix=shared_prefix
            )
            flat = hidden.reshape(-1, hidden.shape[-1])
            if projection == "own":
                # PERFORMANCE: gather the few hidden states that predict the agent's own tokens,
                # then project only those onto the vocabulary.
                logits = self._head(flat[batch.rows])
                logp = self._processed(logits, batch.allowed)
            else:
                logp = self._full_projection(flat, batch)
        return logp.gather(-1, batch.targets.unsqueeze(-1)).squeeze(-1), logp

    def _full_projection(self, flat: torch.Tensor, batch: Batch) -> torch.Tensor:
        """The baseline a plain trainer runs: every position through the vocabulary projection
        and the log-softmax, then the needed rows picked (legal-move rows recomputed masked)."""
        logits = self._head(flat)
        full = torch.log_softmax(logits.float() / self.temperature, dim=-1)[batch.rows]
        if batch.allowed is None:
            return full
        masked = self._processed(logits[batch.rows], batch.allowed)
        constrained = ~batch.allowed.all(dim=-1, keepdim=True)
        return torch.where(constrained, masked, full)


def entropy(logp: torch.Tensor) -> torch.Tensor:
    """[N] entropy of each row of log-probs [N, V]; masked-out tokens (-inf) count 0 and pass no
    nan to the gradient (0 * -inf)."""
    masked = torch.isinf(logp)
    finite = logp.masked_fill(masked, 0.0)
    return -(finite.exp() * finite).masked_fill(masked, 0.0).sum(-1)


def check_plain_head(model_config: Any) -> None:
    """Raise for a model whose logits are more than its output embedding of the hidden states.

    Scoring applies the output embedding to hidden states itself; a model that transforms its
    logits further (Gemma 2's soft-capping, Cohere's logit scale) would be mis-scored."""
    softcap = getattr(model_config, "final_logit_softcapping", None)
    scale = getattr(model_config, "logit_scale", None)
    if softcap or (scale is not None and scale != 1):
        raise ValueError(
            f"{type(model_config).__name__} post-processes its logits (soft-capping or a "
            "logit scale), which the learner's own-positions projection does not reproduce"
        )
