"""Soft policy-improvement targets from the tabular critic (pure: a stand-in tokenizer)."""

from __future__ import annotations

import math

import pytest

from trainers.episode import Trajectory, TurnTokens
from trainers.learn.algorithms import DecisionBaseline
from trainers.learn.targets import decision_points, soft_targets, target_samples

MOVES = ("[call]", "[fold]")


class CharTokenizer:
    """One token per character (ord), EOS = 0: enough to check how samples are built."""

    eos_token_id = 0

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict:
        return {"input_ids": [ord(c) for c in text]}


def test_soft_targets_are_a_softmax_at_the_temperature():
    t = soft_targets({"a": 1.0, "b": 0.0}, temperature=0.5)
    assert t["a"] == pytest.approx(1 / (1 + math.exp(-2.0)))
    assert sum(t.values()) == pytest.approx(1.0)
    assert soft_targets({"a": 1000.0, "b": 0.0}, 0.01) == {"a": 1.0, "b": 0.0}  # no overflow
    cold, warm = soft_targets({"a": 1, "b": 0}, 0.1), soft_targets({"a": 1, "b": 0}, 10.0)
    assert cold["a"] > warm["a"] > 0.5
    with pytest.raises(ValueError, match="temperature"):
        soft_targets({"a": 1.0}, 0.0)
    with pytest.raises(ValueError, match="at least one"):
        soft_targets({}, 1.0)


def _traj(prompt: list[int], move: str, agent: str = "player_1") -> Trajectory:
    ids = [ord(c) for c in move] + [0]
    turn = TurnTokens(len(prompt), tuple(ids), (0.0,) * len(ids), 3, MOVES, move)
    return Trajectory(agent, "main", agent, ("main-all", 3), True, [*prompt, *ids], [turn])


def test_targets_cover_every_legal_move_of_states_the_critic_knows():
    j, k = [1, 2, 74], [1, 2, 75]  # two states: the same prompt but the card
    trajs = [_traj(j, "[fold]"), _traj(j, "[call]"), _traj(k, "[call]")]
    roles = [("main-all", "player_1")] * 3
    points = decision_points(trajs, roles)
    assert sorted(p.visits for p in points) == [1, 2]
    critic = DecisionBaseline(min_count=1)
    # The critic knows both moves at J (fold -1, call -2) but only call at K.
    j_state = next(p.state for p in points if p.prompt == tuple(j))
    critic.update([-1.0, -2.0, 2.0], roles, [(j_state,), (j_state,), ("other",)],
                  [("[fold]",), ("[call]",), ("[call]",)])  # fmt: skip
    # (the critic knows [call] at another state only)
    samples = target_samples(points, critic, CharTokenizer(), coef=0.5, temperature=1.0)
    assert len(samples) == 2  # K is skipped: no move has a value there yet
    by_move = {s.turns[0].text: s for s in samples}
    p_fold = 1 / (1 + math.exp(-1.0))  # softmax(-1, -2)
    assert by_move["[fold]"].advantage == pytest.approx(0.5 * 2 * p_fold)  # coef * visits * pi*
    assert by_move["[call]"].advantage == pytest.approx(0.5 * 2 * (1 - p_fold))
    fold = by_move["[fold]"]
    assert fold.token_ids == (*j, *[ord(c) for c in "[fold]"], 0)
    assert fold.turns[0].start == len(j) and fold.turns[0].choices == MOVES


def test_unconstrained_turns_are_not_decision_points():
    traj = _traj([1, 2, 3], "[call]")
    traj.turns = [TurnTokens(3, traj.turns[0].ids, traj.turns[0].logprobs, 3, None, "[call]")]
    assert decision_points([traj], [("main-all", "player_1")]) == []


def test_a_move_without_a_value_counts_as_the_state_value():
    """A move the policy has almost stopped playing still gets a target (not zero)."""
    prompt = [1, 2, 81]
    trajs = [_traj(prompt, "[call]")]
    roles = [("main-all", "player_1")]
    (point,) = decision_points(trajs, roles)
    critic = DecisionBaseline(alpha=0.5, min_count=1)
    for r in (1.0, 3.0):  # only [call] was played: Q(call) = V = 2 (after 1, then 3)
        critic.update([r], roles, [(point.state,)], [("[call]",)])
    samples = target_samples([point], critic, CharTokenizer(), coef=1.0, temperature=0.2)
    by_move = {s.turns[0].text: s.advantage for s in samples}
    assert by_move == {"[call]": pytest.approx(0.5), "[fold]": pytest.approx(0.5)}
