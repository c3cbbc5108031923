"""Rules, parser and bots of negotiation_v0, on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from agents.policy import ActRequest
from agents.scripted import make_bot
from agents.scripted.negotiation import ConcedingNegotiator
from envs.core.game import FORFEIT_PENALTY
from envs.negotiation import rules
from envs.negotiation.rules import (
    Negotiation,
    describe,
    match_final,
    parse_offer_or_accept,
    value_vectors,
)

COUNTS = (2, 1, 3)


def fixed_game(max_turns: int = 6, **kwargs) -> Negotiation:
    """A known pool: 2 books, 1 hat, 3 balls; values (2, 3, 1) and (1, 5, 1), totals 10."""
    game = Negotiation(seed=0, max_turns=max_turns, **kwargs)
    game.state.counts = COUNTS
    game.state.values = {"player_0": (2, 3, 1), "player_1": (1, 5, 1)}
    return game


# ---------------------------------------------------------------------- parser
@pytest.mark.parametrize(
    "text, move",
    [
        ("I propose [offer 1 0 2], fair?", (1, 0, 2)),
        ("[OFFER: 2, 1, 3]", (2, 1, 3)),
        ("[ offer 0 0 0 ]", (0, 0, 0)),
        ("My offer: [offer 1 1 1]. I repeat: [offer 1 1 1]", (1, 1, 1)),
        ("[reject] I counter with [offer 2 0 0] [ok]", (2, 0, 0)),
        ("Deal. [accept]", "[accept]"),
        ("[Accept]!", "[accept]"),
        ("[offer \uff11 0 2]", (1, 0, 2)),  # full-width digit, NFKC
    ],
)
def test_moves_are_found_in_chatter(text, move):
    assert parse_offer_or_accept(text, COUNTS, can_accept=True) == move


@pytest.mark.parametrize(
    "text",
    [
        "[offer 3 0 0]",  # only 2 books
        "[offer 1 0 4]",  # only 3 balls
        "[offer 1 0]",  # too few counts
        "[offer 1 0 2 1]",  # too many counts
        "[offer -1 0 2]",
        "[offer 1 0 2.5]",
        "[offer a b c]",
        "[offer]",
        "[offer 102]",  # counts need separators
        "[offer 1 0 2] or [offer 0 0 0]",  # two different offers
        "[offer 1 0 2] [accept]",  # two different moves
        "[offer 1 0 2] and also [offer 9 9 9]",  # one malformed offer spoils the answer
        "I offer 1 0 2",  # no brackets
        "[offering] gifts",
        "[reject]",  # only after the last offer
        "",
    ],
)
def test_malformed_or_out_of_range_moves_are_rejected(text):
    assert parse_offer_or_accept(text, COUNTS, can_accept=True) is None


def test_accept_needs_a_standing_offer():
    assert parse_offer_or_accept("[accept]", COUNTS, can_accept=False) is None
    game = fixed_game()
    assert game.parse_move("player_0", "[accept]") is None
    assert game.parse_move("player_0", "[offer 1 0 2]") == (1, 0, 2)


def test_final_phase_only_accept_or_reject():
    assert match_final("OK [accept]") == "[accept]"
    assert match_final("no. [REJECT]") == "[reject]"
    assert match_final("[accept] [reject]") is None
    assert match_final("[offer 1 0 2]") is None
    game = fixed_game(max_turns=1)
    game.submit("player_0", "[offer 2 1 3]")
    assert game.legal_moves("player_1") == ["[accept]", "[reject]"]
    assert game.parse_move("player_1", "[offer 0 0 0]") is None


# ---------------------------------------------------------------------- scoring
def test_deal_scores_value_of_what_each_gets_over_total():
    game = fixed_game()
    assert game.submit("player_0", "I keep [offer 2 0 1], you get the rest").valid
    assert game.to_act() == ["player_1"]
    assert game.legal_moves("player_1") is None
    assert game.submit("player_1", "[accept]").valid
    assert game.is_over()
    # player_0 keeps 2 books + 1 ball: 2*2 + 1*1 = 5 -> 0.5
    # player_1 gets 1 hat + 2 balls: 5 + 2 = 7 -> 0.7
    assert game.scores == pytest.approx({"player_0": 0.5, "player_1": 0.7})
    assert game.state.deal == {"player_0": (2, 0, 1), "player_1": (0, 1, 2)}


def test_counter_offer_then_accept_by_the_first_player():
    game = fixed_game()
    game.submit("player_0", "[offer 2 1 3]")
    game.submit("player_1", "[offer 0 1 0]")  # player_1 keeps the hat; player_0 gets the rest
    game.submit("player_0", "[accept]")
    # player_0 gets 2 books + 3 balls = 4 + 3 = 7; player_1 the hat = 5
    assert game.scores == pytest.approx({"player_0": 0.7, "player_1": 0.5})


def test_no_deal_after_max_turns_scores_zero():
    game = fixed_game(max_turns=2)
    game.submit("player_0", "[offer 2 1 3]")
    game.submit("player_1", "[offer 2 1 3]")
    assert game.final_phase() and game.to_act() == ["player_0"]
    game.submit("player_0", "[reject]")
    assert game.is_over() and game.state.deal is None
    assert game.scores == {"player_0": 0.0, "player_1": 0.0}
    assert "No deal" in game.transcript()


def test_ultimatum_accept_with_one_turn():
    game = fixed_game(max_turns=1)
    game.submit("player_0", "[offer 2 1 2]")
    game.submit("player_1", "[accept]")
    assert game.scores == pytest.approx({"player_0": 0.9, "player_1": 0.1})


def test_forfeit_is_no_deal_plus_penalty():
    game = fixed_game()
    game.submit("player_0", "[offer 1 1 1]")
    for _ in range(game.max_invalid):
        report = game.submit("player_1", "hmm, let me think")
    assert report.forfeited and game.is_over() and game.forfeited_by == "player_1"
    assert game.state.deal is None
    assert game.scores["player_0"] == 0.0
    assert game.scores["player_1"] == pytest.approx(-0.1 * game.max_invalid - FORFEIT_PENALTY)


def test_invalid_move_is_penalised_and_retried():
    game = fixed_game()
    report = game.submit("player_0", "[offer 9 9 9]")
    assert not report.valid and game.to_act() == ["player_0"]
    assert game.scores["player_0"] == pytest.approx(-0.1)


# ---------------------------------------------------------------------- pool, prompts, view
def test_value_vectors_are_exact():
    assert value_vectors((2, 1), 4) == [(0, 4), (1, 2), (2, 0)]
    assert value_vectors((4, 4, 4), 10) == []


@pytest.mark.parametrize("seed", range(20))
def test_pools_are_valid(seed):
    game = Negotiation(seed=seed)
    s = game.state
    assert len(s.counts) == 3 and all(1 <= c <= 4 for c in s.counts)
    v0, v1 = s.values["player_0"], s.values["player_1"]
    for v in (v0, v1):
        assert sum(x * c for x, c in zip(v, s.counts, strict=True)) == 10
    assert v0 != v1
    assert all(a > 0 or b > 0 for a, b in zip(v0, v1, strict=True))


@pytest.mark.parametrize(
    "kwargs",
    [{"num_types": 1}, {"num_types": 5, "total_value": 5}, {"max_count": 1, "total_value": 20}],
)
def test_pool_parameters(kwargs):
    for seed in range(5):
        game = Negotiation(seed=seed, **kwargs)
        assert len(game.state.counts) == kwargs.get("num_types", 3)


def test_fallback_pool_is_valid(monkeypatch):
    monkeypatch.setattr(rules, "_COUNT_DRAWS", 0)
    for seed in range(10):
        s = Negotiation(seed=seed, num_types=4, total_value=4).state
        assert s.counts == (1, 1, 1, 1)
        v0, v1 = s.values["player_0"], s.values["player_1"]
        assert sum(v0) == sum(v1) == 4 and v0 != v1 and min(v0) > 0


def test_same_seed_same_pool_and_different_seeds_differ():
    assert Negotiation(seed=7).state == Negotiation(seed=7).state
    assert len({(Negotiation(seed=s).state.counts, *Negotiation(seed=s).state.values.values())
                for s in range(10)}) > 1  # fmt: skip


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_turns": 0},
        {"num_types": 0},
        {"num_types": 6},
        {"max_count": 0},
        {"total_value": 2},  # fewer than num_types
        {"total_value": 21},
    ],
)
def test_bad_arguments_are_clear_errors(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Negotiation(seed=0, **kwargs)
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        envs.make("negotiation_v0", **kwargs)


def test_prompts_and_view_show_only_own_values():
    game = fixed_game()
    rules = game.rules_text("player_1")
    assert "each hat is worth 5" in rules and "2 books, 1 hat, 3 balls" in rules
    assert "[offer 1 1 2]" in rules  # the example move
    game.submit("player_0", "[offer 2 0 1]")
    prompt = game.turn_prompt("player_1")
    assert "0 books, 1 hat, 2 balls" in prompt and "worth 7 of 10" in prompt
    view = game.view("player_1")
    assert view["my_values"] == [1, 5, 1]
    assert view["standing_offer"] == {"by": "player_0", "keeps": [2, 0, 1], "i_get": [0, 1, 2]}
    assert view["opponent_offers"] == [[2, 0, 1]] and view["my_offers"] == []
    assert "values" not in str({k: v for k, v in view.items() if k != "my_values"})
    assert describe((1, 0, 2)) == "1 book, 0 hats, 2 balls"


def test_offers_are_public_deal_values_private():
    game = fixed_game()
    game.submit("player_0", "[offer 2 0 1]")
    game.submit("player_1", "[accept]")
    seen0, seen1 = game.visible_events("player_0"), game.visible_events("player_1")
    assert any("player_0 keeps 2 books, 0 hats, 1 ball" in e for e in seen1)
    assert any("worth 5 of 10" in e for e in seen0) and not any("worth 5 of 10" in e for e in seen1)


# ---------------------------------------------------------------------- bots
def _request(game: Negotiation, agent: str) -> ActRequest:
    return ActRequest(agent, "", {"legal_moves": game.legal_moves(agent), "view": game.view(agent)})


def test_strong_bot_keeps_what_it_values_and_gives_away_the_rest():
    values = np.array([0, 5, 1])
    # Aspiration 1.0: keep every item with a positive value, give the worthless books away.
    assert ConcedingNegotiator.propose(values, COUNTS, [], 8.0) == (0, 1, 3)
    # Aspiration 6: the hat plus one ball is enough; the other seems to want balls most.
    assert ConcedingNegotiator.propose(values, COUNTS, [[0, 0, 3]], 6.0) == (0, 1, 1)


def test_strong_bot_accepts_good_offers_and_rejects_bad_last_offers():
    bot = make_bot("negotiation_v0", "strong", seed=0)
    game = fixed_game()
    game.submit("player_0", "[offer 0 0 0]")  # player_1 would get everything
    assert bot.choose(_request(game, "player_1")) == "[accept]"
    game = fixed_game(max_turns=1)
    game.submit("player_0", "[offer 2 1 2]")  # player_1 would get one ball: 1 of 10
    assert bot.choose(_request(game, "player_1")) == "[reject]"
    assert bot.choose(ActRequest("player_0", "", {})) in {"[accept]", "[reject]"}  # never raises


def test_random_bot_moves_are_always_valid():
    for seed in range(20):
        game = Negotiation(seed=seed)
        bot = make_bot("negotiation_v0", "random", seed=seed)
        while not game.is_over():
            agent = game.to_act()[0]
            assert game.submit(agent, bot.choose(_request(game, agent))).valid
