"""Samples whose every advantage is 0 carry no gradient: an update without a KL or entropy term
leaves them out, so they neither cost a pass nor dilute the token mean of the others."""

from __future__ import annotations

import torch

from tests.unit.test_learner import make_learner, on_policy, random_samples
from trainers.learn.samples import TrainSample


def silent_copy(sample: TrainSample) -> TrainSample:
    return TrainSample(sample.token_ids, sample.turns, advantage=(0.0,) * len(sample.turns))


def weights(learner, name="red"):
    return learner.adapter_weights(name)[0]


def same(a, b) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_silent_property_reads_every_turn():
    loud, *_ = [s for s in random_samples_for_property() if s.advantage != 0]
    assert not loud.silent
    assert silent_copy(loud).silent
    mixed = TrainSample(loud.token_ids, loud.turns, advantage=(0.0, 1.0))
    assert not mixed.silent


def random_samples_for_property():
    from trainers.episode import TurnTokens

    ids = list(range(3, 40))
    turns = [
        TurnTokens(8, tuple(ids[8:12]), (-3.0,) * 4, 1),
        TurnTokens(20, (ids[20],), (-1.0,), 1),
    ]
    return [TrainSample(ids, turns, advantage=a) for a in (0.0, 1.5)]


def test_an_update_with_silent_samples_equals_one_without_them(tiny_model):
    base = make_learner(tiny_model, lr=1e-2)
    loud = [s for s in on_policy(base, "red", random_samples(base, n=5)) if not s.silent]
    silent = [silent_copy(s) for s in loud[:2]]

    plain = make_learner(tiny_model, lr=1e-2)
    stats = plain.update("red", loud, kl_coef=0.0)
    mixed = make_learner(tiny_model, lr=1e-2)
    mixed_stats = mixed.update("red", loud + silent, kl_coef=0.0)
    assert same(weights(plain), weights(mixed))
    assert mixed_stats["tokens"] == stats["tokens"]  # the silent tokens were not scored

    kept = make_learner(tiny_model, lr=1e-2, skip_silent=False)
    kept.update("red", loud + silent, kl_coef=0.0)  # token_mean over more tokens: a smaller step
    assert not same(weights(plain), weights(kept))


def test_silent_samples_stay_when_a_kl_or_entropy_term_reads_them(tiny_model):
    base = make_learner(tiny_model, lr=1e-2)
    loud = [s for s in on_policy(base, "red", random_samples(base, n=5)) if not s.silent]
    silent = [silent_copy(s) for s in loud[:2]]
    for kwargs, kl_coef in ((dict(), 0.5), (dict(entropy_coef=0.1), 0.0)):
        mixed = make_learner(tiny_model, lr=1e-2, **kwargs)
        stats = mixed.update("red", loud + silent, kl_coef=kl_coef)
        scored = sum(len(s.positions) for s in loud + silent)
        assert stats["tokens"] == scored


def test_a_batch_of_only_silent_samples_still_steps(tiny_model):
    learner = make_learner(tiny_model, lr=1e-2)
    silent = [silent_copy(s) for s in random_samples(learner, n=3)]
    stats = learner.update("red", silent, kl_coef=0.0)
    assert learner.steps("red") == 1 and stats["tokens"] == sum(len(s.positions) for s in silent)
