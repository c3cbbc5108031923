"""Meta-solvers: known equilibria of small games, dominance, unplayed pairs, a league's matrix."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trainers.league.meta_solver import (
    META_SOLVERS,
    MetaStrategy,
    alpharank_distribution,
    filled_payoffs,
    nash_distribution,
    solve_league,
)
from trainers.league.population import League
from trainers.league.ratings import MatchRecord

# Row player's win rate against the column player (ties half).
RPS = np.array([[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]])
SOLVERS = sorted(META_SOLVERS)


def with_dominated(matrix: np.ndarray, win_rate: float = 0.2) -> np.ndarray:
    """`matrix` plus a last player who wins only `win_rate` of its games against everyone."""
    n = len(matrix)
    out = np.full((n + 1, n + 1), 0.5)
    out[:n, :n] = matrix
    out[n, :n] = win_rate
    out[:n, n] = 1.0 - win_rate
    return out


@pytest.mark.parametrize("solver", SOLVERS)
def test_rock_paper_scissors_is_uniform(solver):
    meta = META_SOLVERS[solver](RPS, ["rock", "paper", "scissors"])
    assert meta.solver == solver and meta.names == ("rock", "paper", "scissors")
    np.testing.assert_allclose(meta.probabilities, [1 / 3] * 3, atol=1e-6)


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_dominated_player_gets_no_mass(solver):
    meta = META_SOLVERS[solver](with_dominated(RPS), ["rock", "paper", "scissors", "weak"])
    assert meta.as_dict()["weak"] < 1e-6
    np.testing.assert_allclose(meta.probabilities[:3], [1 / 3] * 3, atol=1e-6)


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_strictly_dominant_player_takes_all_the_mass(solver):
    # "a" beats both; b and c form no cycle with it
    payoffs = np.array([[0.5, 0.9, 0.7], [0.1, 0.5, 0.6], [0.3, 0.4, 0.5]])
    meta = META_SOLVERS[solver](payoffs, ["a", "b", "c"])
    assert meta.as_dict()["a"] > 1 - 1e-6


def test_matching_pennies_nash_is_half_half():
    pennies = np.array([[1.0, -1.0], [-1.0, 1.0]])
    meta = nash_distribution(pennies, ["heads", "tails"], kind="margin")
    np.testing.assert_allclose(meta.probabilities, [0.5, 0.5], atol=1e-9)


def test_nash_of_an_asymmetric_zero_sum_game_is_the_row_players_maximin():
    # Row gets A, column -A: 3x - 2(1 - x) = -x + (1 - x) gives x = 3/7 (A's transpose: 2/7).
    a = np.array([[3.0, -1.0], [-2.0, 1.0]])
    meta = nash_distribution(a, ["top", "bottom"], kind="margin")
    np.testing.assert_allclose(meta.probabilities, [3 / 7, 4 / 7], atol=1e-9)


@pytest.mark.parametrize("solver", SOLVERS)
def test_permuting_players_permutes_the_answer(solver):
    rng = np.random.default_rng(0)
    upper = np.triu(rng.random((5, 5)), 1)
    payoffs = upper + np.tril(1.0 - upper.T, -1) + np.eye(5) * 0.5
    names = ["a", "b", "c", "d", "e"]
    order = [3, 0, 4, 1, 2]
    meta = META_SOLVERS[solver](payoffs, names).as_dict()
    shuffled = META_SOLVERS[solver](payoffs[np.ix_(order, order)], [names[i] for i in order])
    for name, p in shuffled.as_dict().items():
        assert p == pytest.approx(meta[name], abs=1e-6)


def test_nash_guarantees_the_symmetric_games_value():
    rng = np.random.default_rng(1)
    for n in range(2, 8):
        upper = np.triu(rng.random((n, n)), 1)
        payoffs = upper + np.tril(1.0 - upper.T, -1) + np.eye(n) * 0.5
        x = np.array(nash_distribution(payoffs, [str(i) for i in range(n)]).probabilities)
        # a symmetric constant-sum game is worth 0.5 to either seat: no column does better
        assert (x @ payoffs).min() >= 0.5 - 1e-7


# ---------------------------------------------------------------------------------- unplayed pairs


def test_unplayed_pairs_count_as_even_games():
    payoffs = np.array([[np.nan, 1.0], [0.0, np.nan]])
    np.testing.assert_array_equal(filled_payoffs(payoffs, "win_rate"), [[0.5, 1.0], [0.0, 0.5]])
    np.testing.assert_array_equal(filled_payoffs(payoffs, "margin"), [[0.0, 1.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="square"):
        filled_payoffs(np.zeros((2, 3)), "win_rate")
    with pytest.raises(ValueError, match="payoff kind"):
        filled_payoffs(payoffs, "elo")


@pytest.mark.parametrize("solver", SOLVERS)
def test_nan_cells_are_handled(solver):
    # A league's matrix has a NaN diagonal (nobody meets itself): same answer as 0.5 there.
    rps = RPS.copy()
    np.fill_diagonal(rps, np.nan)
    meta = META_SOLVERS[solver](rps, ["r", "p", "s"])
    np.testing.assert_allclose(meta.probabilities, [1 / 3] * 3, atol=1e-6)
    # nobody has met anybody: every player is as good as the next
    blank = META_SOLVERS[solver](np.full((4, 4), np.nan), ["a", "b", "c", "d"])
    np.testing.assert_allclose(blank.probabilities, [0.25] * 4, atol=1e-6)
    # "c" never met "a": an even game, so "a" (who beats "b") still leads
    partial = np.array([[np.nan, 0.8, np.nan], [0.2, np.nan, 0.5], [np.nan, 0.5, np.nan]])
    assert np.isfinite(META_SOLVERS[solver](partial, ["a", "b", "c"]).probabilities).all()


def test_alpharank_refuses_an_alpha_that_overflows():
    margins = np.array([[0.0, 50.0], [-50.0, 0.0]])
    with pytest.raises(ValueError, match="overflows"):
        alpharank_distribution(margins, ["a", "b"], kind="margin")
    meta = alpharank_distribution(margins, ["a", "b"], alpha=1.0, kind="margin")
    assert meta.as_dict()["a"] > 1 - 1e-6


def test_names_must_match_the_matrix():
    with pytest.raises(ValueError, match="names"):
        nash_distribution(RPS, ["a", "b"])


# ---------------------------------------------------------------------------------- meta strategy


def test_meta_strategy_to_dict_round_trips_through_json_and_gives_scalars():
    meta = MetaStrategy(("red", "blue"), (0.25, 0.75), "alpharank")
    assert MetaStrategy.from_dict(json.loads(json.dumps(meta.to_dict()))) == meta
    assert meta.to_dict() == {"solver": "alpharank", "probabilities": {"red": 0.25, "blue": 0.75}}
    assert meta.scalars("league/meta/alpharank") == {
        "league/meta/alpharank/red": 0.25,
        "league/meta/alpharank/blue": 0.75,
    }
    with pytest.raises(ValueError, match="sum to 1"):
        MetaStrategy(("a", "b"), (0.5, 0.6), "nash")
    with pytest.raises(ValueError, match="unique"):
        MetaStrategy(("a", "a"), (0.5, 0.5), "nash")


# ---------------------------------------------------------------------------------- from a league


def duel(a: str, b: str, a_score: float, b_score: float) -> MatchRecord:
    return MatchRecord("kuhn_poker_v0", ((a,), (b,)), (a_score, b_score))


def cyclic_league() -> League:
    """red > blue > green > red, each 3 games to 1; the bot met only red, and lost."""
    league = League()
    for name in ("red", "blue", "green"):
        league.add_learner(name)
    league.add_bot("random", "random")
    for winner, loser in (("red", "blue"), ("blue", "green"), ("green", "red")):
        for _ in range(3):
            league.record(duel(winner, loser, 1.0, -1.0))
        league.record(duel(loser, winner, 2.0, -2.0))
    league.record(duel("red", "random", 1.0, 0.0))
    return league


@pytest.mark.parametrize("solver", SOLVERS)
def test_solve_league_reads_the_leagues_payoffs(solver):
    league = cyclic_league()
    players = ["red", "blue", "green"]
    meta = solve_league(league, players, solver=solver)
    assert meta.names == tuple(players)
    # a symmetric cycle: uniform, as for rock-paper-scissors
    np.testing.assert_allclose(meta.probabilities, [1 / 3] * 3, atol=1e-6)
    matrix = league.payoff_matrix(players)
    assert matrix[0, 1] == 0.75 and np.isnan(matrix[0, 0])
    assert meta == META_SOLVERS[solver](matrix, players)


def test_solve_league_defaults_to_every_player_and_checks_names():
    league = cyclic_league()
    meta = solve_league(league)
    assert meta.names == ("red", "blue", "green", "random")
    # the bot lost its one game and met nobody else: dominated by red, it gets little mass
    assert meta.as_dict()["random"] < min(meta.as_dict()[p] for p in ("red", "blue", "green"))
    # margins: red wins 3 x 2 and loses 1 x 4 against blue, a mean of +0.5
    margins = solve_league(league, ["red", "blue"], solver="nash", kind="margin")
    assert margins.as_dict()["red"] == pytest.approx(1.0)
    with pytest.raises(KeyError):
        solve_league(league, ["red", "nobody"])
    with pytest.raises(ValueError, match="meta-solver"):
        solve_league(league, solver="elo")
