"""A trust region on the policy an update may move: TRPO's line search at the batch's decisions.

With one Adam step per iteration, each LoRA weight moves by about the learning rate whatever
the gradient's size (Adam divides by its running scale), so a step's effect on the policy is
set by the lr, not by how far the targets are. In self-play the targets swing, and a step that
suits one iteration lurches the whole policy in the next: in Kuhn poker every card went from
betting with probability 0.08 to 1.00 in two updates, and a policy that had told the J from the
K folded every card to a bet after one more (the K's own target said call). A small adapter
shares its weights across information sets, so such a common-mode push hits every state at once.

The fix is the trust region of TRPO (Schulman et al. 2015), measured where it matters: the
mean KL(old || new) of the move distributions at the update's own decision states, weighted by
visits. An update that moves the policy further than `max_kl` is shrunk back along its
direction, weights = old + alpha * (new - old), with alpha found by a few backtracking
steps. The optimizer's state keeps the full step's statistics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from trainers.learn.targets import DecisionPoint

__all__ = ["TrustRegionResult", "mean_policy_kl", "trust_region_step"]

MAX_POINTS = 64
"""The most-visited decision states measured (each costs a forward pass of its legal moves)."""
BACKTRACKS = 4
"""Line-search steps before settling for the smallest step tried."""


def mean_policy_kl(
    old: Sequence[Mapping[str, float]],
    new: Sequence[Mapping[str, float]],
    weights: Sequence[float],
) -> float:
    """sum_s w_s KL(old_s || new_s) / sum_s w_s over states s (each a move -> probability
    map over the same moves); a move the new policy gives 0 makes it infinite."""
    if not (len(old) == len(new) == len(weights)) or not old:
        raise ValueError("mean_policy_kl needs as many old, new and weights, at least one")
    total = 0.0
    for p, q, w in zip(old, new, weights, strict=True):
        kl = 0.0
        for move, pm in p.items():
            if pm > 0:
                qm = q[move]
                kl += math.inf if qm <= 0 else pm * math.log(pm / qm)
        total += w * kl
    return total / sum(weights)


@dataclass(frozen=True)
class TrustRegionResult:
    kl_full: float
    """KL of the optimizer's full step."""
    kl: float
    """KL of the step kept."""
    alpha: float
    """Share of the full step kept (1: inside the region)."""

    def stats(self) -> dict[str, float]:
        return {"trust_kl_full": self.kl_full, "trust_kl": self.kl, "trust_alpha": self.alpha}


def measured_points(points: Sequence[DecisionPoint]) -> list[DecisionPoint]:
    """The decision states a trust region is measured on: the `MAX_POINTS` most visited (with
    at least two legal moves: a forced move cannot change)."""
    mixed = [p for p in points if len(p.choices) > 1]
    return sorted(mixed, key=lambda p: -p.visits)[:MAX_POINTS]


def trust_region_step(
    learner: Any,
    adapter: str,
    points: Sequence[DecisionPoint],
    update: Any,
    max_kl: float,
) -> tuple[Any, TrustRegionResult | None]:
    """Run `update()` (one optimizer step of `adapter`) and shrink it into the trust region:
    (what `update` returned, the result; None when there was nothing to measure). The first
    backtrack aims at alpha = sqrt(max_kl / kl) (KL grows as alpha^2 for small steps), each later
    one halves alpha; after `BACKTRACKS` the smallest step tried is kept."""
    if not max_kl > 0:
        raise ValueError(f"max_kl must be > 0, got {max_kl}")
    points = measured_points(points)
    if not points:
        return update(), None
    from trainers.learn.probe import many_move_probabilities

    decisions = [(p.prompt, p.choices) for p in points]
    weights = [float(p.visits) for p in points]
    old = many_move_probabilities(learner, adapter, decisions, learner.tokenizer)

    def moved() -> float:  # the mean KL of the adapter's policy now from `old`
        new = many_move_probabilities(learner, adapter, decisions, learner.tokenizer)
        return mean_policy_kl(old, new, weights)

    before, _ = learner.adapter_weights(adapter)
    out = update()
    after, _ = learner.adapter_weights(adapter)
    kl_full = kl = moved()
    alpha = 1.0
    for i in range(BACKTRACKS):
        if kl <= max_kl:
            break
        guess = math.sqrt(max_kl / kl) if math.isfinite(kl) else 0.1
        alpha *= min(0.5, 0.9 * guess) if i else min(0.9, 0.9 * guess)
        learner.set_adapter_weights(adapter, _between(before, after, alpha))
        kl = moved()
    return out, TrustRegionResult(kl_full, kl, alpha)


def _between(
    before: Mapping[str, torch.Tensor], after: Mapping[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """before + alpha * (after - before), weight by weight."""
    return {k: torch.lerp(before[k], after[k], alpha) for k in before}
