"""codenames_v0: word data, key generation, clue parsing and legality, turn flow, endings."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from agents.arena import play_episode
from agents.policy import ActRequest
from agents.scripted import make_bot
from agents.scripted.codenames import CategoryBot, best_clue
from envs.codenames.rules import (
    ASSASSIN,
    NEUTRAL,
    Codenames,
    CodenamesState,
    colour_counts,
    make_key,
    parse_clue,
)
from envs.codenames.words import categories, categories_of, clashes, word_list

# A fixed 12-word board: red starts with 4 words, blue has 3, 4 neutral, 1 assassin.
KEY = {
    "tiger": "red", "lion": "red", "apple": "red", "piano": "red",
    "shark": "blue", "violin": "blue", "hammer": "blue",
    "chair": NEUTRAL, "cloud": NEUTRAL, "bread": NEUTRAL, "moon": NEUTRAL,
    "ghost": ASSASSIN,
}  # fmt: skip


def _game(max_turns: int = 8) -> Codenames:
    game = Codenames(seed=0, max_turns=max_turns)
    board = list(KEY)
    game.state = CodenamesState(board, dict(KEY), first="red", max_turns=max_turns, team="red")
    return game


def _move(game: Codenames, text: str) -> None:
    agent = game.to_act()[0]
    assert game.submit(agent, text).valid, (agent, text)


# ---------------------------------------------------------------- word data
def test_word_list_is_clean():
    words = word_list()
    assert len(words) >= 200
    assert len(set(words)) == len(words)
    assert all(w.isascii() and w.isalpha() and w.islower() for w in words)


def test_every_word_has_one_or_two_categories_and_categories_are_legal_clues():
    words = set(word_list())
    members = {w for ws in categories().values() for w in ws}
    assert members == words
    assert all(1 <= len(categories_of()[w]) <= 2 for w in words)
    for cat in categories():
        assert cat.isascii() and cat.isalpha() and cat.islower()
        assert not clashes(cat, words), cat


# ---------------------------------------------------------------- key generation
def test_colour_counts():
    assert colour_counts(25) == (9, 8, 7)
    assert colour_counts(12) == (4, 3, 4)
    assert colour_counts(9) == (3, 2, 3)
    for n in range(6, 26):
        first, second, neutral = colour_counts(n)
        assert first == second + 1 and neutral >= 1 and first + second + neutral + 1 == n


def test_make_key():
    board, key = make_key(np.random.default_rng(3), word_list(), 12, "blue")
    assert len(set(board)) == 12 and set(key) == set(board)
    assert set(board) <= set(word_list())
    counts = collections.Counter(key.values())
    assert counts == {"blue": 4, "red": 3, NEUTRAL: 4, ASSASSIN: 1}
    again = make_key(np.random.default_rng(3), word_list(), 12, "blue")
    assert again == (board, key)
    assert make_key(np.random.default_rng(4), word_list(), 12, "blue") != (board, key)


def test_game_key_follows_the_seed_and_the_starting_team_varies():
    games = [Codenames(seed=s, board_size=9) for s in range(20)]
    assert Codenames(seed=5).state.key == Codenames(seed=5).state.key
    assert {g.state.first for g in games} == {"red", "blue"}
    for g in games:
        s = g.state
        assert len(s.board) == 9 and s.team == s.first
        assert len(s.words_of(s.first)) == 3 and len(s.words_of(g.other(s.first))) == 2
        assert g.to_act() == [f"{s.first}_0"]


@pytest.mark.parametrize("kw", [{"board_size": 5}, {"board_size": 26}, {"max_turns": 0}])
def test_bad_arguments_are_clear_errors(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        Codenames(seed=0, **kw)


# ---------------------------------------------------------------- clues
def test_parse_clue():
    assert parse_clue("Let me think. [clue animal 2] is my clue") == ("animal", 2)
    assert parse_clue("[Clue: Animal, 2]") == ("animal", 2)
    assert parse_clue("[clue animal 2] again [clue ANIMAL 2]") == ("animal", 2)
    bad = ["[clue animal]", "[clue 2]", "[clue big animal 2]", "clue animal 2", "[clue animal two]"]
    bad += ["[clue animal 2] or [clue music 1]", "[clue an1mal 2]", "[clue animal -1]"]
    for text in bad:
        assert parse_clue(text) is None, text


@pytest.mark.parametrize(
    "text, ok",
    [
        ("[clue animal 2]", True),
        ("[clue music 1]", True),
        ("[clue tiger 1]", False),  # a board word
        ("[clue tigers 1]", False),  # starts like a board word
        ("[clue pian 1]", False),  # the start of a board word
        ("[clue animal 0]", False),
        ("[clue animal 13]", False),  # more than the board
        ("[clue a 1]", False),  # too short
        ("[clue zoo 12]", True),
    ],
)
def test_clue_legality(text, ok):
    game = _game()
    assert (game.parse_move("red_0", text) is not None) == ok


# ---------------------------------------------------------------- turn flow
def test_guesser_moves_and_pass_after_a_guess():
    game = _game()
    _move(game, "[clue animal 2]")
    assert game.to_act() == ["red_1"]
    legal = game.legal_moves("red_1")
    assert legal == [f"[guess {w}]" for w in KEY]  # no pass before the first guess
    assert game.parse_move("red_1", "[pass]") is None
    assert game.parse_move("red_1", "I pick [guess Tiger]!") == ("guess", "tiger")
    assert game.parse_move("red_1", "[guess tiger] or [guess lion]") is None
    assert game.parse_move("red_1", "[guess zebra]") is None  # not on the board
    _move(game, "[guess tiger]")
    assert game.parse_move("red_1", "[guess tiger]") is None  # already revealed
    assert "[pass]" in game.legal_moves("red_1")
    _move(game, "[pass]")
    assert game.to_act() == ["blue_0"] and game.state.turn == 2


def test_n_plus_one_guesses_then_the_turn_ends():
    game = _game()
    _move(game, "[clue animal 1]")
    _move(game, "[guess tiger]")
    assert game.to_act() == ["red_1"]
    _move(game, "[guess lion]")  # the bonus guess
    assert game.to_act() == ["blue_0"]
    assert game.state.revealed == {"tiger": "red", "lion": "red"}
    assert game.view("blue_1")["words_left"] == {"red": 2, "blue": 3}


def test_neutral_ends_the_turn_and_opponent_word_counts_for_the_opponent():
    game = _game()
    _move(game, "[clue animal 2]")
    _move(game, "[guess chair]")
    assert game.to_act() == ["blue_0"]
    _move(game, "[clue music 2]")
    _move(game, "[guess piano]")  # a red word, found by blue
    assert game.to_act() == ["red_0"]
    assert game.state.left("red") == ["tiger", "lion", "apple"]
    assert "blue_1 guesses piano: a red word." in game.transcript()


def test_assassin_loses_the_game():
    game = _game()
    _move(game, "[clue halloween 1]")
    _move(game, "[guess ghost]")
    assert game.over and game.state.winner == "blue" and game.to_act() == []
    assert game.scores == {"red_0": -1.0, "red_1": -1.0, "blue_0": 1.0, "blue_1": 1.0}


def test_finding_all_own_words_wins():
    game = _game()
    _move(game, "[clue stuff 4]")
    for w in ("tiger", "lion", "apple", "piano"):
        assert not game.over
        _move(game, f"[guess {w}]")
    assert game.over and game.state.winner == "red"
    assert game.scores == {"red_0": 1.0, "red_1": 1.0, "blue_0": -1.0, "blue_1": -1.0}


def test_revealing_the_opponents_last_word_makes_them_win():
    game = _game()
    game.state.revealed.update({"shark": "blue", "violin": "blue"})
    _move(game, "[clue tool 1]")
    _move(game, "[guess hammer]")
    assert game.over and game.state.winner == "blue"


def test_turn_limit_decides_by_words_found_or_draw():
    game = _game(max_turns=2)
    _move(game, "[clue animal 1]")
    _move(game, "[guess tiger]")
    _move(game, "[pass]")
    _move(game, "[clue stuff 1]")
    _move(game, "[guess chair]")
    assert game.over and game.state.winner == "red"
    assert game.scores["red_0"] == 1.0 and game.scores["blue_1"] == -1.0
    draw = _game(max_turns=2)
    for text in ("[clue stuff 1]", "[guess bread]", "[clue stuff 1]", "[guess moon]"):
        _move(draw, text)
    assert draw.over and draw.state.winner == "draw"
    assert set(draw.scores.values()) == {0.0}


def test_forfeit_loses_for_the_team():
    game = _game()
    for _ in range(3):
        report = game.submit("red_0", "[clue tiger 1]")  # illegal clue, three times
    assert report.forfeited and game.over and game.state.winner == "blue"
    assert game.scores["blue_0"] == game.scores["blue_1"] == 1.0
    assert game.scores["red_1"] == -1.0
    assert game.scores["red_0"] == pytest.approx(-1.0 - 3 * game.invalid_penalty)


# ---------------------------------------------------------------- hidden information and bots
def test_only_spymasters_see_the_key():
    game = _game()
    assert "key" in game.view("red_0") and "key" in game.view("blue_0")
    for guesser in ("red_1", "blue_1"):
        assert "key" not in game.view(guesser)
        assert "assassin: ghost" not in game.rules_text(guesser)
    assert "assassin: ghost" in game.rules_text("red_0")


def test_strong_spymaster_clue_avoids_opponent_and_assassin_words():
    for seed in range(200):
        game = Codenames(seed=seed)
        spymaster = game.to_act()[0]
        view = game.view(spymaster)
        clue = best_clue(view)
        if clue is None:
            continue
        covered = [w for w in game.state.board if w in categories()[clue[0]]]
        colours = {game.state.key[w] for w in covered}
        assert colours <= {view["team"], NEUTRAL}
        assert sum(game.state.key[w] == view["team"] for w in covered) == clue[1]
        assert game.parse_move(spymaster, f"[clue {clue[0]} {clue[1]}]") is not None


def test_strong_guesser_guesses_the_clued_category_then_passes():
    game = _game()
    _move(game, "[clue animal 2]")
    bot = CategoryBot(seed=0)

    def request() -> ActRequest:
        info = {"view": game.view("red_1"), "legal_moves": game.legal_moves("red_1")}
        return ActRequest("red_1", "", info)

    first = bot.choose(request())
    assert first in ("[guess tiger]", "[guess lion]")
    _move(game, first)
    second = bot.choose(request())
    assert second in ("[guess tiger]", "[guess lion]") and second != first
    _move(game, second)
    assert bot.choose(request()) == "[pass]"


@pytest.mark.parametrize("board_size", [6, 12, 25])
def test_bots_finish_games_without_invalid_moves(board_size):
    for seed in range(10):
        for red, blue in (("strong", "random"), ("random", "strong")):
            seats = {
                a: make_bot("codenames_v0", red if a.startswith("red") else blue, seed=seed + i)
                for i, a in enumerate(("red_0", "red_1", "blue_0", "blue_1"))
            }
            r = play_episode("codenames_v0", seats, seed=seed, board_size=board_size)
            assert not r.truncated and sum(r.invalid_moves.values()) == 0
            assert sorted(set(r.raw_scores.values())) in ([-1.0, 1.0], [0.0])
