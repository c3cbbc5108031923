"""Minibatches: an update's samples dealt as whole micro-batches into k optimizer steps."""

from __future__ import annotations

import math

import pytest
import torch

from tests.unit.test_learner import make_learner, on_policy, random_samples
from trainers.config import LearnConfig
from trainers.learn.samples import minibatches
from trainers.learn.step import LearnStep, merge_update_stats

GROUPS = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13], [14]]


def test_minibatches_deal_every_sample_once_in_whole_groups():
    parts = minibatches(GROUPS, 2, seed=0)
    assert len(parts) == 2
    assert sorted(i for part in parts for i in part) == list(range(15))
    for group in GROUPS:  # a group is never cut
        assert sum(set(group) <= set(part) for part in parts) == 1
    assert sorted(len(p) for p in parts) == [7, 8]  # as even as whole groups allow


def test_minibatches_are_seeded_and_never_empty():
    assert minibatches(GROUPS, 3, seed=[0, 4]) == minibatches(GROUPS, 3, seed=[0, 4])
    deals = {tuple(map(tuple, minibatches(GROUPS, 3, seed=s))) for s in range(20)}
    assert len(deals) > 1  # the seed changes which groups go together
    assert len(minibatches(GROUPS, 9, seed=0)) == len(GROUPS)  # k above the groups: one each
    assert [sorted(p) for p in minibatches(GROUPS, 1, seed=0)] == [list(range(15))]
    with pytest.raises(ValueError, match="k must be"):
        minibatches(GROUPS, 0, seed=0)


def test_merged_stats_sum_counts_and_weigh_figures_by_tokens():
    a = {"tokens": 10.0, "sequence_tokens": 100.0, "seconds": 1.0, "skipped": 0.0,
         "loss": 1.0, "kl": math.nan, "grad_norm": 2.0, "tokens_per_s": 10.0,
         "sequence_tokens_per_s": 100.0}  # fmt: skip
    b = {**a, "tokens": 30.0, "seconds": 3.0, "loss": 3.0, "kl": 0.5, "grad_norm": 4.0}
    out = merge_update_stats([a, b])
    assert out["tokens"] == 40 and out["sequence_tokens"] == 200 and out["seconds"] == 4
    assert out["loss"] == pytest.approx((10 * 1 + 30 * 3) / 40)
    assert out["kl"] == 0.5  # the minibatch that skipped its KL pass does not count
    assert out["tokens_per_s"] == 10 and out["sequence_tokens_per_s"] == 50
    assert out["minibatches"] == 2
    with pytest.raises(ValueError, match="no minibatch"):
        merge_update_stats([])


def test_an_update_in_minibatches_is_k_steps_over_the_parts(tiny_model):
    """LearnStep with k minibatches takes k optimizer steps, on exactly the parts the deal
    gives, and reports the stats of the whole batch."""
    learner = make_learner(tiny_model, lr=1e-2)
    samples = on_policy(learner, "red", random_samples(learner, n=6))
    step = LearnStep(learner, LearnConfig(minibatches=3, adaptive=False, kl_coef=0.0))
    parts = minibatches(learner.micro_batches(samples), 3, [learner.seed, 0])
    stats = step._update("red", samples, kl_coef=0.0, lr_scale=1.0)
    assert learner.steps("red") == 3 and stats["minibatches"] == 3
    assert stats["tokens"] == sum(len(s.positions) for s in samples)

    twin = make_learner(tiny_model, lr=1e-2)
    for part in parts:
        twin.update("red", [samples[i] for i in part], kl_coef=0.0)
    mine, theirs = learner.adapter_weights("red")[0], twin.adapter_weights("red")[0]
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    one = make_learner(tiny_model, lr=1e-2)
    one.update("red", samples, kl_coef=0.0)  # one step on the whole batch lands elsewhere
    assert not all(torch.equal(mine[k], one.adapter_weights("red")[0][k]) for k in mine)


def test_minibatches_deal_only_what_the_update_trains(tiny_model):
    """Silent samples are left out before the deal, so no minibatch is a step on nothing."""
    from tests.unit.test_silent_samples import silent_copy

    learner = make_learner(tiny_model, lr=1e-2)
    loud = on_policy(learner, "red", random_samples(learner, n=2))
    samples = loud + [silent_copy(s) for s in random_samples(learner, n=6, seed=1)]
    step = LearnStep(learner, LearnConfig(minibatches=4, adaptive=False, kl_coef=0.0))
    assert learner.trained_samples(samples, 0.0) == loud
    stats = step._update("red", samples, kl_coef=0.0, lr_scale=1.0)
    assert learner.steps("red") == 1 and stats["minibatches"] == 1  # one micro-batch to deal
    assert stats["tokens"] == sum(len(s.positions) for s in loud)


def test_epochs_pass_over_the_same_samples_again(tiny_model):
    """epochs=2, one minibatch: two optimizer steps on the whole batch, as two updates are."""
    learner = make_learner(tiny_model, lr=1e-2)
    samples = on_policy(learner, "red", random_samples(learner, n=4))
    step = LearnStep(learner, LearnConfig(epochs=2, adaptive=False, kl_coef=0.0))
    stats = step._update("red", samples, kl_coef=0.0, lr_scale=1.0)
    assert learner.steps("red") == 2 and stats["minibatches"] == 2

    twin = make_learner(tiny_model, lr=1e-2)
    for _ in range(2):
        twin.update("red", samples, kl_coef=0.0)
    mine, theirs = learner.adapter_weights("red")[0], twin.adapter_weights("red")[0]
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    # epochs x minibatches steps, each pass dealt afresh
    other = make_learner(tiny_model, lr=1e-2)
    LearnStep(other, LearnConfig(epochs=2, minibatches=2, adaptive=False, kl_coef=0.0))._update(
        "red", samples, kl_coef=0.0, lr_scale=1.0
    )
    assert other.steps("red") == 4
