"""The per-turn credit estimator: returns-to-go, a baseline per role and turn, the fallback."""

from __future__ import annotations

import json

import pytest

from trainers.episode import Trajectory, TurnTokens
from trainers.learn.estimators import make_estimator, returns_to_go


def traj(turn_rewards: tuple[float, ...], n_turns: int | None = None) -> Trajectory:
    n = len(turn_rewards) if n_turns is None else n_turns
    turns = [TurnTokens(i, (1,), (0.0,), 1) for i in range(n)]
    return Trajectory(
        "red_0", "main", "red", ("main", 1), True, turns=turns,
        episode_return=sum(turn_rewards), turn_rewards=turn_rewards,
    )  # fmt: skip


def test_returns_to_go():
    assert returns_to_go([0.5, -0.5, 1.0], 1.0) == [1.0, 0.5, 1.0]
    assert returns_to_go([0.5, -0.5, 1.0], 0.0) == [0.5, -0.5, 1.0]
    assert returns_to_go([0.0, 1.0], 0.5) == [0.5, 1.0]


def test_each_turn_is_scored_against_its_own_baseline():
    est = make_estimator("turn_ema", gamma=0.0)
    role = ("main", "red_0")
    first = est.estimate([traj((0.5, -0.5))], [role]).advantages
    assert first == [pytest.approx((0.5, -0.5))]
    # The baselines moved toward +0.5 (turn 0) and -0.5 (turn 1), each on its own.
    second = est.estimate([traj((0.5, -0.5))], [role]).advantages[0]
    assert 0 < second[0] < 0.5 and -0.5 < second[1] < 0
    assert second[0] == pytest.approx(-second[1])


def test_without_turn_rewards_every_turn_gets_the_episode_return():
    est = make_estimator("turn_ema", gamma=1.0)
    t = traj((), n_turns=3)
    t.episode_return = 0.75
    assert est.estimate([t], [("main", "red_0")]).advantages == [pytest.approx((0.75,) * 3)]


def test_state_survives_json_and_gamma_is_checked():
    est = make_estimator("turn_ema", gamma=0.0)
    est.estimate([traj((1.0, 0.0))], [("main", "red_0")])
    clone = make_estimator("turn_ema", gamma=0.0)
    clone.load_state_dict(json.loads(json.dumps(est.state_dict())))
    t = traj((0.0, 1.0))
    assert clone.estimate([t], [("main", "red_0")]).advantages == est.estimate(
        [t], [("main", "red_0")]
    ).advantages
    with pytest.raises(ValueError, match="gamma"):
        make_estimator("turn_ema", gamma=1.5)
