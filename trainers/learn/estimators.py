"""Advantage estimators by name: how a batch of trajectories becomes one advantage per
trajectory (or one per turn), and what state the estimator keeps between iterations.

    estimator = make_estimator("role_ema")
    estimate = estimator.estimate(trajectories, roles)   # uses, then updates, its baselines
    samples = samples_from_trajectories(trajectories, estimate.advantages)

Each estimator has `state_dict()` / `load_state_dict()` (None for a stateless one), so a
checkpoint carries it. The baselines themselves are pure (`algorithms.advantages`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from trainers.episode import Trajectory, decision_moves, decision_states

__all__ = ["ESTIMATORS", "AdvantageEstimator", "Estimate", "make_estimator"]

Advantages = list[float] | list[tuple[float, ...]]


@dataclass(frozen=True)
class Estimate:
    """One advantage per trajectory (a number, or one per turn); per-decision estimators also
    hand back each trajectory's decision states (for `targets`)."""

    advantages: Advantages
    states: list[tuple[str, ...]] | None = None


class AdvantageEstimator(Protocol):
    #: The per-decision critic (`DecisionBaseline`) when the estimator has one, else None.
    critic: Any

    def estimate(self, trajectories: Sequence[Trajectory], roles: Sequence[Hashable]) -> Estimate:
        """Advantages under the baselines as they are now; then fold these returns in."""
        ...

    def state_dict(self) -> dict[str, Any] | None: ...

    def load_state_dict(self, state: Mapping[str, Any] | None) -> None: ...


def _returns(trajectories: Sequence[Trajectory]) -> list[float]:
    return [t.episode_return for t in trajectories]


class GroupEstimator:
    """Each return minus the mean of its role's group in this batch (GRPO-style); no state."""

    critic = None

    def estimate(self, trajectories: Sequence[Trajectory], roles: Sequence[Hashable]) -> Estimate:
        import torch

        from trainers.learn.algorithms import group_baseline_advantages

        rewards = torch.tensor(_returns(trajectories))
        return Estimate([float(x) for x in group_baseline_advantages(rewards, roles)])

    def state_dict(self) -> None:
        return None

    def load_state_dict(self, state: Mapping[str, Any] | None) -> None:
        return None


class RoleEMAEstimator:
    """SPIRAL's role-conditioned EMA baseline (`algorithms.RoleBaseline`)."""

    critic = None

    def __init__(self) -> None:
        from trainers.learn.algorithms import RoleBaseline

        self.baseline = RoleBaseline()

    def estimate(self, trajectories: Sequence[Trajectory], roles: Sequence[Hashable]) -> Estimate:
        import torch

        rewards = torch.tensor(_returns(trajectories))
        adv = self.baseline.advantages(rewards, roles)
        self.baseline.update(rewards, roles)
        return Estimate([float(x) for x in adv])

    def state_dict(self) -> dict[str, Any]:
        return self.baseline.state_dict()

    def load_state_dict(self, state: Mapping[str, Any] | None) -> None:
        if state is not None:
            self.baseline.load_state_dict(state)


class DecisionEstimator:
    """A baseline per role and decision state (`algorithms.DecisionBaseline`), one advantage per
    turn; with `use_q` the return is replaced by the running mean return of the same move from
    the same state once known (a tabular critic)."""

    def __init__(self, use_q: bool) -> None:
        from trainers.learn.algorithms import DecisionBaseline

        self.use_q = use_q
        self.critic = DecisionBaseline()

    def estimate(self, trajectories: Sequence[Trajectory], roles: Sequence[Hashable]) -> Estimate:
        rewards = _returns(trajectories)
        states = [decision_states(t) for t in trajectories]
        moves = [decision_moves(t) for t in trajectories] if self.use_q else None
        per_turn = self.critic.advantages(rewards, roles, states, moves)
        self.critic.update(rewards, roles, states, moves)
        return Estimate(per_turn, states)

    def state_dict(self) -> dict[str, Any]:
        return self.critic.state_dict()

    def load_state_dict(self, state: Mapping[str, Any] | None) -> None:
        if state is not None:
            self.critic.load_state_dict(state)


#: name -> a fresh estimator (see `trainers.config` for what each means).
ESTIMATORS: dict[str, Callable[[], AdvantageEstimator]] = {
    "role_ema": RoleEMAEstimator,
    "decision_ema": lambda: DecisionEstimator(use_q=False),
    "decision_q": lambda: DecisionEstimator(use_q=True),
    "group": GroupEstimator,
}


def make_estimator(name: str) -> AdvantageEstimator:
    if name not in ESTIMATORS:
        raise ValueError(f"unknown advantage {name!r}; choose one of {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name]()
