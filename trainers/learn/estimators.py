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

    def __init__(self, use_q: bool, alpha: float = 0.95) -> None:
        from trainers.learn.algorithms import DecisionBaseline

        self.use_q = use_q
        self.critic = DecisionBaseline(alpha)

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


def returns_to_go(turn_rewards: Sequence[float], gamma: float) -> list[float]:
    """G_k = sum over j >= k of gamma^(j - k) * r_j, for each turn k."""
    out, running = [], 0.0
    for r in reversed(turn_rewards):
        running = r + gamma * running
        out.append(running)
    return out[::-1]


class TurnEstimator:
    """Per-turn credit: each turn is scored by its own return-to-go (`returns_to_go` of the
    rewards that arrived after it, `Trajectory.turn_rewards`) minus an EMA baseline per role and
    turn index. With gamma < 1 a move answers mostly for what followed it soon: in a quiz whose
    questions are scored one by one, gamma = 0 credits each answer with its own question only,
    where the episode return would add every other question's outcome as noise. A trajectory
    without per-turn rewards falls back to its episode return at every turn."""

    critic = None

    def __init__(self, gamma: float = 1.0) -> None:
        from trainers.learn.algorithms import RoleBaseline

        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must lie in [0, 1], got {gamma}")
        self.gamma = gamma
        self.baseline = RoleBaseline()

    def estimate(self, trajectories: Sequence[Trajectory], roles: Sequence[Hashable]) -> Estimate:
        returns: list[float] = []
        keys: list[Hashable] = []
        for t, role in zip(trajectories, roles, strict=True):
            if t.turn_rewards and len(t.turn_rewards) == len(t.turns):
                per_turn = returns_to_go(t.turn_rewards, self.gamma)
            else:
                per_turn = [t.episode_return] * len(t.turns)
            returns += per_turn
            keys += [(role, k) for k in range(len(per_turn))]
        flat = [float(a) for a in self.baseline.advantages(returns, keys)]
        self.baseline.update(returns, keys)
        advantages, start = [], 0
        for t in trajectories:
            advantages.append(tuple(flat[start : start + len(t.turns)]))
            start += len(t.turns)
        return Estimate(advantages)

    def state_dict(self) -> dict[str, Any]:
        return self.baseline.state_dict()

    def load_state_dict(self, state: Mapping[str, Any] | None) -> None:
        if state is not None:
            self.baseline.load_state_dict(state)


#: name -> a fresh estimator, given the learn options (see `trainers.config` for each).
ESTIMATORS: dict[str, Callable[..., AdvantageEstimator]] = {
    "role_ema": lambda **_: RoleEMAEstimator(),
    "decision_ema": lambda critic_alpha=0.95, **_: DecisionEstimator(False, critic_alpha),
    "decision_q": lambda critic_alpha=0.95, **_: DecisionEstimator(True, critic_alpha),
    "group": lambda **_: GroupEstimator(),
    "turn_ema": lambda gamma=1.0, **_: TurnEstimator(gamma),
}


def make_estimator(name: str, **options: Any) -> AdvantageEstimator:
    """A fresh estimator; `options` (`gamma`, `critic_alpha`) go to those that take them."""
    if name not in ESTIMATORS:
        raise ValueError(f"unknown advantage {name!r}; choose one of {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name](**options)
