"""The advantage-estimator registry: names, the same numbers as the pure baselines, state."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from trainers.learn.algorithms import RoleBaseline, group_baseline_advantages
from trainers.learn.estimators import ESTIMATORS, make_estimator


def trajs(returns):
    return [SimpleNamespace(episode_return=r) for r in returns]


def test_every_name_builds_and_an_unknown_one_says_what_exists():
    assert set(ESTIMATORS) == {"role_ema", "decision_ema", "decision_q", "group", "turn_ema"}
    for name in ESTIMATORS:
        make_estimator(name)
    with pytest.raises(ValueError, match="choose one of role_ema"):
        make_estimator("gae")


def test_group_and_role_estimates_match_the_pure_baselines():
    roles = ["a", "a", "b", "b"]
    returns = [1.0, 3.0, -1.0, 0.0]
    group = make_estimator("group").estimate(trajs(returns), roles)
    expected = group_baseline_advantages(torch.tensor(returns), roles).tolist()
    assert group.advantages == pytest.approx(expected) and group.states is None
    role = make_estimator("role_ema")
    reference = RoleBaseline()
    for _ in range(2):  # the second call sees the baselines the first one moved
        got = role.estimate(trajs(returns), roles).advantages
        want = reference.advantages(torch.tensor(returns), roles).tolist()
        reference.update(torch.tensor(returns), roles)
        assert got == pytest.approx(want)
    assert got != pytest.approx(returns)


def test_state_dict_round_trip_restores_the_baselines():
    role = make_estimator("role_ema")
    role.estimate(trajs([2.0, -1.0]), ["a", "b"])
    again = make_estimator("role_ema")
    again.load_state_dict(role.state_dict())
    assert again.state_dict() == role.state_dict()
    assert make_estimator("group").state_dict() is None
    make_estimator("group").load_state_dict(None)


class _Recorded(Exception):
    pass


class _RecordingEstimator:
    """Captures the baseline keys LearnStep hands over, then stops the update."""

    critic = None

    def estimate(self, trajectories, roles):
        self.keys = list(roles)
        raise _Recorded


def _game(opponent: str, seed: int):
    from trainers.episode import Episode, Trajectory

    turn = SimpleNamespace(choices=("[cooperate]", "[defect]"), start=0, version=1)
    me = Trajectory("player_0", "main", "player_0", ("main-all", 1), True, turns=[turn])
    other = Trajectory("player_1", opponent, "player_1", None, False)
    return Episode("prisoners_dilemma_v0", seed, 1, "mixed", 0.0,
                   {"player_0": me, "player_1": other}, False, None, "")  # fmt: skip


@pytest.mark.parametrize("by_opponent", [False, True])
def test_baselines_are_kept_per_opponent_when_asked(by_opponent):
    """baseline_by_opponent: a game against always-defect gets its own baseline, not the one of
    the family's own games; off, the role alone keys it, as before."""
    from trainers.config_groups import LearnConfig
    from trainers.learn.step import LearnStep

    config = LearnConfig(adaptive=False, baseline_by_opponent=by_opponent)
    step = LearnStep(SimpleNamespace(adapter_names=["main-all"]), config)
    step.estimator = recorder = _RecordingEstimator()
    with pytest.raises(_Recorded):
        step([_game("bot:always_defect", 0), _game("main", 1)])
    if by_opponent:
        assert recorder.keys == [("main-all", "player_0", ("bot:always_defect",)),
                                 ("main-all", "player_0", ("main",))]  # fmt: skip
    else:
        assert recorder.keys == [("main-all", "player_0")] * 2


def test_q_targets_read_the_critic_under_the_keys_it_was_updated_with():
    """With decision_q targets, the points and the targets use the per-opponent keys the critic
    was just updated under; with the role alone they would find no value and make no target."""
    from trainers.config_groups import LearnConfig
    from trainers.learn.estimators import Estimate
    from trainers.learn.step import LearnStep

    config = LearnConfig(adaptive=False, baseline_by_opponent=True, advantage="decision_q",
                         q_target_coef=1.0)  # fmt: skip
    step = LearnStep(SimpleNamespace(adapter_names=["main-all"]), config)

    class Critic:
        def estimate(self, trajectories, roles):
            self.keys = list(roles)
            return Estimate([0.0] * len(roles), [("round 1",)] * len(roles))

    step.estimator = critic = Critic()
    seen = {}

    def targets(trajs, roles, estimate, states, points):
        seen["roles"], seen["points"] = list(roles), [p.role for p in points]
        raise _Recorded

    step._targets = targets
    with pytest.raises(_Recorded):
        step([_game("bot:always_defect", 0), _game("main", 1)])
    assert seen["roles"] == critic.keys == seen["points"]  # one point per opponent here
    assert critic.keys[0] == ("main-all", "player_0", ("bot:always_defect",))
