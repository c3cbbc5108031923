"""What the learner trains on: `TrainSample` (one agent's whole episode, its own turns and their
advantages) and the padded micro-batches (`Batch`) that scoring reads.

A sample's completion positions index into its token ids; `collate` right-pads a group of
samples and flattens those positions into the rows whose hidden states predict them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from trainers.episode import Trajectory, TurnTokens

__all__ = [
    "Batch",
    "TrainSample",
    "collate",
    "input_len",
    "micro_batches",
    "minibatches",
    "pad_flat",
    "samples_from_trajectories",
]



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
    def silent(self) -> bool:
        """Every completion token has advantage 0: no policy-gradient signal."""
        return all(a == 0 for a in self._turn_advantages())

    @property
    def token_advantages(self) -> tuple[float, ...]:
        """The advantage of each completion token, in order."""
        return tuple(
            a for turn, a in zip(self.turns, self._turn_advantages(), strict=True) for _ in turn.ids
        )

    @property
    def behaviour_logprobs(self) -> tuple[float, ...]:
        """The server's log-probs of the completion tokens (the policy that sampled them); NaN
        where no policy sampled the token (the loss then takes the weights before its step)."""
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



@dataclass
class Batch:
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


def pad_flat(flat: torch.Tensor, counts: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """[N] values split by `counts` -> padded [B, max(counts)] values and their mask."""
    width = max(max(counts, default=0), 1)
    out = flat.new_zeros((len(counts), width))
    mask = torch.zeros((len(counts), width), dtype=torch.bool, device=flat.device)
    for b, part in enumerate(torch.split(flat, list(counts))):
        out[b, : len(part)] = part
        mask[b, : len(part)] = True
    return out, mask


def micro_batches(samples: Sequence[TrainSample], size: int) -> list[list[int]]:
    """Indices of the samples with completion tokens, in micro-batches of similar length (less
    padding); samples without any have nothing to score and are left out."""
    order = sorted(
        (i for i, s in enumerate(samples) if s.positions), key=lambda i: -input_len(samples[i])
    )
    return [order[i : i + size] for i in range(0, len(order), size)]


def minibatches(
    groups: Sequence[Sequence[int]], k: int, seed: int | Sequence[int]
) -> list[list[int]]:
    """Deal whole micro-batches (`groups` of sample indices, as the learner scores them) into
    at most `k` minibatches of near-equal size, in a shuffled order set by `seed`. Whole groups
    keep each minibatch's micro-batches those of one big update (a shared prefix stays
    shared); the shuffle mixes the kinds of samples (seats, targets) across the steps."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    order = np.random.default_rng(seed).permutation(len(groups))
    parts: list[list[int]] = [[] for _ in range(min(k, len(groups)))]
    for g in sorted(order, key=lambda g: -len(groups[g])):  # largest first: sizes even out
        smallest = min(range(len(parts)), key=lambda p: len(parts[p]))
        parts[smallest].extend(groups[g])
    return parts


def input_len(sample: TrainSample) -> int:
    """Tokens the model must read: up to, not including, the last completion token (that one is
    only a target; whatever follows it cannot change an earlier token's log-prob)."""
    return sample.positions[-1]


def collate(
    samples: Sequence[TrainSample],
    *,
    pad_id: int | None,
    vocab_size: int,
    device: torch.device,
    allowed: torch.Tensor | None = None,
) -> Batch:
    """Right-pad `samples` into one `Batch` on `device`; `allowed` is the legal-move mask of their
    completion tokens (see `scoring.Scorer.legal_mask`), None when no turn is constrained."""
    lengths = [input_len(s) for s in samples]
    width = max(lengths)
    pad = 0 if pad_id is None else int(pad_id)
    ids = torch.full((len(samples), width), pad, dtype=torch.long)
    attention = torch.zeros((len(samples), width), dtype=torch.long)
    rows: list[int] = []
    for b, (sample, n) in enumerate(zip(samples, lengths, strict=True)):
        if max(sample.token_ids) >= vocab_size:
            raise ValueError(f"token id out of the model's vocabulary ({vocab_size})")
        ids[b, :n] = torch.tensor(sample.token_ids[:n], dtype=torch.long)
        attention[b, :n] = 1
        rows.extend(b * width + p - 1 for p in sample.positions)
    targets = [t for s in samples for t in s.completion_ids]
    behaviour = [x for s in samples for x in s.behaviour_logprobs]
    advantages = [a for s in samples for a in s.token_advantages]
    return Batch(
        input_ids=ids.to(device),
        attention_mask=attention.to(device),
        rows=torch.tensor(rows, dtype=torch.long, device=device),
        targets=torch.tensor(targets, dtype=torch.long, device=device),
        allowed=allowed,
        counts=[len(s.positions) for s in samples],
        behaviour=torch.tensor(behaviour, dtype=torch.float32, device=device),
        advantages=torch.tensor(advantages, dtype=torch.float32, device=device),
        sequence_tokens=sum(lengths),
    )
