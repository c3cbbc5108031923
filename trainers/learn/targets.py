"""Soft policy-improvement targets from the tabular critic of `advantage="decision_q"`.

In games whose decision states repeat (Kuhn poker has 12 information sets), the critic
(`algorithms.DecisionBaseline` with move keys) holds a running mean return Q(s, a) for
every legal move a it has seen played from state s. For a state whose legal moves all have one, the
target is the softmax policy improvement

    pi*(a | s) = softmax(Q(s, .) / temperature)

and the learner adds the cross-entropy -sum_a pi*(a | s) log pi(a | s), one sample per legal move
(its canonical tokens), weighted by how often s was visited in the batch. Its gradient in the
logits is pi - pi*: unlike a sampled policy gradient (whose push on a move is scaled by
p (1 - p)), it does not vanish as a move's probability goes to 0 or 1, and it moves every
state toward its own target, so a policy that ignores what it was dealt is corrected at every
state at once. Its fixed point is a logit (quantal response) equilibrium: the lower the
temperature, the closer to Nash.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trainers.episode import Trajectory, TurnTokens, decision_states
from trainers.learn.probe import completion_ids

__all__ = ["DecisionPoint", "decision_points", "soft_targets", "target_samples"]


def soft_targets(values: Mapping[str, float], temperature: float) -> dict[str, float]:
    """softmax(values / temperature) over the moves (a stable log-sum-exp)."""
    if not values:
        raise ValueError("soft_targets needs at least one move value")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be > 0, got {temperature}")
    top = max(values.values())
    weights = {m: math.exp((v - top) / temperature) for m, v in values.items()}
    total = sum(weights.values())
    return {m: w / total for m, w in weights.items()}


@dataclass(frozen=True)
class DecisionPoint:
    """A decision state visited in a batch, with what is needed to score every legal move."""

    role: Hashable
    state: str
    prompt: tuple[int, ...]
    choices: tuple[str, ...]
    version: int | None
    visits: int


def decision_points(
    trajectories: Sequence[Trajectory],
    roles: Sequence[Hashable],
    states: Sequence[Sequence[str]] | None = None,
) -> list[DecisionPoint]:
    """The distinct constrained decision states of the trajectories, with their visit counts.
    `states`: each trajectory's `decision_states`, when the caller has them already."""
    if states is None:
        states = [decision_states(t) for t in trajectories]
    first: dict[tuple[Hashable, str], tuple[Trajectory, TurnTokens]] = {}
    visits: Counter[tuple[Hashable, str]] = Counter()
    for traj, role, keys in zip(trajectories, roles, states, strict=True):
        for turn, state in zip(traj.turns, keys, strict=True):
            if turn.choices:
                first.setdefault((role, state), (traj, turn))
                visits[(role, state)] += 1
    return [
        DecisionPoint(
            role,
            state,
            tuple(traj.token_ids[: turn.start]),
            tuple(turn.choices),
            turn.version,
            visits[(role, state)],
        )
        for (role, state), (traj, turn) in first.items()
    ]


def target_samples(
    points: Sequence[DecisionPoint],
    critic: Any,
    tokenizer: Any,
    coef: float,
    temperature: float,
) -> list[Any]:
    """One `TrainSample` per legal move of every point where the critic values at least one move;
    its advantage is coef * visits * pi*(move), so that the REINFORCE-form loss -A log pi sums to
    coef * visits * cross-entropy(pi*, pi). A move not yet valued is taken to be worth the
    state's value V(s), neither better nor worse than the play there so far: without that, a
    move the policy has nearly stopped playing would never get a value, and its state no target.
    Their behaviour log-probs are NaN: nobody sampled these tokens, and the learner's loss takes
    the weights before its step as their behaviour policy (`objective.micro_batch_loss`)."""
    from trainers.learn.samples import TrainSample

    samples = []
    for point in points:
        known = {m: critic.action_value(point.role, point.state, m) for m in point.choices}
        if all(v is None for v in known.values()):
            continue  # nothing valued from here yet: no target
        state_value = critic.baseline(point.role, point.state)
        values = {m: state_value if v is None else v for m, v in known.items()}
        for move, prob in soft_targets(values, temperature).items():
            ids = completion_ids(tokenizer, move)  # its own spelling, then end-of-sequence
            turn = TurnTokens(
                len(point.prompt), ids, (math.nan,) * len(ids), point.version, point.choices, move
            )
            samples.append(TrainSample((*point.prompt, *ids), (turn,), coef * point.visits * prob))
    return samples
