"""The KL reference pass's cache (`LearnerConfig.reference_cache`) and its skip below a ~0
coefficient (`kl_skip_below`, `kl_every`), on the tiny model."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest

from trainers.episode import TurnTokens
from trainers.learn.learner import Learner, LearnerConfig, LoRASettings, reference_keys
from trainers.learn.samples import TrainSample


@pytest.fixture(scope="module")
def learner(tiny_model):
    import torch

    learner = Learner(
        tiny_model,
        ["red"],
        LoRASettings(lora_rank=4, lora_alpha=8),
        LearnerConfig(learner_dtype="float32", kl_coef=0.0),
    )
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # random B: the adapter is not the base, so the KL is not 0
        for param in learner.parameters("red"):
            if param.shape[1] == 4:  # lora_B: [out, r]
                param.copy_(torch.randn(param.shape, generator=gen) * 0.3)
    return learner


def samples(n: int, seed: int, vocab: int) -> list[TrainSample]:
    """Chats with a shared 40-token prefix, two turns of 3 tokens, some repeated exactly."""
    rng = random.Random(seed)
    prefix = [rng.randrange(3, vocab) for _ in range(40)]
    out = []
    for i in range(n):
        rng_i = random.Random(seed * 100 + i % 3)  # every third chat repeats
        ids, turns = list(prefix), []
        for _ in range(2):
            ids += [rng_i.randrange(3, vocab) for _ in range(10)]
            move = tuple(rng_i.randrange(3, vocab) for _ in range(3))
            turns.append(TurnTokens(len(ids), move, (-1.0,) * 3, 1))
            ids += move
        out.append(TrainSample(ids, turns, advantage=1.0 - 0.3 * i))
    return out


def test_keys_tell_contexts_tokens_and_legal_moves_apart():
    a = TrainSample(list(range(3, 20)), [TurnTokens(10, (13, 14), (-1.0, -1.0), 1)], 1.0)
    b = TrainSample(list(range(3, 20)), [TurnTokens(10, (13, 14), (-1.0, -1.0), 1, ("x",))], 1.0)
    ka, kb = reference_keys(a), reference_keys(b)
    assert len(ka) == 2 and len(set(ka)) == 2 and not set(ka) & set(kb)
    assert reference_keys(a) == ka  # deterministic
    # a format-constrained turn is scored under another mask: other keys, one per format
    formats = [
        reference_keys(replace(a, turns=[replace(a.turns[0], pattern=p)])) for p in ("x", "y")
    ]
    assert not set(formats[0]) & (set(ka) | set(kb) | set(formats[1]))


def test_cached_reference_gives_the_kl_of_a_fresh_pass(learner):
    data = samples(6, seed=1, vocab=learner.vocab_size)
    base = learner.config
    calls = []
    score = learner._base_logprobs
    learner._base_logprobs = lambda batch: calls.append(len(batch.counts)) or score(batch)
    try:
        learner.config = replace(base, reference_cache=False)
        plain = learner.evaluate("red", data, kl_coef=0.1)["kl"]
        learner.config = replace(base, reference_cache=True)
        learner._reference_cache.clear()
        first = learner.evaluate("red", data, kl_coef=0.1)["kl"]
        warm = len(calls)
        second = learner.evaluate("red", data, kl_coef=0.1)["kl"]
    finally:
        del learner._base_logprobs
        learner.config = base
    assert plain > 0 and not math.isnan(plain)
    assert first == pytest.approx(plain, rel=1e-5, abs=1e-7)
    assert second == pytest.approx(plain, rel=1e-5, abs=1e-7)
    assert len(calls) == warm  # the second pass was served from the cache


def test_a_coefficient_below_the_skip_measures_the_kl_every_k_updates(learner):
    data = samples(4, seed=2, vocab=learner.vocab_size)
    base = learner.config
    learner.config = replace(base, kl_skip_below=1e-3, kl_every=2, lr=1e-6)
    try:
        kls = [learner.update("red", data, kl_coef=1e-4)["kl"] for _ in range(4)]
        penalised = learner.update("red", data, kl_coef=1e-2)["kl"]
    finally:
        learner.config = base
    measured = [not math.isnan(k) for k in kls]
    assert measured.count(True) == 2 and measured != [True] * 4
    assert not math.isnan(penalised)  # above the threshold: every update
