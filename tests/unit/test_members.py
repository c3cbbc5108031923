"""A population of learners (`trainers.league.members`): fixtures that fill the members' payoff
matrix, the meta-solvers over members and snapshots, a PBT round applied to a real tiny learner,
the state that a resume needs, and Kuhn poker's population figures."""

from __future__ import annotations

import itertools
import json
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from envs.kuhn_poker.theory import UNIFORM_EXPLOITABILITY, nash_policy, uniform_policy
from tests.unit.test_learner import make_learner, on_policy, random_samples
from trainers.config import ConfigError, TrainerConfig
from trainers.config_groups import LearnConfig
from trainers.league.fixtures import Fixtures
from trainers.league.matchmaking import make_matchmaker
from trainers.league.members import Population, lineage_markdown, member_names
from trainers.league.population import League
from trainers.league.ratings import MatchRecord
from trainers.learn.step import LearnStep

AGENTS = ["player_0", "player_1"]
TEAMS = {a: a for a in AGENTS}  # Kuhn poker: each player its own side


def fixtures(seed: int = 0, matchmaking: str = "pfsp") -> Fixtures:
    return Fixtures(AGENTS, TEAMS, "all", True, make_matchmaker(matchmaking), seed)


def league_of(population: Population, bots=("random",)) -> League:
    league = League()
    for member in population.names:
        league.add_learner(member, adapter=member, version=1)
    for bot in bots:
        league.add_bot(f"bot:{bot}", bot)
    return league


def learners_of(match) -> list[str]:
    return sorted({s.player for s in match.seats.values() if s.learning})


def play(league: League, matches, rng: np.random.Generator, step: int = 1) -> None:
    """Record every match with a random winner."""
    for match in matches:
        players = [match.seats[a].player for a in AGENTS]
        scores = (1.0, -1.0) if rng.random() < 0.5 else (-1.0, 1.0)
        league.record(MatchRecord("kuhn_poker_v0", tuple((p,) for p in players), scores, step))


# ---------------------------------------------------------------------------------- members


def test_member_names_keep_main_for_one_and_number_the_rest():
    assert member_names(1) == ["main"]
    assert member_names(3) == ["main0", "main1", "main2"]
    population = Population(2, ["red", "blue"])
    assert population.adapters == ["main0-red", "main0-blue", "main1-red", "main1-blue"]
    with pytest.raises(ValueError, match="at least one"):
        member_names(0)


def test_one_member_makes_the_single_learners_matches():
    population = Population(1, ["all"])
    league = league_of(population, bots=("random", "strong"))
    mine, theirs = fixtures(seed=3), fixtures(seed=3)
    got = population.matches(mine, league, 6)
    expected = theirs.make(league, 6)
    assert [(m.seed, m.seats) for m in got] == [(m.seed, m.seats) for m in expected]
    assert population.scalars(league, None, None) == {}
    assert population.league_json(None, None) == {}


def test_one_iteration_plays_every_member_pair():
    population = Population(4, ["all"])
    league = league_of(population)
    matches = population.matches(fixtures(), league, 6)  # n >= 2 (N - 1)
    assert len(matches) == 4 * 6
    pairs = {tuple(learners_of(m)) for m in matches if len(learners_of(m)) == 2}
    assert pairs == set(itertools.combinations(population.names, 2))
    # each member's own games: it learns in all of its 6, on both sides over the round
    for member in population.names:
        assert sum(member in learners_of(m) for m in matches) >= 6


@pytest.mark.parametrize(("size", "games"), [(3, 1), (5, 2), (6, 1)])
def test_matchmaking_fills_the_members_payoff_matrix(size, games):
    population = Population(size, ["all"])
    league = league_of(population, bots=("random", "strong"))
    table = fixtures(seed=size)
    rng = np.random.default_rng(0)
    rounds = 0
    while True:
        rounds += 1
        play(league, population.matches(table, league, games), rng, step=rounds)
        counts = league.payoff_matrix(population.names, "games")
        if (counts + np.eye(size) > 0).all():
            break
        assert rounds < size, f"a member pair still unplayed after {rounds} rounds"


def test_evaluation_games_are_dealt_to_the_members_in_turn():
    population = Population(3, ["all"])
    league = league_of(population)
    matches = population.matches(fixtures(), league, 5, opponent="bot:random", learning=False)
    members = [next(s.player for s in m.seats.values() if s.bot is None) for m in matches]
    assert members == ["main0", "main1", "main2", "main0", "main1"]
    assert not any(s.learning for m in matches for s in m.seats.values())


# ---------------------------------------------------------------------------------- meta-solvers


def test_meta_strategies_over_members_and_snapshots():
    population = Population(2, ["all"])
    league = league_of(population, bots=())
    league.add_snapshot("main0", step=1)
    for _ in range(10):  # main1 beats main0 and its snapshot
        for loser in ("main0", "main0@v1"):
            league.record(MatchRecord("k", (("main1",), (loser,)), (1.0, -1.0)))
    meta = population.solve(league)
    assert set(meta) == {"alpharank", "nash"}
    for strategy in meta.values():
        assert strategy.names == ("main0", "main1", "main0@v1")
        assert strategy.as_dict()["main1"] == pytest.approx(1.0, abs=1e-6)
    scalars = population.scalars(league, FakeLearner(population), FakeStep())
    assert scalars["league/meta/alpharank/main1"] == pytest.approx(1.0, abs=1e-6)
    assert "league/meta/nash/main0@v1" in scalars and "pbt/lr/main0" in scalars
    # three sides: alpha-rank only (the zero-sum Nash is for two)
    assert Population(2, ["all"], sides=3).solvers == ("alpharank",)


class FakeLearner:
    def __init__(self, population: Population) -> None:
        self._lr = dict.fromkeys(population.adapters, 1e-3)

    def lr(self, name: str) -> float:
        return self._lr[name]

    def set_lr(self, name: str, lr: float) -> None:
        self._lr[name] = lr


class FakeStep:
    def __init__(self) -> None:
        self.kl = {}

    def kl_coef(self, name: str) -> float:
        return self.kl.get(name, 0.02)

    def set_kl_coef(self, name: str, value: float) -> None:
        self.kl[name] = value


# ---------------------------------------------------------------------------------- PBT


def test_league_restart_gives_a_fresh_start_and_keeps_the_history():
    league = League()
    for member in ("main0", "main1"):
        league.add_learner(member, version=1)
    league.add_snapshot("main0", step=1)
    league.record(MatchRecord("k", (("main0",), ("main1",)), (1.0, -1.0)))
    league.record(MatchRecord("k", (("main0@v1",), ("main0",)), (1.0, -1.0)))
    league.ratings()  # cached: the restart must drop it
    league.restart("main0", "main0~3")
    assert league.games("main0", "main1") == 0 and league.games("main0~3", "main1") == 1
    assert league.games("main0@v1", "main0~3") == 1
    fresh = league.ratings()["openskill"]["main0"]  # openskill's initial rating
    assert (fresh["mu"], fresh["sigma"]) == pytest.approx((25.0, 25.0 / 3.0))
    assert "main0~3" in league.ratings()["openskill"]
    assert len(league.records) == 2
    with pytest.raises(ValueError, match="new id"):
        league.restart("main1", "main0")


def same_state(x: dict, y: dict) -> bool:
    return x["state"].keys() == y["state"].keys() and all(
        torch.equal(x["state"][i][k], y["state"][i][k]) for i in x["state"] for k in x["state"][i]
    )


@pytest.fixture
def evolving(tiny_model):
    """Three members in one tiny learner, main2 trained a step and main0 beaten by it often
    enough for openskill to call the gap significant."""
    population = Population(3, ["all"], pbt_every=2, seed=0)
    learner = make_learner(tiny_model, names=population.adapters, lr=3e-3)
    learn_step = LearnStep(learner, LearnConfig(lr=3e-3, kl_coef=0.02), "reference")
    learner.update("main2-all", on_policy(learner, "main2-all", random_samples(learner, n=3)))
    league = league_of(population, bots=())
    for _ in range(40):
        league.record(MatchRecord("k", (("main2",), ("main0",)), (1.0, -1.0), step=1))
    for _ in range(4):
        league.record(MatchRecord("k", (("main1",), ("main0",)), (1.0, -1.0), step=1))
        league.record(MatchRecord("k", (("main2",), ("main1",)), (1.0, -1.0), step=1))
    return population, learner, learn_step, league


def test_a_pbt_round_copies_and_perturbs_a_real_learner(evolving):
    population, learner, learn_step, league = evolving
    before = population.hyperparameters(learner, learn_step)
    weights = learner.adapter_weights("main2-all")[0]
    state = learner.optimizer("main2-all").state_dict()

    (record,) = population.exploit_and_explore(4, league, learner, learn_step)

    assert (record.member, record.copied_from, record.step) == ("main0", "main2", 4)
    copied = learner.adapter_weights("main0-all")[0]
    assert all(torch.equal(copied[k], weights[k]) for k in weights)
    assert same_state(learner.optimizer("main0-all").state_dict(), state)
    after = population.hyperparameters(learner, learn_step)
    assert after["main0"] == record.new_hyperparameters
    for name in ("lr", "kl_coef"):  # the winner's value times one of PBT's factors
        ratio = after["main0"][name] / before["main2"][name]
        assert min(abs(ratio - f) for f in (0.8, 1.25)) < 1e-9
    assert after["main1"] == before["main1"] and after["main2"] == before["main2"]
    assert learner.lr("main0-all") == after["main0"]["lr"]
    assert learn_step.kl_coef("main0-all") == after["main0"]["kl_coef"]
    # a fresh start in the league: main0's games are the old main0's now
    assert league.games("main0", "main2") == 0 and league.games("main0~4", "main2") == 40
    assert population.lineage.records == [record]
    assert "copied from" in lineage_markdown([record])


def test_pbt_is_due_every_k_and_never_after_the_last_iteration(evolving):
    population, learner, learn_step, league = evolving
    trainer = SimpleNamespace(
        step=1, config=TrainerConfig.build(iterations=4), league=league, learner=learner,
        learn_step=learn_step, monitor=SimpleNamespace(log_text=lambda *a: texts.append(a)),
    )  # fmt: skip
    texts: list = []
    assert population.evolve(trainer) == []  # step 1: not due (every 2)
    trainer.step = 4
    assert population.evolve(trainer) == []  # the last iteration: a copy would never play
    trainer.step = 2
    assert [r.member for r in population.evolve(trainer)] == ["main0"]
    assert texts and texts[0][1] == "pbt/lineage"


def test_lineage_and_hyperparameters_survive_a_json_round_trip(evolving):
    population, learner, learn_step, league = evolving
    population.exploit_and_explore(2, league, learner, learn_step)
    learn_step.set_kl_coef("main1-all", 0.5)
    state = json.loads(json.dumps(population.state_dict(learner, learn_step)))
    step_state = json.loads(json.dumps(learn_step.state_dict()))
    kept = population.hyperparameters(learner, learn_step)

    for name in population.adapters:  # everything moved off ...
        learner.set_lr(name, 1e-5)
        learn_step.set_kl_coef(name, 0.9)
    fresh = Population(3, ["all"], pbt_every=2, seed=0)
    learn_step.load_state_dict(step_state)
    fresh.load_state_dict(state, learner, learn_step)  # ... and back

    assert fresh.lineage == population.lineage
    assert fresh.hyperparameters(learner, learn_step) == kept
    with pytest.raises(ValueError, match="same --population"):
        Population(2, ["all"]).load_state_dict(state, learner, learn_step)
    assert Population(1, ["all"]).state_dict(learner, learn_step) == {}


def test_kl_coefficients_per_adapter_without_a_controller(tiny_model):
    learner = make_learner(tiny_model, names=("main0-all", "main1-all"))
    learn_step = LearnStep(learner, LearnConfig(adaptive=False, kl_coef=0.02))
    learn_step.set_kl_coef("main0-all", 0.04)
    assert (learn_step.kl_coef("main0-all"), learn_step.kl_coef("main1-all")) == (0.04, 0.02)
    learn_step.copy_adapter("main1-all", "main0-all")
    assert learn_step.kl_coef("main0-all") == 0.02
    with pytest.raises(ValueError, match="kl_coef"):
        learn_step.set_kl_coef("main0-all", -1.0)


# ---------------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"population": 0}, "population >= 1"),
        ({"pbt_every": 2}, "set population >= 2"),
        ({"population": 2, "mode": "cooperative", "env_id": "signal_v0"}, "not supported yet"),
        ({"population": 2, "mode": "mixed", "env_id": "prisoners_dilemma_v0"}, "not supported"),
        ({"population": 2, "pbt_every": -1}, "pbt_every >= 0"),
    ],
)
def test_population_configs_fail_with_what_to_fix(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainerConfig.build(**kwargs).validate()


def test_a_population_config_validates():
    TrainerConfig.build(
        env_id="kuhn_poker_v0", mode="competitive", share="all", population=3, pbt_every=1
    ).validate()


# ---------------------------------------------------------------------------------- Kuhn poker


def test_kuhn_population_exploitability_is_exact(monkeypatch):
    from trainers.league import population_eval
    from trainers.learn import probe

    population = Population(2, ["all"])
    league = league_of(population, bots=())
    tables = {"main0-all": uniform_policy(), "main1-all": nash_policy()}
    monkeypatch.setattr(probe, "kuhn_policy_table", lambda learner, name, tok: tables[name])
    trainer = SimpleNamespace(
        population=population, league=league, learner=SimpleNamespace(tokenizer=None)
    )
    evaluation = population_eval.PopulationExploitability()
    for _ in range(10):  # the Nash member beats the uniform one: all the meta-strategy's mass
        league.record(MatchRecord("k", (("main1",), ("main0",)), (1.0, -1.0)))
    out = evaluation.measure(trainer, games=0)
    assert out["eval/exploitability/main0"] == float(UNIFORM_EXPLOITABILITY)
    assert out["eval/exploitability/main1"] == pytest.approx(0.0, abs=1e-12)
    assert out["eval/exploitability/population_meta"] == pytest.approx(0.0, abs=1e-9)
    # a snapshot keeps the table read when its version was current; a version gone is dropped
    league.add_snapshot("main0", step=1)
    league.set_version("main0", 2)
    tables["main0-all"] = nash_policy(Fraction(1, 6))
    evaluation.observe(trainer)
    assert set(evaluation.tables) == {"main0@v1", "main0@v2", "main1@v1"}
    restored = population_eval.PopulationExploitability()
    restored.load_state_dict(json.loads(json.dumps(evaluation.state_dict(), default=float)))
    assert set(restored.tables) == set(evaluation.tables)
