"""The league's meta-strategy in Kuhn poker: a mixture of policies as the one behaviour policy
that plays like it (`theory.mixture_policy`), and its exact exploitability, checked against
OpenSpiel's `policy_aggregator` and `exploitability` on the same mixtures."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

pytest.importorskip("pyspiel")

from envs.kuhn_poker import theory
from envs.openspiel.exploitability import tabular_policy
from tests.theory.test_openspiel_exploitability import (
    openspiel_policy,
    random_home_policy,
)

BETS = {k: {"call" if k.endswith("b") else "bet": 1} for k in theory.info_sets()}
CHECKS = {k: {"fold" if k.endswith("b") else "check": 1} for k in theory.info_sets()}


def openspiel_mixture(policies, weights):
    """OpenSpiel's realisation-equivalent policy of the mixture, for both seats."""
    from open_spiel.python.algorithms import policy_aggregator

    from envs.openspiel.game import load_game

    game = load_game("kuhn_poker")
    tables = [tabular_policy(game, openspiel_policy(p)) for p in policies]
    aggregator = policy_aggregator.PolicyAggregator(game)
    w = [float(x) for x in weights]
    return game, aggregator.aggregate([0, 1], [tables, tables], [w, list(w)])


def openspiel_exploitability(policies, weights) -> float:
    from open_spiel.python.algorithms import exploitability

    game, mixture = openspiel_mixture(policies, weights)
    return float(exploitability.exploitability(game, mixture))


def as_floats(policy):
    return {k: {a: float(p) for a, p in probs.items()} for k, probs in policy.items()}


def hand_made():
    nash0, nash3 = theory.nash_policy(Fraction(0)), theory.nash_policy(Fraction(1, 3))
    return {
        "bet or check, half each": ([BETS, CHECKS], [1, 1]),
        "mostly betting": ([BETS, CHECKS], [3, 1]),
        "two Nash equilibria": ([nash0, nash3], [1, 2]),
        "Nash, uniform, betting": ([nash3, theory.uniform_policy(), BETS], [5, 3, 2]),
        "a policy of weight 0": ([theory.uniform_policy(), BETS], [1, 0]),
        "one policy": ([theory.nash_policy(Fraction(1, 6))], [1]),
        "info sets nobody reaches": ([BETS], [1]),  # never checks: "J:cb" is never played
    }


@pytest.mark.parametrize("name", sorted(hand_made()))
def test_hand_made_mixtures_match_openspiel(name):
    policies, weights = hand_made()[name]
    ours = theory.mixture_exploitability(policies, weights)
    assert isinstance(ours, Fraction)  # ints and Fractions in, exact out
    assert float(ours) == pytest.approx(openspiel_exploitability(policies, weights), abs=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_random_mixtures_match_openspiel_policy_and_exploitability(seed):
    rng = np.random.default_rng(seed)
    policies = [random_home_policy(rng) for _ in range(int(rng.integers(2, 6)))]
    weights = [float(w) for w in rng.random(len(policies))]
    ours = theory.mixture_policy(policies, weights)
    game, theirs = openspiel_mixture(policies, weights)
    state_policy = tabular_policy(game, openspiel_policy(ours))
    for key, row in state_policy.state_lookup.items():
        state = state_policy.states[row]
        expected = theirs.action_probabilities(state)
        got = state_policy.action_probabilities(state)
        for action, p in expected.items():
            assert got[action] == pytest.approx(p, abs=1e-12), (key, action)
    assert theory.mixture_exploitability(policies, weights) == pytest.approx(
        openspiel_exploitability(policies, weights), abs=1e-12
    )


def test_the_mixture_is_not_the_plain_average_of_move_probabilities():
    """After check-bet only the checking policy is there: it folds, where the plain average
    would call half the time; the two strategies concede different amounts."""
    mixture = theory.mixture_policy([BETS, CHECKS], [1, 1])
    assert mixture["K:cb"] == {"call": 0, "fold": 1}
    assert mixture["K:"] == {"check": Fraction(1, 2), "bet": Fraction(1, 2)}
    average = {k: {a: (BETS[k].get(a, 0) + CHECKS[k].get(a, 0)) / 2 for a in ("call", "fold")}
               if k.endswith("b") else
               {a: (BETS[k].get(a, 0) + CHECKS[k].get(a, 0)) / 2 for a in ("bet", "check")}
               for k in theory.info_sets()}  # fmt: skip
    assert theory.exploitability(average) != theory.mixture_exploitability([BETS, CHECKS], [1, 1])


def test_mixing_nash_equilibria_stays_unexploitable_exactly():
    family = [theory.nash_policy(Fraction(a, 12)) for a in range(5)]
    assert theory.mixture_exploitability(family, [1, 2, 3, 4, 5]) == 0


def test_own_reach_multiplies_the_players_own_earlier_moves_only():
    table = theory.as_table(theory.nash_policy(Fraction(1, 3)))
    assert theory.own_reach(table, "J:") == 1 and theory.own_reach(table, "Q:b") == 1
    assert theory.own_reach(table, "K:cb") == 0  # K bets with 3 alpha = 1: never checks first
    assert theory.own_reach(table, "J:cb") == Fraction(2, 3)


def test_bad_mixtures_are_refused():
    with pytest.raises(ValueError, match="one weight per policy"):
        theory.mixture_policy([BETS], [1, 1])
    with pytest.raises(ValueError, match="positive sum"):
        theory.mixture_policy([BETS, CHECKS], [0, 0])
    with pytest.raises(ValueError, match="positive sum"):
        theory.mixture_policy([BETS, CHECKS], [1, -1])
