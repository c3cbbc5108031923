"""Rules, parser and bots of hidden_sum_v0, on hand-computed cases."""

from __future__ import annotations

import pytest

from agents.arena import play_episode
from agents.scripted import make_bot
from agents.scripted.hidden_sum import sum_in_message
from envs.core.game import FORFEIT_PENALTY
from envs.hidden_sum.rules import HiddenSum, parse_answer, parse_say

NUMBERS = {"player_0": [3, 5], "player_1": [9, 1], "player_2": [2, 2]}  # total 22


def fixed_game(**kwargs) -> HiddenSum:
    game = HiddenSum(seed=0, **kwargs)
    game.state.numbers = {a: list(v) for a, v in NUMBERS.items()}
    return game


def talk(game: HiddenSum) -> None:
    for a in game.agents:
        assert game.submit(a, f"[say my sum is {sum(game.state.numbers[a])}]").valid


# ---------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("[answer 17]", 17),
        ("So the total is [Answer: 17].", 17),
        ("[ answer 17 ] and again [answer 17]", 17),
        ("[answer 6]", 6),
        ("[answer 54]", 54),
        ("[answer 007]", 7),
    ],
)
def test_answers_are_found_in_chatter(text, answer):
    assert parse_answer(text, 6, 54) == answer


@pytest.mark.parametrize(
    "text",
    ["", "17", "answer 17", "[answer]", "[answer 5]", "[answer 55]", "[answer -7]",
     "[answer 17.5]", "[answer seventeen]", "[answer 17] [answer 18]", "[answer 1e3]",
     "[answer 17 18]", "[say 17]"],
)  # fmt: skip
def test_malformed_answers_are_rejected(text):
    assert parse_answer(text, 6, 54) is None


def test_say_parsing():
    assert parse_say("ok [say my sum is 8] bye") == "my sum is 8"
    assert parse_say("[say]") is None
    assert parse_say("[answer 8]") is None


def test_each_phase_accepts_only_its_move():
    game = fixed_game()
    assert game.legal_moves("player_0") is None
    assert game.parse_move("player_0", "[answer 22]") is None
    talk(game)
    assert game.parse_move("player_0", "[say hi]") is None
    assert game.parse_move("player_0", "[answer 22]") == 22


# ---------------------------------------------------------------------- rules and scores
def test_numbers_are_private_digits_and_seeded():
    game = HiddenSum(seed=3, num_players=4, numbers_per_player=5)
    assert all(len(v) == 5 and all(1 <= x <= 9 for x in v) for v in game.state.numbers.values())
    assert game.answer_range == (20, 180)
    assert (
        HiddenSum(seed=3, num_players=4, numbers_per_player=5).state.numbers == game.state.numbers
    )
    assert (
        HiddenSum(seed=4, num_players=4, numbers_per_player=5).state.numbers != game.state.numbers
    )
    view = game.view("player_1")
    assert view["my_numbers"] == game.state.numbers["player_1"]
    assert "total" not in view and "numbers" not in view


def test_rules_show_own_numbers_only():
    game = fixed_game()
    rules = game.rules_text("player_0")
    assert "Your numbers: 3, 5 (sum 8)" in rules and "from 6 to 54" in rules
    assert "[answer N]" in rules and "[say" in rules
    assert "9, 1" not in rules


def test_messages_are_revealed_together_and_answers_scored():
    game = fixed_game()
    game.submit("player_0", "[say my sum is 8]")
    assert game.view("player_1")["messages"] == {}
    assert game.visible_events("player_1") == []
    game.submit("player_1", "[say ten]")
    game.submit("player_2", "[say four]")
    assert game.state.phase == "answer"
    assert game.visible_events("player_2") == [
        "player_0 says: my sum is 8", "player_1 says: ten", "player_2 says: four",
    ]  # fmt: skip
    assert game.view("player_0")["messages"]["player_1"] == "ten"
    game.submit("player_0", "[answer 22]")
    game.submit("player_1", "[answer 21]")
    game.submit("player_2", "I think [answer 22]")
    assert game.over
    assert game.scores == {"player_0": 1.0, "player_1": 0.0, "player_2": 1.0}
    view = game.view("player_1")
    assert view["total"] == 22 and view["answers"] == {
        "player_0": 22, "player_1": 21, "player_2": 22,
    }  # fmt: skip
    assert "The total was 22" in game.transcript()


def test_forfeit_in_the_answer_phase_scores_the_answers_given():
    game = fixed_game()
    talk(game)
    game.submit("player_0", "[answer 22]")
    for _ in range(3):
        game.submit("player_1", "twenty-two")
    assert game.over and game.forfeited_by == "player_1"
    assert game.scores["player_0"] == 1.0
    assert game.scores["player_1"] == pytest.approx(-0.3 - FORFEIT_PENALTY)
    assert game.scores["player_2"] == 0.0


def test_forfeit_in_the_talk_phase_ends_the_game():
    game = fixed_game()
    for _ in range(3):
        game.submit("player_0", "hello")
    assert game.over and game.to_act() == []
    assert game.scores["player_0"] == pytest.approx(-0.3 - FORFEIT_PENALTY)
    assert game.scores["player_1"] == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [{"num_players": 1}, {"num_players": 5}, {"numbers_per_player": 0}, {"numbers_per_player": 6}],
)
def test_bad_arguments_are_clear_errors(kwargs):
    with pytest.raises(ValueError):
        HiddenSum(seed=0, **kwargs)


# ---------------------------------------------------------------------- bots
def test_sum_in_message():
    assert sum_in_message("my sum is 7") == 7
    assert sum_in_message("3 + 4 = 7") == 7
    assert sum_in_message("no numbers") is None


@pytest.mark.parametrize(("n", "k"), [(2, 1), (3, 2), (4, 3), (4, 5)])
def test_strong_bots_all_answer_right(n, k):
    for seed in range(25):
        seats = {f"player_{i}": make_bot("hidden_sum_v0", "strong", seed=i) for i in range(n)}
        result = play_episode(
            "hidden_sum_v0", seats, seed=seed, num_players=n, numbers_per_player=k
        )
        assert result.raw_scores == dict.fromkeys(seats, 1.0), result.transcript


def test_random_bots_play_valid_moves_and_mostly_miss():
    hits = 0
    for seed in range(40):
        seats = {
            f"player_{i}": make_bot("hidden_sum_v0", "random", seed=seed + i) for i in range(3)
        }
        result = play_episode("hidden_sum_v0", seats, seed=seed)
        assert sum(result.invalid_moves.values()) == 0
        hits += sum(result.raw_scores.values())
    assert hits < 0.2 * 40 * 3
