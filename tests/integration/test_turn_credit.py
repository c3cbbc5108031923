"""Per-turn rewards from real games (the tiny model through the HF server) and the per-turn
credit the `turn_ema` estimator builds from them."""

from __future__ import annotations

import pytest

from trainers.learn.estimators import make_estimator
from trainers.rollout import MatchSpec, Rollout, Seat

pytestmark = pytest.mark.slow


def test_turn_rewards_split_the_episode_return_by_turn(hf_server, adapters):
    ref = hf_server.publish("quiz", *adapters[0])
    rollout = Rollout(
        hf_server, "team_quiz_v0", {"questions": 2, "kinds": ["larger", "smaller"]},
        payoff="team_battle",
    )  # fmt: skip
    seats = {
        "red_0": Seat("main", adapter=ref, learning=True),
        "red_1": Seat("main", adapter=ref, learning=True),
        "blue_0": Seat("bot", bot="random"),
        "blue_1": Seat("bot", bot="random"),
    }
    # A question ties (both teams right or both wrong: no reward) about half the time, so the
    # first question of all 6 games tied in about 2% of runs; of 16 games, about 1 in 65,000.
    episodes = rollout.play([MatchSpec(seed, seats) for seed in range(16)])
    per_question = []
    for ep in episodes:
        for agent in ("red_0", "red_1"):
            t = ep.trajectories[agent]
            assert len(t.turn_rewards) == len(t.turns) >= 2
            assert sum(t.turn_rewards) == pytest.approx(t.episode_return)
            per_question.append(t.turn_rewards)
    # The quiz scores question by question: some turn carries a reward before the last one.
    assert any(rewards[0] != 0 for rewards in per_question)

    estimator = make_estimator("turn_ema", gamma=0.0)
    trajs = [ep.trajectories["red_0"] for ep in episodes]
    estimate = estimator.estimate(trajs, [("quiz", "red_0")] * len(trajs))
    for t, adv in zip(trajs, estimate.advantages, strict=True):
        assert adv == pytest.approx(t.turn_rewards)  # a fresh baseline is 0: A_k = r_k
