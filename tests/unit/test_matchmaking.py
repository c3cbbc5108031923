"""Matchmaking strategies: registry, PFSP weightings, exploiters, determinism."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from trainers.league.matchmaking import (
    MATCHMAKERS,
    ExploiterMatchmaker,
    PFSPMatchmaker,
    PSROMatchmaker,
    make_matchmaker,
    pfsp_weights,
)
from trainers.league.population import League
from trainers.league.ratings import MatchRecord


def play(league: League, a: str, b: str, a_wins: int, games: int = 10) -> None:
    for g in range(games):
        won = g < a_wins
        league.record(MatchRecord("rps_v0", ((a,), (b,)), (1.0, 0.0) if won else (0.0, 1.0)))


@pytest.fixture
def league() -> League:
    """red loses 9 of 10 to `strong`, wins 5 of 10 against `even`, 9 of 10 against `weak`."""
    league = League()
    league.add_learner("red")
    for bot in ("strong", "even", "weak"):
        league.add_bot(bot, "random")
    play(league, "red", "strong", a_wins=1)
    play(league, "red", "even", a_wins=5)
    play(league, "red", "weak", a_wins=9)
    return league


def counts(league: League, name: str, n: int = 3000, seed: int = 0, **kw) -> Counter:
    picks = make_matchmaker(name, **kw).pick(league, "red", n, np.random.default_rng(seed))
    return Counter(picks)


def test_registry_and_factory():
    assert set(MATCHMAKERS) == {"uniform", "self_play", "pfsp", "exploiter", "psro"}
    assert isinstance(make_matchmaker("pfsp", weighting="variance"), PFSPMatchmaker)
    with pytest.raises(ValueError, match="unknown matchmaker"):
        make_matchmaker("elo")
    with pytest.raises(ValueError, match="takes"):
        make_matchmaker("uniform", weighting="hard")
    with pytest.raises(ValueError):
        make_matchmaker("pfsp", weighting="easy")


def test_pfsp_weights_hand_computed():
    hard = pfsp_weights([0.2, 0.5, 0.9], "hard", p=2)
    assert hard.tolist() == pytest.approx([0.64 / 0.9, 0.25 / 0.9, 0.01 / 0.9])
    variance = pfsp_weights([0.2, 0.5, 0.9], "variance")
    assert variance.tolist() == pytest.approx([0.16 / 0.5, 0.25 / 0.5, 0.09 / 0.5])
    assert pfsp_weights([1.0, 1.0], "hard").tolist() == [0.5, 0.5]  # all zero -> uniform
    assert pfsp_weights([], "hard").size == 0


def test_pfsp_hard_prefers_opponents_the_learner_loses_to(league):
    c = counts(league, "pfsp", weighting="hard")
    assert c["strong"] > c["even"] > c["weak"]
    probs = PFSPMatchmaker("hard", p=2).probabilities(league, "red")
    assert probs["strong"] == pytest.approx(0.81 / (0.81 + 0.25 + 0.01))
    assert c["strong"] / 3000 == pytest.approx(probs["strong"], abs=0.03)


def test_pfsp_variance_prefers_even_opponents(league):
    c = counts(league, "pfsp", weighting="variance")
    assert c["even"] > c["strong"] and c["even"] > c["weak"]
    assert c["even"] / 3000 == pytest.approx(0.25 / (0.09 + 0.25 + 0.09), abs=0.03)


def test_pfsp_unplayed_opponent_gets_the_prior(league):
    league.add_bot("newcomer", "strong")
    probs = PFSPMatchmaker("variance").probabilities(league, "red")
    assert probs["newcomer"] == pytest.approx(probs["even"])  # x = 0.5 for both


def test_picks_are_deterministic_given_the_generator(league):
    for name in MATCHMAKERS:
        a = make_matchmaker(name).pick(league, "red", 20, np.random.default_rng(7))
        b = make_matchmaker(name).pick(league, "red", 20, np.random.default_rng(7))
        assert a == b and len(a) == 20


def test_uniform_excludes_self_and_filters_kinds(league):
    league.add_snapshot("red", step=1)
    c = counts(league, "uniform", n=4000)
    assert set(c) == {"strong", "even", "weak", "red@v0"}
    assert min(c.values()) > 800
    assert set(counts(league, "uniform", kinds=["snapshot"])) == {"red@v0"}


def test_empty_pool_falls_back_to_self_play():
    league = League()
    league.add_learner("solo")
    for name in MATCHMAKERS:
        assert (
            make_matchmaker(name).pick(league, "solo", 3, np.random.default_rng(0)) == ["solo"] * 3
        )
    assert make_matchmaker("pfsp").pick(league, "solo", 0, np.random.default_rng(0)) == []
    with pytest.raises(ValueError):
        make_matchmaker("uniform").pick(league, "solo", -1, np.random.default_rng(0))
    with pytest.raises(KeyError):
        make_matchmaker("uniform").pick(league, "ghost", 1, np.random.default_rng(0))


def test_self_play_uses_self_or_own_snapshots(league):
    league.add_learner("blue")
    league.add_snapshot("blue", step=1)
    assert set(counts(league, "self_play", n=50)) == {"red"}
    league.add_snapshot("red", step=1)
    league.set_version("red", 1)
    league.add_snapshot("red", step=2)
    assert set(counts(league, "self_play", n=200, snapshot_prob=1.0)) == {"red@v0", "red@v1"}
    mixed = counts(league, "self_play", n=2000, snapshot_prob=0.2)
    assert mixed["red"] / 2000 == pytest.approx(0.8, abs=0.04)
    assert "blue@v0" not in mixed


def test_exploiter_targets_main_agents_then_their_snapshots_when_losing():
    league = League()
    league.add_learner("main_a")
    league.add_learner("main_b")
    league.add_learner("hunter", exploiter=True)
    league.add_learner("hunter2", exploiter=True)
    league.add_bot("random", "random")
    rng = np.random.default_rng(0)
    picks = Counter(ExploiterMatchmaker().pick(league, "hunter", 1000, rng))
    assert set(picks) == {"main_a", "main_b"}  # never bots, never other exploiters
    league.add_snapshot("main_a", step=1)
    league.set_version("main_a", 1)
    league.add_snapshot("main_a", step=2)
    play(league, "hunter", "main_a", a_wins=1)  # 10% <= threshold: too strong for now
    picks = Counter(ExploiterMatchmaker(threshold=0.1).pick(league, "hunter", 1000, rng))
    assert "main_a" not in picks
    assert set(picks) == {"main_a@v0", "main_a@v1", "main_b"}
    play(league, "hunter", "main_a", a_wins=10)  # now 55%: back to the main agent itself
    picks = Counter(ExploiterMatchmaker().pick(league, "hunter", 200, rng))
    assert set(picks) == {"main_a", "main_b"}


def members_league(beats: dict[tuple[str, str], int]) -> League:
    """A learner `me` and members a, b, c that played each other 10 games a pair."""
    league = League()
    for name in ("me", "a", "b", "c"):
        league.add_learner(name)
    for (x, y), x_wins in beats.items():
        play(league, x, y, a_wins=x_wins)
    return league


def test_psro_draws_rock_paper_scissors_members_uniformly():
    # a beats b, b beats c, c beats a, each 9 of 10: the Nash of the cycle is uniform.
    league = members_league({("a", "b"): 9, ("b", "c"): 9, ("c", "a"): 9})
    probs = PSROMatchmaker().probabilities(league, "me")
    assert probs == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, abs=1e-6)
    picks = Counter(PSROMatchmaker().pick(league, "me", 3000, np.random.default_rng(0)))
    assert set(picks) == {"a", "b", "c"} and min(picks.values()) > 900


def test_psro_never_draws_a_dominated_member():
    # c loses to both others: no mass, never drawn; a beats b: the Nash is a alone.
    league = members_league({("a", "b"): 7, ("a", "c"): 9, ("b", "c"): 9})
    probs = make_matchmaker("psro").probabilities(league, "me")
    assert probs["c"] == pytest.approx(0.0, abs=1e-9) and probs["a"] == pytest.approx(1.0)
    picks = make_matchmaker("psro", solver="alpharank").pick(
        league, "me", 500, np.random.default_rng(1)
    )
    assert "c" not in picks and "me" not in picks


def test_psro_alone_plays_itself():
    league = League()
    league.add_learner("me")
    assert PSROMatchmaker().pick(league, "me", 3, np.random.default_rng(0)) == ["me"] * 3
