"""The trust region on an update's policy change: the KL on known cases, and the line search on
a real learner (tiny model), alone and inside `LearnStep`."""

from __future__ import annotations

import math

import pytest
import torch

from tests.unit.test_learner import make_learner
from trainers.config import LearnConfig
from trainers.episode import TurnTokens
from trainers.learn.probe import completion_ids, many_move_probabilities
from trainers.learn.samples import TrainSample
from trainers.learn.step import LearnStep
from trainers.learn.targets import DecisionPoint
from trainers.learn.trust_region import mean_policy_kl, measured_points, trust_region_step

MOVES = ("[call]", "[fold]")


def test_mean_policy_kl_on_known_cases():
    even, skewed = {"a": 0.5, "b": 0.5}, {"a": 0.9, "b": 0.1}
    assert mean_policy_kl([even], [even], [3.0]) == 0.0
    kl = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    assert mean_policy_kl([even], [skewed], [1.0]) == pytest.approx(kl)
    # visit-weighted: 3 visits of the unchanged state, 1 of the moved one
    assert mean_policy_kl([even, even], [even, skewed], [3.0, 1.0]) == pytest.approx(kl / 4)
    assert mean_policy_kl([even], [{"a": 1.0, "b": 0.0}], [1.0]) == math.inf
    assert mean_policy_kl([{"a": 1.0, "b": 0.0}], [even], [1.0]) == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="as many"):
        mean_policy_kl([even], [], [1.0])


def test_measured_points_are_the_most_visited_with_a_choice():
    points = [DecisionPoint("r", f"s{i}", (1, i), MOVES, 0, visits=i) for i in range(100)]
    forced = DecisionPoint("r", "forced", (2,), ("[call]",), 0, visits=1000)
    chosen = measured_points([*points, forced])
    assert len(chosen) == 64 and forced not in chosen
    assert [p.visits for p in chosen] == list(range(99, 35, -1))


def _points(learner, n: int = 3) -> list[DecisionPoint]:
    """n decision states: the same question but a different card (token), two legal moves."""
    tok = learner.tokenizer
    base = tok("You hold the card", add_special_tokens=False)["input_ids"]
    return [
        DecisionPoint("r", f"s{i}", (*base, 100 + i), MOVES, 0, visits=1 + i) for i in range(n)
    ]


def _push(learner, points, move: str = "[fold]", weight: float = 50.0) -> list[TrainSample]:
    """Cross-entropy samples toward `move` at every point (behaviour: the pre-step weights)."""
    out = []
    for p in points:
        ids = completion_ids(learner.tokenizer, move)
        turn = TurnTokens(len(p.prompt), ids, (math.nan,) * len(ids), 0, p.choices, move)
        out.append(TrainSample((*p.prompt, *ids), (turn,), weight))
    return out


def _probs(learner, points):
    return many_move_probabilities(
        learner, "red", [(p.prompt, p.choices) for p in points], learner.tokenizer
    )


def test_a_step_past_the_region_is_shrunk_along_its_direction(tiny_model):
    learner = make_learner(tiny_model, lr=5e-2, kl_coef=0.0)
    points = _points(learner)
    samples = _push(learner, points)
    weights = [float(p.visits) for p in points]
    before_w, _ = learner.adapter_weights("red")
    before = _probs(learner, points)

    twin = make_learner(tiny_model, lr=5e-2, kl_coef=0.0)  # the same step, unbounded
    twin.update("red", samples, kl_coef=0.0)
    full_w, _ = twin.adapter_weights("red")
    full_kl = mean_policy_kl(before, _probs(twin, points), weights)
    max_kl = full_kl / 20
    assert max_kl > 1e-4  # the step really moves this policy

    stats, result = trust_region_step(
        learner, "red", points, lambda: learner.update("red", samples, kl_coef=0.0), max_kl
    )
    assert stats["tokens"] > 0 and learner.steps("red") == 1  # the update ran, once
    assert result.kl_full == pytest.approx(full_kl, rel=1e-4)
    assert 0 < result.alpha < 1 and result.kl <= max_kl
    assert result.kl == pytest.approx(mean_policy_kl(before, _probs(learner, points), weights))
    # The kept weights lie on the line from the old to the full step.
    kept, _ = learner.adapter_weights("red")
    for k in kept:
        expected = torch.lerp(before_w[k], full_w[k], result.alpha)
        assert torch.allclose(kept[k], expected, atol=1e-6)
    # and the policy moved the way the full step did, less far
    fold = [p["[fold]"] for p in before], [p["[fold]"] for p in _probs(learner, points)]
    assert all(new > old for old, new in zip(*fold, strict=True))


def test_a_step_inside_the_region_is_kept_whole(tiny_model):
    learner = make_learner(tiny_model, lr=5e-2, kl_coef=0.0)
    twin = make_learner(tiny_model, lr=5e-2, kl_coef=0.0)
    points = _points(learner)
    samples = _push(learner, points)
    twin.update("red", samples, kl_coef=0.0)
    _, result = trust_region_step(
        learner, "red", points, lambda: learner.update("red", samples, kl_coef=0.0), 1e9
    )
    assert result.alpha == 1.0 and result.kl == result.kl_full
    mine, theirs = learner.adapter_weights("red")[0], twin.adapter_weights("red")[0]
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    with pytest.raises(ValueError, match="max_kl"):
        trust_region_step(learner, "red", points, lambda: None, 0.0)
    assert trust_region_step(learner, "red", [], lambda: "ran", 0.1) == ("ran", None)


def test_learn_step_reports_the_trust_region(tiny_model):
    """LearnStep bounds its update with `trust_region_kl` and logs what it kept."""
    learner = make_learner(tiny_model, lr=5e-2, kl_coef=0.0)
    points = _points(learner)
    samples = _push(learner, points)
    step = LearnStep(learner, LearnConfig(adaptive=False, kl_coef=0.0, trust_region_kl=1e-4))
    stats = step._bounded_update("red", samples, 0.0, 1.0, points)
    assert stats["trust_kl_full"] > 1e-4 >= stats["trust_kl"] and stats["trust_alpha"] < 1
    off = LearnStep(learner, LearnConfig(adaptive=False, kl_coef=0.0))
    assert "trust_alpha" not in off._bounded_update("blue", samples, 0.0, 1.0, points)
