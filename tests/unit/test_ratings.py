"""Ratings and payoffs: hand-computed values and the right direction on synthetic results."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainers.league.ratings import (
    MatchRecord,
    elo_ratings,
    meetings,
    openskill_ratings,
    payoff_matrix,
    win_rates,
)


def duel(winner: str, loser: str, step: int = 0, tie: bool = False) -> MatchRecord:
    return MatchRecord("rps_v0", ((winner,), (loser,)), (1.0, 1.0 if tie else 0.0), step)


def synthetic_league(strength: dict[str, float], games: int, seed: int = 0) -> list[MatchRecord]:
    """Bradley-Terry games between random pairs: P(i beats j) = sigmoid(s_i - s_j)."""
    rng = np.random.default_rng(seed)
    ids = sorted(strength)
    records = []
    for step in range(games):
        i, j = rng.choice(len(ids), size=2, replace=False)
        a, b = ids[i], ids[j]
        p_a = 1.0 / (1.0 + math.exp(strength[b] - strength[a]))
        records.append(duel(a, b, step) if rng.random() < p_a else duel(b, a, step))
    return records


# ---- records


def test_match_record_normalises_and_validates():
    rec = MatchRecord("team_quiz_v0", [["a", "b"], ["c"]], [3, 1], step=4)
    assert rec.teams == (("a", "b"), ("c",)) and rec.scores == (3.0, 1.0)
    assert rec.players == ("a", "b", "c")
    assert MatchRecord.from_dict(json.loads(json.dumps(rec.to_dict()))) == rec
    with pytest.raises(ValueError):
        MatchRecord("x", (("a",),), (1.0,))
    with pytest.raises(ValueError):
        MatchRecord("x", (("a",), ("b",)), (1.0,))
    with pytest.raises(ValueError):
        MatchRecord("x", (("a",), ()), (1.0, 0.0))
    with pytest.raises(ValueError):
        MatchRecord("x", (("a",), ("b",)), (1.0, math.nan))


def test_ranks_share_ties():
    rec = MatchRecord("x", (("a",), ("b",), ("c",), ("d",)), (5.0, 7.0, 5.0, 1.0))
    assert rec.ranks() == (1, 0, 1, 3)


def test_teammates_never_meet_and_a_player_never_meets_itself():
    rec = MatchRecord("x", (("a", "b", "b"), ("c", "a")), (2.0, 1.0))
    met = list(meetings(rec))
    assert set(met) == {
        ("a", "c", 1.0, 1.0),
        ("b", "c", 1.0, 1.0),
        ("b", "a", 1.0, 1.0),
        ("c", "a", 0.0, -1.0),
        ("c", "b", 0.0, -1.0),
        ("a", "b", 0.0, -1.0),
    }
    assert len(met) == 6  # b counts once however many seats it held


# ---- Elo


def test_elo_hand_computed_duels():
    ratings = elo_ratings([duel("a", "b")], k=32, initial=1000)
    assert ratings == {"a": 1016.0, "b": 984.0}
    ratings = elo_ratings([duel("a", "b"), duel("a", "b")], k=32, initial=1000)
    expected_a = 1.0 / (1.0 + 10 ** ((984 - 1016) / 400))
    assert ratings["a"] == pytest.approx(1016 + 32 * (1 - expected_a))
    assert ratings["a"] + ratings["b"] == pytest.approx(2000.0)  # zero-sum
    assert elo_ratings([duel("a", "b", tie=True)]) == {"a": 1000.0, "b": 1000.0}


def test_elo_teams_and_multiplayer():
    rec = MatchRecord("x", (("a", "c"), ("b",), ("d",)), (3.0, 1.0, 1.0))
    ratings = elo_ratings([rec], k=32)
    # a+c beat both others: 32 / 2 * (0.5 + 0.5); b lost to a+c and tied d: 32 / 2 * (-0.5 + 0)
    assert ratings == {"a": 1016.0, "c": 1016.0, "b": 992.0, "d": 992.0}
    assert elo_ratings([], players=["z"]) == {"z": 1000.0}


def test_elo_mirror_game_moves_nothing():
    assert elo_ratings([duel("a", "a")]) == {"a": 1000.0}


def test_elo_always_winner_is_highest_and_order_follows_strength():
    records = [duel("champ", other, s) for s, other in enumerate(["x", "y", "z"] * 5)]
    records += [duel("x", "y", 20), duel("y", "z", 21), duel("z", "x", 22)]
    ratings = elo_ratings(records)
    assert max(ratings, key=ratings.get) == "champ"
    strength = {"strong": 2.0, "mid": 0.0, "weak": -2.0}
    ratings = elo_ratings(synthetic_league(strength, 600))
    assert sorted(ratings, key=ratings.get, reverse=True) == ["strong", "mid", "weak"]


# ---- openskill


def test_openskill_winner_up_loser_down_tie_even():
    r = openskill_ratings([duel("a", "b")])
    assert r["a"].mu > 25.0 > r["b"].mu
    assert r["a"].sigma < 25.0 / 3 and r["a"].ordinal == pytest.approx(r["a"].mu - 3 * r["a"].sigma)
    tie = openskill_ratings([duel("a", "b", tie=True)])
    assert tie["a"].mu == pytest.approx(25.0) and tie["b"].mu == pytest.approx(25.0)


def test_openskill_teams_multiplayer_and_mirrors():
    rec = MatchRecord("x", (("a", "c"), ("b",), ("d",)), (3.0, 2.0, 1.0))
    r = openskill_ratings([rec])
    assert r["a"].mu == pytest.approx(r["c"].mu)
    assert r["a"].mu > r["b"].mu > r["d"].mu
    assert openskill_ratings([duel("a", "a")])["a"].mu == 25.0
    half = openskill_ratings([MatchRecord("x", (("a", "b"), ("a", "c")), (1.0, 0.0))])
    assert half["a"].mu == 25.0 and half["b"].mu > 25.0 > half["c"].mu
    assert set(openskill_ratings([], players=["z"])) == {"z"}


def test_openskill_always_winner_is_highest_and_order_follows_strength():
    records = [duel("champ", other, s) for s, other in enumerate(["x", "y", "z"] * 5)]
    r = openskill_ratings(records)
    assert max(r, key=lambda p: r[p].ordinal) == "champ"
    strength = {"strong": 2.0, "mid": 0.0, "weak": -2.0}
    r = openskill_ratings(synthetic_league(strength, 600))
    assert sorted(r, key=lambda p: r[p].mu, reverse=True) == ["strong", "mid", "weak"]


# ---- payoffs


def test_payoff_matrix_hand_computed():
    records = [duel("a", "b"), duel("a", "b"), duel("a", "b", tie=True), duel("b", "c")]
    players = ["a", "b", "c"]
    wr = payoff_matrix(records, players)
    assert wr[0, 1] == pytest.approx(2.5 / 3) and wr[1, 0] == pytest.approx(0.5 / 3)
    assert wr[1, 2] == 1.0 and wr[2, 1] == 0.0
    assert math.isnan(wr[0, 2]) and all(math.isnan(wr[i, i]) for i in range(3))
    margin = payoff_matrix(records, players, kind="margin")
    assert margin[0, 1] == pytest.approx(2 / 3) and margin[1, 0] == pytest.approx(-2 / 3)
    games = payoff_matrix(records, players, kind="games")
    assert games.tolist() == [[0, 3, 0], [3, 0, 1], [0, 1, 0]]
    with pytest.raises(ValueError):
        payoff_matrix(records, players, kind="elo")


def test_payoff_matrix_is_complementary_for_two_team_games():
    records = synthetic_league({"p": 1.0, "q": 0.0, "r": -1.0}, 200, seed=3)
    wr = payoff_matrix(records, ["p", "q", "r"])
    for i, j in itertools.permutations(range(3), 2):
        assert wr[i, j] + wr[j, i] == pytest.approx(1.0)


def test_win_rates():
    records = [duel("a", "b"), duel("a", "c"), duel("b", "c", tie=True)]
    rates = win_rates(records)
    assert rates == {"a": 1.0, "b": pytest.approx(0.25), "c": pytest.approx(0.25)}
    assert math.isnan(win_rates(records, players=["z"])["z"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcd"), st.sampled_from("abcd"), st.integers(-1, 1))))
def test_elo_two_team_games_conserve_total_rating(games):
    records = [MatchRecord("x", ((a,), (b,)), (float(s), float(-s))) for a, b, s in games if a != b]
    ratings = elo_ratings(records, players=list("abcd"))
    assert sum(ratings.values()) == pytest.approx(4000.0)
