"""Kuhn poker rules, move parser, scoring, privacy and forfeit."""

from __future__ import annotations

import pytest

from agents.policy import ActRequest
from agents.scripted import make_bot
from envs.kuhn_poker.rules import (
    KuhnPoker,
    contributions,
    deals,
    info_set,
    is_terminal,
    legal_actions,
    player_to_act,
    returns,
)


def dealt(cards: tuple[str, str]) -> KuhnPoker:
    """A game with the given deal (player_0's card, player_1's card)."""
    for seed in range(100):
        game = KuhnPoker(seed=seed)
        if game.state.cards == cards:
            return game
    raise AssertionError(f"no seed below 100 deals {cards}")


def play(game: KuhnPoker, *moves: str) -> None:
    for move in moves:
        (agent,) = game.to_act()
        assert game.submit(agent, f"[{move}]").valid, move


# ---------------------------------------------------------------------- information-set structure
def test_deals_are_the_six_ordered_pairs_of_distinct_cards():
    assert sorted(deals()) == sorted(
        [("J", "Q"), ("J", "K"), ("Q", "J"), ("Q", "K"), ("K", "J"), ("K", "Q")]
    )


def test_every_deal_happens_and_comes_from_the_seed():
    seen = {KuhnPoker(seed=s).state.cards for s in range(60)}
    assert seen == set(deals())
    assert KuhnPoker(seed=7).state.cards == KuhnPoker(seed=7).state.cards


def test_histories_actions_and_turns():
    assert legal_actions("") == ("check", "bet") == legal_actions("c")
    assert legal_actions("b") == ("call", "fold") == legal_actions("cb")
    for h in ("cc", "bc", "bf", "cbc", "cbf"):
        assert is_terminal(h) and legal_actions(h) == ()
    assert not any(is_terminal(h) for h in ("", "c", "b", "cb"))
    assert [player_to_act(h) for h in ("", "c", "b", "cb")] == [0, 1, 1, 0]
    for bad in ("bb", "x", "cbcb"):
        with pytest.raises(ValueError):
            legal_actions(bad)


@pytest.mark.parametrize(
    ("cards", "history", "chips", "pot"),
    [
        (("K", "J"), "cc", (1, -1), (1, 1)),
        (("J", "Q"), "cc", (-1, 1), (1, 1)),
        (("Q", "J"), "bc", (2, -2), (2, 2)),
        (("Q", "K"), "bc", (-2, 2), (2, 2)),
        (("J", "K"), "bf", (1, -1), (2, 1)),  # the bluff works
        (("K", "Q"), "cbc", (2, -2), (2, 2)),
        (("J", "Q"), "cbc", (-2, 2), (2, 2)),
        (("K", "Q"), "cbf", (-1, 1), (1, 2)),
    ],
)
def test_returns_by_hand(cards, history, chips, pot):
    assert returns(cards, history) == chips
    assert contributions(history) == pot


def test_returns_refuses_an_unfinished_hand():
    with pytest.raises(ValueError, match="not terminal"):
        returns(("K", "J"), "cb")


# ---------------------------------------------------------------------- parser
@pytest.mark.parametrize(
    ("history", "text", "expected"),
    [
        ("", "I hold the king, so I [bet].", "bet"),
        ("", "[Check]", "check"),
        ("", "[ BET ]", "bet"),
        ("", "[check] or [bet]?", None),
        ("", "[call]", None),  # no bet to call
        ("", "bet", None),  # no brackets
        ("", "[raise]", None),
        ("b", "Too rich for me. [fold]", "fold"),
        ("b", "[check]", None),  # facing a bet
        ("cb", "[call] [call]", "call"),
        ("cb", "", None),
    ],
)
def test_parse_move_finds_one_legal_move_in_chatter(history, text, expected):
    game = dealt(("Q", "K"))
    play(game, *({"c": "check", "b": "bet"}[h] for h in history))
    (agent,) = game.to_act()
    assert game.parse_move(agent, text) == expected


# ---------------------------------------------------------------------- the game
def test_bet_and_fold():
    game = dealt(("J", "K"))
    play(game, "bet", "fold")
    assert game.over and game.to_act() == []
    assert game.scores == {"player_0": 1.0, "player_1": -1.0}
    assert "player_0 wins 1 chip without a showdown." in game.transcript()
    assert game.view("player_0")["opponent_card"] is None  # no showdown, no reveal


def test_check_bet_call_goes_to_showdown():
    game = dealt(("Q", "K"))
    play(game, "check")
    assert game.legal_moves("player_1") == ["[check]", "[bet]"]
    play(game, "bet")
    assert game.to_act() == ["player_0"]
    assert game.legal_moves("player_0") == ["[call]", "[fold]"]
    assert "[call] or [fold]" in game.turn_prompt("player_0")
    assert game.view("player_0")["info_set"] == "Q:cb"
    play(game, "call")
    assert game.scores == {"player_0": -2.0, "player_1": 2.0}
    assert "Showdown: player_0 has Q, player_1 has K. player_1 wins 2 chips." in game.transcript()
    assert game.view("player_0")["opponent_card"] == "K"


def test_check_check_pays_the_antes():
    game = dealt(("K", "Q"))
    play(game, "check", "check")
    assert game.scores == {"player_0": 1.0, "player_1": -1.0}


def test_the_card_is_private():
    game = dealt(("K", "J"))
    assert "Your card: K." in game.rules_text("player_0")
    assert "Your card: J." in game.rules_text("player_1")
    assert "K" not in game.rules_text("player_1").split("J < Q < K")[1]
    assert game.visible_events("player_1") == ["player_1 is dealt J."]
    view = game.view("player_1")
    assert view["card"] == "J" and view["opponent_card"] is None and "K" not in str(view)
    play(game, "bet")
    assert "K" not in " ".join(game.visible_events("player_1"))
    assert game.view("player_1")["info_set"] == "J:b" == info_set("J", "b")


@pytest.mark.parametrize(
    ("before", "forfeiter"), [((), "player_0"), (("check", "bet"), "player_0")]
)
def test_a_forfeit_is_a_fold_losing_the_ante(before, forfeiter):
    game = dealt(("K", "J"))  # even with the best card
    play(game, *before)
    for _ in range(3):
        report = game.submit(forfeiter, "uh")
    assert report.forfeited and game.over
    assert game.scores[forfeiter] == pytest.approx(-1.3)  # ante + 3 invalid-move penalties
    assert game.scores["player_1"] == pytest.approx(1.0)


def test_player_1_forfeit_facing_a_bet():
    game = dealt(("J", "K"))
    play(game, "bet")
    for _ in range(3):
        game.submit("player_1", None)
    assert game.over and game.scores == pytest.approx({"player_0": 1.0, "player_1": -1.3})


# ---------------------------------------------------------------------- bots
def _request(game: KuhnPoker) -> ActRequest:
    (agent,) = game.to_act()
    info = {"legal_moves": game.legal_moves(agent), "view": game.view(agent)}
    return ActRequest(agent, "", info)


def test_nash_bot_pure_decisions():
    bot = make_bot("kuhn_poker_v0", "strong", seed=0)
    game = dealt(("J", "K"))
    play(game, "check")
    assert {bot.choose(_request(game)) for _ in range(20)} == {"[bet]"}  # K:c bets
    game = dealt(("J", "K"))
    play(game, "bet")
    assert {bot.choose(_request(game)) for _ in range(20)} == {"[call]"}  # K:b calls
    game = dealt(("Q", "J"))
    assert {bot.choose(_request(game)) for _ in range(20)} == {"[check]"}  # Q: checks
    game = dealt(("J", "K"))
    play(game, "check", "bet")
    assert {bot.choose(_request(game)) for _ in range(20)} == {"[fold]"}  # J:cb folds


def test_nash_bot_answers_a_legal_move_on_a_broken_view():
    bot = make_bot("kuhn_poker_v0", "strong", seed=0)
    for view in ({}, {"info_set": "Z:"}, {"info_set": "K:"}):
        move = bot.choose(
            ActRequest("player_1", "", {"legal_moves": ["[call]", "[fold]"], "view": view})
        )
        assert move in ("[call]", "[fold]")
