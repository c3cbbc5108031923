"""Advantages from episode rewards: group baselines (GRPO-style) and role baselines (SPIRAL).

Both turn one scalar reward per sample (an agent's return for one episode) into one scalar
advantage per sample; the loss broadcasts it over that agent's tokens. A baseline only lowers
variance, it never biases the gradient, as long as it does not depend on the sample it is
subtracted from (the group mean includes the sample, a known and accepted bias of GRPO; the role
baseline excludes it).

- `group_baseline_advantages`: A_i = r_i - mean(r in group_i), optionally divided by
  std(r in group_i) + eps.
  A group is what should be compared like for like: the same game seed, the same role, the same
  prompt. Singleton groups get A = 0 (no comparison, no signal), as in GRPO.
- `RoleBaseline`: SPIRAL's role-conditioned advantage estimation. In a zero-sum self-play game both
  seats share one policy, but the first player may win far more often than the second; one shared
  baseline would teach the policy "seat 0 is good". A running baseline per role key
  (e.g. (env_id, agent_role)) removes each role's expected return instead.
- `DecisionBaseline`: one baseline per decision, not per episode: a running mean of return per
  (role, state the agent decided in), where the state is whatever identifies what the agent saw
  (the trainer uses a hash of its chat up to that turn). It is a tabular value function V(s) for
  games whose decisions repeat (Kuhn poker has 12 information sets): A_t = R - V(s_t) credits each
  move with how much better than usual it did from where it was taken, instead of crediting every
  move of a hand dealt a king. A state seen fewer than `min_count` times falls back to its role's
  baseline, so games whose states never repeat get exactly the role baseline.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import torch

__all__ = ["DecisionBaseline", "RoleBaseline", "group_baseline_advantages"]


def _as_rewards(rewards: torch.Tensor | Sequence[float]) -> torch.Tensor:
    rewards = torch.as_tensor(rewards)
    if not rewards.is_floating_point():
        rewards = rewards.to(torch.float32)
    if rewards.dim() != 1:
        raise ValueError(f"rewards must be 1-D [B], got shape {tuple(rewards.shape)}")
    return rewards


def _group_index(group_ids: torch.Tensor | Sequence[Hashable], size: int) -> torch.Tensor:
    """Dense group index in [0, G) per sample, from int tensors or any hashable ids."""
    if isinstance(group_ids, torch.Tensor):
        if group_ids.shape != (size,):
            raise ValueError(f"group_ids must have shape ({size},), got {tuple(group_ids.shape)}")
        return torch.unique(group_ids, return_inverse=True)[1]
    if len(group_ids) != size:
        raise ValueError(f"got {len(group_ids)} group ids for {size} rewards")
    dense: dict[Hashable, int] = {}
    return torch.tensor([dense.setdefault(g, len(dense)) for g in group_ids], dtype=torch.long)


def group_baseline_advantages(
    rewards: torch.Tensor | Sequence[float],
    group_ids: torch.Tensor | Sequence[Hashable],
    normalize_std: bool = False,
    eps: float = 1e-6,
) -> torch.Tensor:
    """GRPO-style advantages: each reward minus its group's mean, optionally over its group's std.

    `rewards` is [B]; `group_ids` is a [B] integer tensor or a sequence of B hashable ids (tuples
    such as (game_seed, role) work). The std is the unbiased sample std (n - 1), as TRL's GRPO uses;
    a singleton group has std 0 and advantage 0. Dividing by the std rescales every group to unit
    spread, which helps when groups differ in reward scale but up-weights near-ties (Dr. GRPO
    argues against it), hence the flag. Returns a [B] tensor with the rewards' dtype and device.
    """
    rewards = _as_rewards(rewards)
    index = _group_index(group_ids, rewards.shape[0]).to(rewards.device)
    n_groups = int(index.max()) + 1 if index.numel() else 0
    counts = torch.bincount(index, minlength=n_groups).to(rewards.dtype)
    sums = torch.zeros(n_groups, dtype=rewards.dtype, device=rewards.device)
    means = sums.index_add(0, index, rewards) / counts.clamp(min=1)
    centred = rewards - means[index]
    # A group of equal rewards is a tie: its mean can miss them by a rounding error, which the
    # std normalisation would blow up by 1/eps into a small signal where there is none.
    lows = torch.full_like(sums, math.inf).scatter_reduce(0, index, rewards, "amin")
    highs = torch.full_like(sums, -math.inf).scatter_reduce(0, index, rewards, "amax")
    centred = torch.where((lows == highs)[index], torch.zeros_like(centred), centred)
    if not normalize_std:
        return centred
    squares = torch.zeros_like(sums).index_add(0, index, centred.square())
    std = (squares / (counts - 1).clamp(min=1)).sqrt()
    return centred / (std[index] + eps)


# Role keys must survive a JSON round trip: scalars, or tuples (stored as lists) of scalars.
_Scalar = (str, int, float, bool, type(None))


def _check_key(key: Hashable) -> None:
    if isinstance(key, tuple):
        for part in key:
            _check_key(part)
    elif not isinstance(key, _Scalar):
        raise TypeError(
            f"role key {key!r} must be a str/int/float/bool/None or a tuple of them, "
            "so that checkpoints stay plain JSON"
        )


def _key_from_json(value: Any) -> Hashable:
    if isinstance(value, list):
        return tuple(_key_from_json(v) for v in value)
    return value


def _key_to_json(key: Hashable) -> Any:
    if isinstance(key, tuple):
        return [_key_to_json(k) for k in key]
    return key


class RoleBaseline:
    """SPIRAL's role-conditioned advantage: an exponential moving average of return per role key.

    Call `advantages(rewards, roles)` first, then `update(rewards, roles)`: a batch is scored
    against the baseline of the batches before it, so no sample's reward is in its own baseline.
    (SPIRAL's Algorithm 1 folds each trajectory in just before scoring it, so there a baseline
    also holds a (1 - alpha) share of the sample's own reward; at alpha = 0.95 the two differ
    little.) The update folds rewards
    in one at a time, b <- alpha * b + (1 - alpha) * r, as SPIRAL does per trajectory; alpha = 0.95
    is SPIRAL's "EMA decay rate". A role never seen has baseline `initial` (SPIRAL starts at 0, the
    value of a fair zero-sum game).
    """

    def __init__(self, alpha: float = 0.95, initial: float = 0.0) -> None:
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"alpha must lie in [0, 1), got {alpha}")
        self.alpha = float(alpha)
        self.initial = float(initial)
        self._baselines: dict[Hashable, float] = {}
        self._counts: dict[Hashable, int] = {}

    def baseline(self, role: Hashable) -> float:
        """The current baseline of `role` (`initial` until the role is first updated)."""
        return self._baselines.get(role, self.initial)

    def count(self, role: Hashable) -> int:
        """How many rewards of `role` have been folded into its baseline."""
        return self._counts.get(role, 0)

    @property
    def baselines(self) -> Mapping[Hashable, float]:
        """A copy of every role's baseline, for logging."""
        return dict(self._baselines)

    def advantages(
        self, rewards: torch.Tensor | Sequence[float], roles: Sequence[Hashable]
    ) -> torch.Tensor:
        """A_i = r_i - b[role_i], with the baselines as they are now (no update)."""
        rewards = _as_rewards(rewards)
        if len(roles) != rewards.shape[0]:
            raise ValueError(f"got {len(roles)} roles for {rewards.shape[0]} rewards")
        base = torch.tensor(
            [self.baseline(r) for r in roles], dtype=rewards.dtype, device=rewards.device
        )
        return rewards - base

    def update(self, rewards: torch.Tensor | Iterable[float], roles: Sequence[Hashable]) -> None:
        """Fold each (reward, role) into that role's moving average, in order."""
        values = [float(r) for r in torch.as_tensor(rewards).flatten().tolist()]
        if len(values) != len(roles):
            raise ValueError(f"got {len(roles)} roles for {len(values)} rewards")
        for reward, role in zip(values, roles, strict=True):
            _check_key(role)
            if math.isnan(reward):
                continue
            old = self.baseline(role)
            self._baselines[role] = self.alpha * old + (1.0 - self.alpha) * reward
            self._counts[role] = self.count(role) + 1

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON data (role keys as lists where they are tuples)."""
        return {
            "alpha": self.alpha,
            "initial": self.initial,
            "roles": [
                {"role": _key_to_json(k), "baseline": v, "count": self._counts.get(k, 0)}
                for k, v in self._baselines.items()
            ],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict()` returned (after a JSON round trip or not)."""
        if "states" in state:
            raise ValueError(
                "this checkpoint holds per-decision baselines (advantage=decision_ema or "
                "decision_q); resume with the same advantage setting"
            )
        self.alpha = float(state["alpha"])
        self.initial = float(state["initial"])
        self._baselines = {}
        self._counts = {}
        for entry in state["roles"]:
            key = _key_from_json(entry["role"])
            self._baselines[key] = float(entry["baseline"])
            self._counts[key] = int(entry["count"])


def _decisions(
    rewards: torch.Tensor | Sequence[float],
    roles: Sequence[Hashable],
    states: Sequence[Sequence[Hashable]],
    actions: Sequence[Sequence[Hashable]] | None,
) -> list[tuple[float, Hashable, list[tuple[Hashable, Hashable]]]]:
    """Per sample: (return, role, [(state, move or None), ...]), every length checked."""
    values = _as_rewards(rewards).tolist()
    if not len(values) == len(roles) == len(states):
        raise ValueError(f"got {len(values)} rewards, {len(roles)} roles, {len(states)} states")
    if actions is not None and len(actions) != len(values):
        raise ValueError(f"got {len(actions)} action lists for {len(values)} rewards")
    out = []
    for i, (reward, role, seq) in enumerate(zip(values, roles, states, strict=True)):
        moves = (None,) * len(seq) if actions is None else actions[i]
        if len(moves) != len(seq):
            raise ValueError(f"sample {i}: {len(moves)} actions for {len(seq)} states")
        out.append((reward, role, list(zip(seq, moves, strict=True))))
    return out


class DecisionBaseline:
    """Per-decision baseline: an EMA of return per (role, state), the role's EMA as a fallback.

    A state's baseline depends only on where the agent stood before the move, never on the move,
    so subtracting it leaves the policy gradient unbiased (Williams 1992; Sutton & Barto 13.4).
    Use as `RoleBaseline`: `advantages(...)` first, then `update(...)`. `states[i]` lists the state
    keys of sample i's decisions in order; advantages come back as one tuple per sample, one value
    per decision. Each entry (a state's value, or a move's from a state) is a running mean over its
    first 1 / (1 - alpha) visits, an EMA after (so a young entry carries no start-up bias). At most
    `max_states` entries are kept (least recently updated dropped first), so a game whose states
    never repeat does not grow the checkpoint without bound.
    """

    def __init__(self, alpha: float = 0.95, min_count: int = 4, max_states: int = 50_000) -> None:
        if min_count < 1 or max_states < 1:
            raise ValueError(
                f"min_count and max_states must be >= 1, got {min_count} and {max_states}"
            )
        self.roles = RoleBaseline(alpha)
        self.min_count = int(min_count)
        self.max_states = int(max_states)
        # (role, state) -> [baseline, count], most recently seen last.
        self._states: OrderedDict[tuple[Hashable, Hashable], list[float]] = OrderedDict()

    def baseline(self, role: Hashable, state: Hashable) -> float:
        entry = self._states.get((role, ("v", state)))
        if entry is None or entry[1] < self.min_count:
            return self.roles.baseline(role)
        return entry[0]

    def count(self, role: Hashable, state: Hashable) -> int:
        entry = self._states.get((role, ("v", state)))
        return 0 if entry is None else int(entry[1])

    def __len__(self) -> int:
        """Entries tracked (state values and move values)."""
        return len(self._states)

    def action_value(self, role: Hashable, state: Hashable, action: Hashable) -> float | None:
        """The EMA of return after `action` in `state`; None until seen `min_count` times."""
        entry = self._states.get((role, ("q", state, action)))
        return None if entry is None or entry[1] < self.min_count else entry[0]

    def advantages(
        self,
        rewards: torch.Tensor | Sequence[float],
        roles: Sequence[Hashable],
        states: Sequence[Sequence[Hashable]],
        actions: Sequence[Sequence[Hashable]] | None = None,
    ) -> list[tuple[float, ...]]:
        """A_{i,t} = r_i - b(role_i, states_i[t]), with the baselines as they are now.

        With `actions` (sample i's move keys, one per state), the sample's return r_i is replaced
        by the running mean return of that move from that state, Q(s, a), once known: a tabular
        critic, A = Q(s, a) - V(s), which averages out the deal and the other players' replies
        (lower variance; biased by how far the policy moved since those returns were seen).
        """
        return [
            tuple(self._return(r, role, s, a) - self.baseline(role, s) for s, a in decisions)
            for r, role, decisions in _decisions(rewards, roles, states, actions)
        ]

    def _return(self, reward: float, role: Hashable, state: Hashable, action: Hashable) -> float:
        q = None if action is None else self.action_value(role, state, action)
        return reward if q is None else q

    def update(
        self,
        rewards: torch.Tensor | Sequence[float],
        roles: Sequence[Hashable],
        states: Sequence[Sequence[Hashable]],
        actions: Sequence[Sequence[Hashable]] | None = None,
    ) -> None:
        """Fold each sample's return into its role's baseline, into each of its states' and, with
        `actions`, into each (state, move)'s."""
        updates = []  # checked before anything changes: a bad key must not corrupt the state
        samples = _decisions(rewards, roles, states, actions)
        for reward, role, decisions in samples:
            _check_key(role)
            for state, action in decisions:
                keys = [("v", state)] if action is None else [("v", state), ("q", state, action)]
                for key in keys:
                    _check_key(key)
                    if not math.isnan(reward):
                        updates.append(((role, key), reward))
        for key, reward in updates:
            entry = self._states.pop(key, None) or [0.0, 0]
            entry[1] += 1
            step = max(1.0 - self.roles.alpha, 1.0 / entry[1])  # a running mean, then the EMA
            entry[0] += step * (reward - entry[0])
            self._states[key] = entry
        self.roles.update([r for r, _, _ in samples], roles)
        while len(self._states) > self.max_states:
            self._states.popitem(last=False)

    def state_dict(self) -> dict[str, Any]:
        return {
            "roles": self.roles.state_dict(),
            "min_count": self.min_count,
            "max_states": self.max_states,
            "states": [
                {"role": _key_to_json(r), "state": _key_to_json(s), "baseline": b, "count": n}
                for (r, s), (b, n) in self._states.items()
            ],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if "states" not in state:  # a checkpoint of a run that used the role baseline
            self.roles.load_state_dict(state)
            self._states = OrderedDict()
            return
        self.roles.load_state_dict(state["roles"])
        # The checkpoint's settings win: they are what its entries were built with.
        self.min_count = int(state["min_count"])
        self.max_states = int(state["max_states"])
        if self.min_count < 1 or self.max_states < 1:
            raise ValueError(f"bad decision baseline settings in the checkpoint: {state}")
        self._states = OrderedDict(
            (
                (_key_from_json(e["role"]), _key_from_json(e["state"])),
                [float(e["baseline"]), int(e["count"])],
            )
            for e in state["states"]
        )
