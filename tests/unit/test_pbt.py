"""PBT's exploit and explore: who copies whom, bounded perturbation, the lineage's JSON, and an
exact copy of one adapter onto another in a real tiny learner."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from tests.unit.test_learner import make_learner, on_policy, random_samples
from trainers.league.pbt import (
    Lineage,
    LineageRecord,
    PBTConfig,
    choose_exploits,
    copy_member,
    member_ratings,
    perturb,
    plan_round,
)
from trainers.league.population import League
from trainers.league.ratings import MatchRecord, SkillRating

CONFIG = PBTConfig(quantile=0.25, z=1.0, seed=0)


def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# ---------------------------------------------------------------------------------- exploit


def test_equal_ratings_never_exploit():
    ratings = {m: SkillRating(25.0, 1.0) for m in "abcdefgh"}
    assert choose_exploits(ratings, CONFIG, rng()) == []
    # not even when certain: z = 0 and no uncertainty still needs a strictly better mean
    certain = {m: SkillRating(25.0, 0.0) for m in "abcd"}
    assert choose_exploits(certain, PBTConfig(z=0.0), rng()) == []


def test_a_clearly_worse_member_copies_the_best():
    ratings = {
        "a": SkillRating(30.0, 1.0),
        "b": SkillRating(25.0, 1.0),
        "c": SkillRating(10.0, 1.0),
    }
    assert choose_exploits(ratings, CONFIG, rng()) == [("c", "a")]


def test_an_uncertain_gap_is_not_significant():
    # 30 - 2 = 28 < 26 + 2 = 28 is not a strict win at z = 1; at z = 0.5 it is
    ratings = {"a": SkillRating(30.0, 2.0), "b": SkillRating(26.0, 2.0)}
    assert choose_exploits(ratings, CONFIG, rng()) == []
    assert choose_exploits(ratings, PBTConfig(z=0.5), rng()) == [("b", "a")]
    # a member that has never played keeps openskill's initial sigma and is not judged
    fresh = {"a": SkillRating(30.0, 1.0), "new": SkillRating(25.0, 25.0 / 3.0)}
    assert choose_exploits(fresh, CONFIG, rng()) == []


def test_nobody_copies_itself_and_no_winner_is_overwritten():
    gen = np.random.default_rng(3)
    for _ in range(200):
        n = int(gen.integers(1, 12))
        ratings = {f"m{i}": SkillRating(gen.normal(25, 5), gen.uniform(0, 3)) for i in range(n)}
        config = PBTConfig(quantile=float(gen.uniform(0.05, 0.5)), z=float(gen.uniform(0, 2)))
        pairs = choose_exploits(ratings, config, gen)
        losers, winners = {lo for lo, _ in pairs}, {w for _, w in pairs}
        assert not losers & winners and len(losers) == len(pairs)
        for loser, winner in pairs:
            lo, hi = ratings[loser], ratings[winner]
            assert hi.mu - config.z * hi.sigma > lo.mu + config.z * lo.sigma


def test_truncation_draws_winners_from_the_top_quantile():
    ratings = {f"m{i}": SkillRating(float(10 * i), 0.5) for i in range(8)}  # m7 best
    pairs = choose_exploits(ratings, PBTConfig(quantile=0.25), rng())
    assert [lo for lo, _ in pairs] == ["m0", "m1"]
    assert {w for _, w in pairs} <= {"m6", "m7"}


def test_member_ratings_reads_the_league_and_defaults_fresh_members():
    league = League()
    for name in ("red", "blue", "green"):
        league.add_learner(name)
    for _ in range(20):
        league.record(MatchRecord("rps_v0", (("red",), ("blue",)), (1.0, 0.0)))
    ratings = member_ratings(league, ["red", "blue", "green"])
    assert ratings["red"].mu > 25.0 > ratings["blue"].mu
    assert ratings["green"] == SkillRating(25.0, 25.0 / 3.0)
    assert choose_exploits(ratings, PBTConfig(quantile=0.5), rng()) == [("blue", "red")]
    assert member_ratings(League(), []) == {}


def test_due_every_k_iterations():
    config = PBTConfig(every=5)
    assert [i for i in range(16) if config.due(i)] == [5, 10, 15]
    assert not any(PBTConfig(every=0).due(i) for i in range(10))


def test_config_refuses_nonsense():
    for bad in ({"quantile": 0.6}, {"quantile": 0.0}, {"z": -1.0}, {"every": -1}):
        with pytest.raises(ValueError):
            PBTConfig(**bad)
    with pytest.raises(ValueError, match="factors"):
        PBTConfig(factors=(0.0, 1.2))
    with pytest.raises(ValueError, match="bounds"):
        PBTConfig(bounds={"lr": (1.0, 0.1)})


# ---------------------------------------------------------------------------------- explore

HYPER = {"lr": 1e-4, "temperature": 1.0, "entropy_coef": 0.01, "kl_coef": 0.05, "lora_scaling": 2.0}


def test_perturbation_is_one_of_the_factors_within_bounds():
    config = PBTConfig(bounds={**CONFIG.bounds, "temperature": (0.9, 1.1)})
    gen = np.random.default_rng(7)
    for _ in range(100):
        moved = perturb(HYPER, gen, config)
        assert list(moved) == list(HYPER)
        for name, value in moved.items():
            low, high = config.bounds[name]
            assert low <= value <= high
            assert value == pytest.approx(np.clip(HYPER[name] * 0.8, low, high)) or (
                value == pytest.approx(np.clip(HYPER[name] * 1.25, low, high))
            )
    # clipped at the bounds: repeated perturbation never leaves them
    value = {"temperature": 1.0}
    for _ in range(50):
        value = perturb(value, gen, config)
        assert 0.9 <= value["temperature"] <= 1.1


def test_perturbation_is_deterministic_for_a_seed_and_not_for_the_order():
    a = perturb(HYPER, np.random.default_rng(11), CONFIG)
    b = perturb(dict(reversed(HYPER.items())), np.random.default_rng(11), CONFIG)
    assert a == b
    draws = {tuple(perturb(HYPER, np.random.default_rng(s), CONFIG).values()) for s in range(20)}
    assert len(draws) > 1
    assert CONFIG.rng(4).random() == CONFIG.rng(4).random() != CONFIG.rng(5).random()


def test_perturb_needs_bounds_for_every_name():
    with pytest.raises(ValueError, match="no bounds"):
        perturb({"momentum": 0.9}, rng(), CONFIG)


# ---------------------------------------------------------------------------------- lineage


def test_plan_round_and_lineage_round_trip_through_json():
    ratings = {
        "a": SkillRating(30.0, 1.0),
        "b": SkillRating(25.0, 1.0),
        "c": SkillRating(10.0, 1.0),
    }
    hyper = {m: dict(HYPER, lr=lr) for m, lr in zip("abc", (1e-4, 2e-4, 3e-4), strict=True)}
    records = plan_round(40, ratings, hyper, CONFIG)
    assert records == plan_round(40, ratings, hyper, CONFIG)  # decided by (seed, step)
    (record,) = records
    assert (record.step, record.member, record.copied_from) == (40, "c", "a")
    assert record.old_hyperparameters == hyper["c"]
    assert record.new_hyperparameters["lr"] in (pytest.approx(0.8e-4), pytest.approx(1.25e-4))
    assert record.ratings == {"c": {"mu": 10.0, "sigma": 1.0}, "a": {"mu": 30.0, "sigma": 1.0}}

    lineage = Lineage()
    lineage.append(record)
    lineage.append(LineageRecord(50, "b", "a", {"lr": 1.0}, {"lr": 1.25}, {"b": {"mu": 1.0}}))
    text = json.dumps(lineage.to_dict())
    assert Lineage.from_dict(json.loads(text)) == lineage
    restored = Lineage()
    restored.load_state_dict(json.loads(json.dumps(lineage.state_dict())))
    assert restored == lineage and len(restored) == 2
    assert [r.step for r in restored.of("b")] == [50]
    with pytest.raises(ValueError, match="format"):
        Lineage.from_dict({"format": 99, "records": []})


# ---------------------------------------------------------------------------------- copy


def optimizer_state(learner, adapter: str) -> dict:
    return copy.deepcopy(learner.optimizer(adapter).state_dict())


def same_state(x: dict, y: dict) -> bool:
    """Optimizer state dicts equal bit for bit (tensors by torch.equal)."""
    if x["param_groups"] != y["param_groups"] or x["state"].keys() != y["state"].keys():
        return False
    return all(
        x["state"][i].keys() == y["state"][i].keys()
        and all(torch.equal(x["state"][i][k], y["state"][i][k]) for k in x["state"][i])
        for i in x["state"]
    )


def same_weights(x: dict, y: dict) -> bool:
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def test_copy_member_copies_weights_and_optimizer_state_bit_for_bit(tiny_model):
    # LoRA+ gives the optimizer two parameter groups, the harder case to copy
    learner = make_learner(tiny_model, names=("red", "blue"), lr=3e-3, lora_plus_ratio=4.0)
    # on-policy samples: the ratio is 1, nothing is clipped and every step has a gradient
    history = on_policy(learner, "blue", random_samples(learner, n=3, seed=1))
    learner.update("blue", history)  # blue has a history of its own
    samples = on_policy(learner, "red", random_samples(learner, n=3))
    learner.update("red", samples)
    learner.update("red", samples)
    learner.set_lr("red", 2e-3)
    red_weights, _ = learner.adapter_weights("red")
    red_state = optimizer_state(learner, "red")
    assert not same_weights(red_weights, learner.adapter_weights("blue")[0])
    assert not same_state(red_state, optimizer_state(learner, "blue"))

    copy_member(learner, "red", "blue")

    assert same_weights(learner.adapter_weights("blue")[0], red_weights)
    assert same_state(optimizer_state(learner, "blue"), red_state)
    assert learner.lr("blue") == 2e-3
    assert same_weights(learner.adapter_weights("red")[0], red_weights)
    assert same_state(optimizer_state(learner, "red"), red_state)

    # the copy shares nothing with its source: stepping blue leaves red as it was ...
    learner.update("blue", samples)
    assert same_weights(learner.adapter_weights("red")[0], red_weights)
    assert same_state(optimizer_state(learner, "red"), red_state)
    # ... and red, stepped on the same samples, lands exactly where blue did
    learner.update("red", samples)
    assert same_weights(learner.adapter_weights("red")[0], learner.adapter_weights("blue")[0])
    assert same_state(optimizer_state(learner, "red"), optimizer_state(learner, "blue"))


def test_copy_member_refuses_itself_and_unknown_adapters(tiny_model):
    learner = make_learner(tiny_model, names=("red", "blue"))
    with pytest.raises(ValueError, match="itself"):
        copy_member(learner, "red", "red")
    with pytest.raises(ValueError, match="unknown adapter"):
        copy_member(learner, "red", "nobody")
