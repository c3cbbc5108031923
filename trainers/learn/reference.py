"""The KL reference pass: the base model's log-probs (the learner's own weights with the adapters
switched off), when an update needs them and a cache that spares scoring them twice.

- `kl_plan`: the KL coefficient an update applies and whether it measures the KL at all. A
  coefficient below `kl_skip_below` counts as 0; the reference pass then runs only on every
  `kl_every`-th update of an adapter, to keep the KL logged and the controller informed.
- `ReferenceCache`: base-model log-probs by (chat context, token, legal moves or format). The
  base model is frozen, so a token scored before in the same chat context, under the same mask,
  has the same log-prob there; only the chats holding a token not seen before are scored.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch

from trainers.learn.samples import Batch, TrainSample, pad_flat
from trainers.learn.settings import LearnerConfig

__all__ = [
    "REFERENCE_CACHE_SIZE",
    "ReferenceCache",
    "applied_kl_coef",
    "kl_plan",
    "reference_keys",
]

REFERENCE_CACHE_SIZE = 200_000
"""Cached base-model log-probs (~100 bytes each) before the cache is emptied."""


def applied_kl_coef(cfg: LearnerConfig, kl_coef: float) -> float:
    """The KL coefficient an update applies: below `kl_skip_below` it counts as 0."""
    return kl_coef if kl_coef >= cfg.kl_skip_below else 0.0


def kl_plan(cfg: LearnerConfig, kl_coef: float, steps: int) -> tuple[LearnerConfig, float]:
    """(config, KL coefficient) of an update of an adapter that has taken `steps` steps: a
    coefficient below `kl_skip_below` counts as 0, and the KL is then measured only on every
    `kl_every`-th update of the adapter."""
    if kl_coef >= cfg.kl_skip_below:
        return cfg, kl_coef
    due = steps % cfg.kl_every == 0
    if cfg.track_kl and not due:
        cfg = replace(cfg, track_kl=False)
    return cfg, 0.0


def reference_keys(sample: TrainSample) -> list[bytes]:
    """One key per completion token of `sample`: a digest of the tokens up to and including it
    and of its turn's legal moves or format (which decide the mask its log-prob is taken
    under)."""
    digest = hashlib.blake2b(digest_size=16)
    keys, done = [], 0
    for turn in sample.turns:
        mask = repr(tuple(turn.choices or ())).encode()
        if turn.pattern is not None:  # turns without one keep the keys they always had
            mask += b"\x00pattern " + turn.pattern.encode()
        for k in range(len(turn.ids)):
            end = turn.start + k + 1
            digest.update(array("q", sample.token_ids[done:end]).tobytes())
            done = end
            token = digest.copy()
            token.update(mask)
            keys.append(token.digest())
    return keys


class ReferenceCache:
    """Base-model log-probs of completion tokens, by `reference_keys`."""

    def __init__(self, max_size: int = REFERENCE_CACHE_SIZE) -> None:
        self.max_size = max_size
        self._values: dict[bytes, float] = {}

    def __len__(self) -> int:
        return len(self._values)

    def clear(self) -> None:
        self._values.clear()

    def logprobs(
        self,
        batch: Batch,
        samples: Sequence[TrainSample],
        score: Callable[[Batch], torch.Tensor],
        collate: Callable[[list[TrainSample]], Batch],
        device: torch.device,
    ) -> torch.Tensor:
        """Padded [B, T] base-model log-probs of `batch` (collated from `samples`): `score(batch)`
        gives a batch's flat log-probs, `collate(samples)` batches the chats not fully cached."""
        keys = [reference_keys(s) for s in samples]
        cache = self._values
        missing = [i for i, ks in enumerate(keys) if any(k not in cache for k in ks)]
        if missing:
            if len(cache) > self.max_size:
                cache.clear()
            todo = batch
            if len(missing) < len(samples):  # score only the chats with uncached tokens
                todo = collate([samples[i] for i in missing])
            flat = score(todo).float().cpu()
            for i, part in zip(missing, torch.split(flat, todo.counts), strict=True):
                cache.update(zip(keys[i], part.tolist(), strict=True))
        values = [cache[k] for ks in keys for k in ks]
        flat = torch.tensor(values, dtype=torch.float32, device=device)
        return pad_flat(flat, batch.counts)[0]
