"""Rules, parser and bots of prisoners_dilemma_v0."""

from __future__ import annotations

import pytest

import envs
from agents.policy import ActRequest
from agents.scripted import bot_kinds, make_bot
from envs.core.game import FORFEIT_PENALTY
from envs.prisoners_dilemma.rules import PrisonersDilemma, parse_say


def play_round(game: PrisonersDilemma, m0: str, m1: str, say0="hi", say1="hello") -> None:
    game.submit("player_0", f"[say {say0}]")
    game.submit("player_1", f"[say {say1}]")
    game.submit("player_0", f"[{m0}]")
    game.submit("player_1", f"[{m1}]")


# ---------------------------------------------------------------------- parser
@pytest.mark.parametrize(
    "text, message",
    [
        ("Okay. [say I will cooperate if you do.] That's it.", "I will cooperate if you do."),
        ("[SAY: trust me]", "trust me"),
        ("[say   lots\tof   space ]", "lots of space"),
        ("[say x] and again [say x]", "x"),
        ("[say " + "a" * 100 + "]", "a" * 100),
    ],
)
def test_messages_are_found_in_chatter(text, message):
    assert parse_say(text) == message


@pytest.mark.parametrize(
    "text",
    [
        "[say " + "a" * 101 + "]",  # too long
        "[say]",
        "[say    ]",
        "[say one] [say two]",
        "say hello",
        "[cooperate]",
        "[saying hi]",
        "[say line one\nline two]",
        "",
    ],
)
def test_bad_messages_are_rejected(text):
    assert parse_say(text) is None


def test_talk_phase_takes_messages_only_and_move_phase_moves_only():
    game = PrisonersDilemma(seed=0)
    assert game.legal_moves("player_0") is None
    assert game.parse_move("player_0", "[cooperate]") is None
    assert game.parse_move("player_0", "[say hi]") == "hi"
    game.submit("player_0", "[say hi]")
    game.submit("player_1", "[say hi]")
    assert game.legal_moves("player_0") == ["[cooperate]", "[defect]"]
    assert game.parse_move("player_0", "I [say] will [Cooperate]") == "cooperate"
    assert game.parse_move("player_0", "[cooperate] or [defect]") is None
    assert game.parse_move("player_0", "[say hi]") is None


# ---------------------------------------------------------------------- phases and scoring
def test_phases_are_simultaneous_and_revealed_together():
    game = PrisonersDilemma(seed=0)
    assert game.to_act() == ["player_0", "player_1"]
    game.submit("player_0", "[say secret plan]")
    assert game.to_act() == ["player_1"]
    assert not any("secret plan" in e for e in game.visible_events("player_1"))
    assert game.view("player_1")["opponent_messages"] == []
    game.submit("player_1", "[say ok]")
    assert game.view("player_1")["opponent_messages"] == ["secret plan"]
    assert 'player_0 said "ok"' not in game.turn_prompt("player_0")
    assert 'player_1 said "ok"' in game.turn_prompt("player_0")
    game.submit("player_0", "[defect]")
    assert game.view("player_1")["opponent_moves"] == []
    assert not any("defect" in e for e in game.visible_events("player_1"))
    game.submit("player_1", "[cooperate]")
    assert game.view("player_1")["opponent_moves"] == ["defect"]
    assert game.view("player_0")["round"] == 2 and game.view("player_0")["phase"] == "talk"


@pytest.mark.parametrize(
    "m0, m1, s0, s1",
    [
        ("cooperate", "cooperate", 0.6, 0.6),
        ("cooperate", "defect", 0.0, 1.0),
        ("defect", "cooperate", 1.0, 0.0),
        ("defect", "defect", 0.2, 0.2),
    ],
)
def test_round_scores_are_the_matrix_over_five(m0, m1, s0, s1):
    game = PrisonersDilemma(seed=0)
    play_round(game, m0, m1)
    assert game.scores == pytest.approx({"player_0": s0, "player_1": s1})


def test_game_ends_after_rounds():
    game = PrisonersDilemma(seed=0, rounds=3)
    for m0, m1 in [("cooperate", "defect"), ("defect", "defect"), ("cooperate", "cooperate")]:
        assert not game.is_over()
        play_round(game, m0, m1)
    assert game.is_over() and game.to_act() == []
    assert game.scores == pytest.approx({"player_0": 0.8, "player_1": 1.8})


def test_forfeit_ends_the_game_with_the_penalty():
    game = PrisonersDilemma(seed=0)
    play_round(game, "cooperate", "cooperate")
    game.submit("player_0", "[say fine]")
    for _ in range(game.max_invalid):
        report = game.submit("player_1", "[cooperate]")  # a move in the talk phase is invalid
    assert report.forfeited and game.is_over() and game.forfeited_by == "player_1"
    assert game.scores["player_0"] == pytest.approx(0.6)
    assert game.scores["player_1"] == pytest.approx(0.6 - 0.1 * game.max_invalid - FORFEIT_PENALTY)


def test_bad_rounds_is_a_clear_error():
    with pytest.raises(ValueError, match="rounds"):
        envs.make("prisoners_dilemma_v0", rounds=0)


def test_control_characters_do_not_reach_the_log():
    game = PrisonersDilemma(seed=0)
    game.submit("player_0", "[say a\x00b\rc]")
    game.submit("player_1", "[say ok]")
    assert "a b c" in game.transcript()


# ---------------------------------------------------------------------- bots
def _request(game: PrisonersDilemma, agent: str) -> ActRequest:
    return ActRequest(agent, "", {"legal_moves": game.legal_moves(agent), "view": game.view(agent)})


def test_bot_kinds():
    assert set(bot_kinds("prisoners_dilemma_v0")) == {
        "random", "strong", "tit_for_tat", "always_cooperate", "always_defect",
    }  # fmt: skip


def test_tit_for_tat_copies_the_last_move():
    bot = make_bot("prisoners_dilemma_v0", "tit_for_tat")
    game = PrisonersDilemma(seed=0)
    assert bot.choose(_request(game, "player_0")) == "[say I will cooperate if you do.]"
    game.submit("player_0", "[say hi]")
    game.submit("player_1", "[say hi]")
    assert bot.choose(_request(game, "player_0")) == "[cooperate]"
    game.submit("player_0", "[cooperate]")
    game.submit("player_1", "[defect]")
    play_round(game, "cooperate", "cooperate")
    game.submit("player_0", "[say hi]")
    game.submit("player_1", "[say hi]")
    assert bot.choose(_request(game, "player_0")) == "[cooperate]"
    assert bot.choose(_request(game, "player_1")) == "[cooperate]"
    game = PrisonersDilemma(seed=0)
    play_round(game, "defect", "cooperate")
    game.submit("player_0", "[say hi]")
    game.submit("player_1", "[say hi]")
    assert bot.choose(_request(game, "player_1")) == "[defect]"


@pytest.mark.parametrize("kind", ["random", "strong", "always_cooperate", "always_defect"])
def test_bots_always_play_valid_moves(kind):
    for seed in range(5):
        game = PrisonersDilemma(seed=seed)
        bot = make_bot("prisoners_dilemma_v0", kind, seed=seed)
        while not game.is_over():
            agent = game.to_act()[0]
            assert game.submit(agent, bot.choose(_request(game, agent))).valid
        assert game.invalid_total == {"player_0": 0, "player_1": 0}
