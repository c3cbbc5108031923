"""Kuhn poker theory, by exact traversal of the rules over all 6 deals: OpenSpiel's known values."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from agents.arena import play_episode
from agents.scripted import make_bot
from envs.kuhn_poker import theory
from envs.kuhn_poker.rules import TERMINAL, KuhnPoker, deals, returns
from envs.kuhn_poker.theory import (
    as_table,
    best_response_value,
    expected_value,
    exploitability,
    info_sets,
    nash_conv,
    nash_policy,
    uniform_policy,
)

ALPHAS = [Fraction(0), Fraction(1, 6), Fraction(1, 3)]


def _as_floats(policy):
    return {k: {a: float(p) for a, p in probs.items()} for k, probs in policy.items()}


# ---------------------------------------------------------------------- known values
@pytest.mark.parametrize("alpha", ALPHAS)
def test_nash_profile_value_is_minus_one_eighteenth(alpha):
    policy = nash_policy(alpha)
    assert expected_value(policy, policy) == Fraction(-1, 18)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_nash_profile_is_unexploitable(alpha):
    assert exploitability(nash_policy(alpha)) == 0
    assert exploitability(_as_floats(nash_policy(alpha))) == pytest.approx(0, abs=1e-9)


def test_uniform_play_is_exploitable_by_eleven_twenty_fourths():
    assert exploitability(uniform_policy()) == Fraction(11, 24)
    assert nash_conv(uniform_policy()) == Fraction(11, 12)
    floats = _as_floats(uniform_policy())
    assert exploitability(floats) == pytest.approx(11 / 24, abs=1e-12)


def test_best_responses_to_the_nash_strategy_gain_nothing():
    policy = nash_policy(Fraction(1, 3))
    assert best_response_value(policy, 0) == Fraction(-1, 18)
    assert best_response_value(policy, 1) == Fraction(1, 18)


def test_a_pure_strategy_is_exploitable():
    # Against always bet/call, player_1 calls with K and Q and folds J: (2 + 0 - 1) / 3; player_0
    # bets K (+2), is indifferent with Q (0) and check-folds J (-1): also 1/3. Self-play value is 0.
    always_bet = {k: {"call": 1} if k.endswith("b") else {"bet": 1} for k in info_sets()}
    assert (
        best_response_value(always_bet, 0) == best_response_value(always_bet, 1) == Fraction(1, 3)
    )
    assert exploitability(always_bet) == Fraction(1, 3)


def test_nash_bot_beats_uniform_random_in_expectation():
    nash, uniform = nash_policy(Fraction(1, 3)), uniform_policy()
    as_p0 = expected_value(nash, uniform)
    as_p1 = -expected_value(uniform, nash)
    assert as_p0 == Fraction(1, 6) and as_p1 == Fraction(1, 6)
    assert (as_p0 + as_p1) / 2 > 0


# ---------------------------------------------------------------------- the env plays these rules
def test_the_game_class_scores_every_deal_and_history_as_returns():
    words = {"c": ("check", "call"), "b": ("bet",), "f": ("fold",)}
    seed_of = {KuhnPoker(seed=s).state.cards: s for s in range(100)}
    assert set(seed_of) == set(deals())
    for cards in deals():
        for history in TERMINAL:
            game = KuhnPoker(seed=seed_of[cards])
            for i, letter in enumerate(history):
                (agent,) = game.to_act()
                assert agent == f"player_{i % 2}"
                assert game.view(agent)["info_set"] in info_sets()
                (move,) = [m for m in game.legal_moves(agent) if m.strip("[]") in words[letter]]
                assert game.submit(agent, move).valid
            assert game.over
            assert tuple(game.scores.values()) == returns(cards, history)


def test_bots_in_the_env_earn_the_exact_value():
    """Monte Carlo through the env with the scripted bots matches the exact value (1/6 a hand), and
    with enough hands the strong bot beats the random bot clearly."""
    hands = 2000
    chips = []
    for seed in range(hands):
        strong_seat = seed % 2
        kinds = ("strong", "random") if strong_seat == 0 else ("random", "strong")
        seats = {
            f"player_{i}": make_bot("kuhn_poker_v0", kind, seed=3 * seed + i)
            for i, kind in enumerate(kinds)
        }
        result = play_episode("kuhn_poker_v0", seats, seed=seed)
        chips.append(result.raw_scores[f"player_{strong_seat}"])
    chips = np.asarray(chips)
    stderr = chips.std(ddof=1) / np.sqrt(hands)
    assert abs(chips.mean() - 1 / 6) < 4 * stderr, (chips.mean(), stderr)
    assert chips.mean() / stderr > 3


# ---------------------------------------------------------------------- policy input format
def test_policy_format_accepts_env_moves_any_case_and_normalises():
    key_by_key = {k: {f"[{a.upper()}]": 5 for a in probs} for k, probs in uniform_policy().items()}
    assert exploitability(key_by_key) == Fraction(11, 24)
    assert exploitability(lambda key: uniform_policy()[key]) == Fraction(11, 24)
    partial = as_table({**uniform_policy(), "K:b": {"call": 1}})
    assert partial["K:b"] == {"call": 1, "fold": 0}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"K:": {"call": 1}}, "not one of the legal actions"),
        ({"K:": {"bet": -0.5, "check": 1.5}}, ">= 0"),
        ({"K:": {"bet": float("nan")}}, ">= 0"),
        ({"K:": {"bet": 0, "check": 0}}, "positive sum"),
    ],
)
def test_policy_format_rejects_bad_entries(change, message):
    with pytest.raises(ValueError, match=message):
        exploitability({**uniform_policy(), **change})


def test_policy_format_names_missing_info_sets():
    policy = uniform_policy()
    del policy["Q:cb"]
    with pytest.raises(ValueError, match="Q:cb"):
        exploitability(policy)


def test_info_sets_are_the_twelve_documented_keys():
    assert info_sets(0) == ["J:", "Q:", "K:", "J:cb", "Q:cb", "K:cb"]
    assert info_sets(1) == ["J:c", "Q:c", "K:c", "J:b", "Q:b", "K:b"]
    assert sorted(info_sets()) == sorted(info_sets(0) + info_sets(1))


def test_documented_constants():
    assert expected_value(nash_policy(), nash_policy()) == theory.NASH_VALUE
    assert exploitability(uniform_policy()) == theory.UNIFORM_EXPLOITABILITY
