"""Rules, parser, word list and bots of signal_v0, on hand-computed cases."""

from __future__ import annotations

import re

import pytest

from agents.arena import play_episode
from agents.scripted import make_bot
from envs.core.game import FORFEIT_PENALTY
from envs.signal.rules import CATEGORIES, LEXICON, Signal, clue_allowed, parse_clue


def fixed_game(**kwargs) -> Signal:
    """Candidates apple (fruit), hammer (tool), tiger (mammal), canoe (boat); target apple."""
    game = Signal(seed=0, **kwargs)
    game.state.candidates = ["apple", "hammer", "tiger", "canoe"]
    game.state.target = "apple"
    return game


# ---------------------------------------------------------------------- word list
def test_word_list_is_shipped_and_well_formed():
    assert len(LEXICON) >= 300 and len(CATEGORIES) >= 20
    assert all(len(words) >= 8 for words in CATEGORIES.values())
    for word, category in LEXICON.items():
        assert re.fullmatch(r"[a-z]+", word) and re.fullmatch(r"[a-z]+", category)
        assert word not in CATEGORIES, f"{word} is also a category"
        assert clue_allowed(category, word), f"{category} is not a valid clue for {word}"


def test_candidates_come_from_distinct_categories():
    for seed in range(50):
        game = Signal(seed=seed, num_candidates=6)
        candidates = game.state.candidates
        assert len({LEXICON[w] for w in candidates}) == 6
        assert game.state.target in candidates
    assert Signal(seed=7).state == Signal(seed=7).state
    assert len({tuple(Signal(seed=s).state.candidates) for s in range(10)}) == 10


# ---------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("text", "clue"),
    [
        ("[clue fruit]", "fruit"),
        ('My clue is [Clue: "Fruit"]!', "fruit"),
        ("[ clue  sea-side ]", "sea-side"),
        ("[clue fruit] ... [CLUE fruit]", "fruit"),
        ("[clue crème]", "crème"),
    ],
)
def test_clues_are_found_in_chatter(text, clue):
    assert parse_clue(text) == clue


@pytest.mark.parametrize(
    "text",
    ["", "fruit", "clue fruit", "[clue]", "[clue two words]", "[clue fruit] [clue tree]",
     "[clue 42]", "[clue fruit4]", "[clue -fruit]", "[cluefruit]", "[pick apple]"],
)  # fmt: skip
def test_malformed_clues_are_rejected(text):
    assert parse_clue(text) is None


@pytest.mark.parametrize("clue", ["apple", "APPLE", "apples", "app", "pineapple", "Pl"])
def test_clue_containing_the_target_or_contained_in_it_is_invalid(clue):
    game = fixed_game()
    assert not clue_allowed(clue, "apple")
    report = game.submit("player_0", f"[clue {clue}]")
    assert not report.valid
    assert game.scores["player_0"] == pytest.approx(-0.1)
    assert game.to_act() == ["player_0"] and game.state.clue is None


def test_allowed_clue_is_accepted_and_public():
    game = fixed_game()
    assert game.submit("player_0", "Let me think. [clue Fruit]").valid
    assert game.state.clue == "fruit"
    assert game.visible_events("player_1") == ["player_0 gives the clue: fruit"]
    assert game.view("player_1")["clue"] == "fruit"


def test_listeners_pick_only_candidates():
    game = fixed_game()
    game.submit("player_0", "[clue fruit]")
    assert game.legal_moves("player_1") == [
        "[pick apple]", "[pick hammer]", "[pick tiger]", "[pick canoe]",
    ]  # fmt: skip
    assert game.parse_move("player_1", "I go with [PICK apple].") == "apple"
    assert game.parse_move("player_1", "[pick banana]") is None
    assert game.parse_move("player_1", "[pick apple] or [pick tiger]") is None


# ---------------------------------------------------------------------- rules and scores
def test_turn_order_and_scoring_with_two_listeners():
    game = fixed_game(num_listeners=2)
    assert game.to_act() == ["player_0"]
    game.submit("player_0", "[clue fruit]")
    assert game.to_act() == ["player_1"]
    game.submit("player_1", "[pick apple]")
    assert game.to_act() == ["player_2"]
    # Picks stay hidden from the other listener until the end.
    assert not any("apple" in e for e in game.visible_events("player_2"))
    assert "picks" not in game.view("player_2") and "target" not in game.view("player_2")
    game.submit("player_2", "[pick tiger]")
    assert game.over and game.to_act() == []
    assert game.scores == {"player_0": 0.5, "player_1": 0.5, "player_2": 0.5}
    view = game.view("player_2")
    assert view["target"] == "apple" and view["picks"] == {"player_1": "apple", "player_2": "tiger"}


def test_only_the_speaker_sees_the_target():
    game = fixed_game(num_listeners=2)
    assert "The target word is: apple" in game.rules_text("player_0")
    assert game.view("player_0")["target"] == "apple"
    for listener in ("player_1", "player_2"):
        assert "target word is" not in game.rules_text(listener)
        assert "target" not in game.view(listener)


def test_speaker_forfeit_ends_the_game_scoreless():
    game = fixed_game()
    for _ in range(3):
        game.submit("player_0", "[clue apple]")
    assert game.over and game.forfeited_by == "player_0"
    assert game.scores["player_0"] == pytest.approx(-0.3 - FORFEIT_PENALTY)
    assert game.scores["player_1"] == 0.0


def test_listener_forfeit_keeps_the_picks_made():
    game = fixed_game(num_listeners=2)
    game.submit("player_0", "[clue fruit]")
    game.submit("player_1", "[pick apple]")
    for _ in range(3):
        game.submit("player_2", "apple!")
    assert game.over and game.forfeited_by == "player_2"
    assert game.scores["player_0"] == pytest.approx(0.5)
    assert game.scores["player_1"] == pytest.approx(0.5)
    assert game.scores["player_2"] == pytest.approx(0.5 - 0.3 - FORFEIT_PENALTY)


@pytest.mark.parametrize(
    "kwargs",
    [{"num_listeners": 0}, {"num_listeners": 9}, {"num_candidates": 1}, {"num_candidates": 13}],
)
def test_bad_arguments_are_clear_errors(kwargs):
    with pytest.raises(ValueError):
        Signal(seed=0, **kwargs)


# ---------------------------------------------------------------------- bots
def _play(kind: str, seed: int, **kwargs) -> float:
    n = kwargs.get("num_listeners", 1) + 1
    seats = {f"player_{i}": make_bot("signal_v0", kind, seed=seed + i) for i in range(n)}
    result = play_episode("signal_v0", seats, seed=seed, **kwargs)
    assert sum(result.invalid_moves.values()) == 0
    return result.raw_scores["player_0"]


@pytest.mark.parametrize("kwargs", [{}, {"num_listeners": 3, "num_candidates": 8}])
def test_strong_pair_always_succeeds(kwargs):
    assert all(_play("strong", seed, **kwargs) == 1.0 for seed in range(100))


def test_random_play_succeeds_about_one_time_in_k():
    rate = sum(_play("random", seed, num_candidates=4) for seed in range(400)) / 400
    assert 0.15 < rate < 0.35


@pytest.mark.parametrize("seed", range(20))
def test_clue_choices_list_the_candidates_categories(seed):
    """With clue_choices the speaker is offered one clue per candidate, its category: each is an
    allowed clue, and naming the target's category lets the listener pick the target."""
    game = Signal(seed=seed, num_candidates=5, clue_choices=True)
    moves = game.legal_moves(game.speaker)
    assert moves == [f"[clue {LEXICON[w]}]" for w in game.state.candidates]
    assert len(set(moves)) == 5 and all(m in game.turn_prompt(game.speaker) for m in moves)
    right = f"[clue {LEXICON[game.state.target]}]"
    assert game.parse_move(game.speaker, right) == LEXICON[game.state.target]
    game.apply_move(game.speaker, game.parse_move(game.speaker, right))
    listener = game.listeners[0]
    assert f'"{LEXICON[game.state.target]}"' in game.turn_prompt(listener)
    game.apply_move(listener, game.parse_move(listener, f"[pick {game.state.target}]"))
    assert game.over and game.scores[game.speaker] == 1.0
    assert Signal(seed=seed).legal_moves("player_0") is None  # free text by default
