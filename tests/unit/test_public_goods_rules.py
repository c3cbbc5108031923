"""Rules, parser and bots of public_goods_v0, on hand-computed cases."""

from __future__ import annotations

import pytest

from agents.policy import ActRequest
from agents.scripted import make_bot
from envs.core.game import FORFEIT_PENALTY
from envs.public_goods.rules import PublicGoods, parse_say, round_scores


def talk(game: PublicGoods, messages: dict[str, str] | None = None) -> None:
    for a in game.agents:
        assert game.submit(a, f"[say {(messages or {}).get(a, 'hi')}]").valid


def contribute(game: PublicGoods, amounts: list[int]) -> None:
    for a, n in zip(game.agents, amounts, strict=True):
        assert game.submit(a, f"I put [contribute {n}] in.").valid


# ---------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Hi. [say let's   all cooperate] ok", "let's all cooperate"),
        ("[SAY: put in everything!]", "put in everything!"),
        ("[say] [say second one]", "second one"),
        ("[say first] [say second]", "first"),
        ("  [ say  spaced ]", "spaced"),
    ],
)
def test_say_is_found_in_chatter(text, message):
    assert parse_say(text) == message


@pytest.mark.parametrize(
    "text",
    ["", "say hello", "[say]", "[say   ]", "[sayhello]", "[say a [b] c", "[say a\nb]", "[x]"],
)
def test_malformed_say_is_rejected(text):
    assert parse_say(text) is None


def test_long_message_is_cut():
    assert parse_say("[say " + "a" * 500 + "]") == "a" * 200


def test_contribute_is_parsed_only_in_the_contribute_phase():
    game = PublicGoods(seed=0)
    assert game.legal_moves("player_0") is None
    assert game.parse_move("player_0", "[contribute 5]") is None
    talk(game)
    assert game.legal_moves("player_0") == [f"[contribute {n}]" for n in range(11)]
    assert game.parse_move("player_0", "ok, I'll [Contribute  7] now") == 7
    assert game.parse_move("player_0", "[contribute 3] [contribute 3]") == 3
    assert game.parse_move("player_0", "[say hi]") is None


@pytest.mark.parametrize(
    "text",
    ["[contribute 11]", "[contribute -1]", "[contribute 3.5]", "[contribute 3] or [contribute 4]",
     "[contribute]", "contribute 5", "[contribute five]"],
)  # fmt: skip
def test_malformed_contributions_are_rejected(text):
    game = PublicGoods(seed=0)
    talk(game)
    assert game.parse_move("player_0", text) is None


# ---------------------------------------------------------------------- rules and scores
def test_round_scores_by_hand():
    # n=4, E=10, r=1.6: pot 25 -> 40, share 10 each.
    scores = round_scores({"a": 10, "b": 0, "c": 10, "d": 5}, 10, 1.6)
    assert scores == pytest.approx({"a": 1.0, "b": 2.0, "c": 1.0, "d": 1.5})
    assert round_scores(dict.fromkeys("abc", 0), 10, 2.0) == pytest.approx(dict.fromkeys("abc", 1))
    assert round_scores(dict.fromkeys("abc", 4), 4, 2.0) == pytest.approx(dict.fromkeys("abc", 2))


def test_a_whole_game_scores_and_logs():
    game = PublicGoods(seed=0, rounds=2)
    assert game.to_act() == game.agents
    talk(game, {"player_0": "all in?"})
    assert game.state.phase == "contribute"
    assert "Round 1, player_0 says: all in?" in game.visible_events("player_3")
    contribute(game, [10, 0, 10, 5])
    assert game.scores == pytest.approx(
        {"player_0": 1.0, "player_1": 2.0, "player_2": 1.0, "player_3": 1.5}
    )
    assert game.state.round == 2 and game.state.phase == "talk" and not game.over
    talk(game)
    contribute(game, [0, 0, 0, 0])
    assert game.over and game.to_act() == []
    assert game.scores == pytest.approx(
        {"player_0": 2.0, "player_1": 3.0, "player_2": 2.0, "player_3": 2.5}
    )
    view = game.view("player_1")
    assert view["phase"] == "over"
    assert view["history"][0]["contributions"] == {
        "player_0": 10, "player_1": 0, "player_2": 10, "player_3": 5,
    }  # fmt: skip
    assert view["history"][0]["messages"]["player_0"] == "all in?"


def test_moves_stay_hidden_until_the_phase_resolves():
    game = PublicGoods(seed=0, num_players=3)
    game.submit("player_0", "[say secret plan]")
    assert game.to_act() == ["player_1", "player_2"]
    assert game.view("player_1")["messages"] == {}
    assert not any("secret" in e for e in game.visible_events("player_1"))
    game.submit("player_1", "[say a]")
    game.submit("player_2", "[say b]")
    game.submit("player_0", "[contribute 9]")
    assert not any("9" in e for e in game.visible_events("player_1"))
    assert game.view("player_1")["history"] == []


def test_invalid_move_costs_and_retries():
    game = PublicGoods(seed=0, num_players=3)
    report = game.submit("player_0", "I contribute 5")
    assert not report.valid
    assert game.scores["player_0"] == pytest.approx(-0.1)
    assert "player_0" in game.to_act()


def test_forfeit_gives_the_others_their_endowment_for_the_rounds_left():
    game = PublicGoods(seed=0, num_players=3, rounds=3)
    talk(game)
    contribute(game, [10, 10, 10])  # pot 30 x 1.6 = 48, 16 each: score 1.6
    game.submit("player_0", "[say hi]")
    for _ in range(3):
        game.submit("player_1", "nothing")
    assert game.over and game.forfeited_by == "player_1"
    assert game.scores["player_1"] == pytest.approx(1.6 - 0.3 - FORFEIT_PENALTY)
    assert game.scores["player_0"] == pytest.approx(1.6 + 2)  # rounds 2 and 3 kept
    assert game.scores["player_2"] == pytest.approx(1.6 + 2)


@pytest.mark.parametrize(
    "kwargs",
    [{"num_players": 2}, {"num_players": 7}, {"rounds": 0}, {"endowment": 0},
     {"endowment": 2.5}, {"multiplier": 1.0}, {"multiplier": 4.0}, {"num_players": 3,
     "multiplier": 3.5}],
)  # fmt: skip
def test_bad_arguments_are_clear_errors(kwargs):
    with pytest.raises(ValueError):
        PublicGoods(seed=0, **kwargs)


def test_rules_and_prompts_name_the_grammar():
    game = PublicGoods(seed=0, endowment=7, multiplier=2.5)
    rules = game.rules_text("player_2")
    assert "player_2" in rules and "[say" in rules and "[contribute 3]" in rules and "2.5" in rules
    assert "from 0 to 7" in rules
    assert "[say" in game.turn_prompt("player_0")
    talk(game)
    prompt = game.turn_prompt("player_0")
    assert "[contribute N]" in prompt and "0 to 7" in prompt


# ---------------------------------------------------------------------- bots
def _request(game: PublicGoods, agent: str) -> ActRequest:
    legal = game.legal_moves(agent)
    return ActRequest(agent, "", {"legal_moves": legal, "view": game.view(agent)})


def test_bots_contribute_as_documented():
    game = PublicGoods(seed=0, num_players=4, rounds=3)
    strong, free, cond = (
        make_bot("public_goods_v0", k) for k in ("strong", "free_rider", "conditional")
    )
    for bot in (strong, free, cond):
        assert game.parse_move("player_0", bot.choose(_request(game, "player_0"))) is not None
    talk(game)
    req = _request(game, "player_0")
    assert (strong.choose(req), free.choose(req), cond.choose(req)) == (
        "[contribute 10]", "[contribute 0]", "[contribute 10]",
    )  # fmt: skip
    contribute(game, [10, 0, 3, 2])  # mean 3.75 -> 4
    talk(game)
    assert cond.choose(_request(game, "player_0")) == "[contribute 4]"


def test_random_bot_moves_are_valid():
    game = PublicGoods(seed=1, num_players=5)
    bot = make_bot("public_goods_v0", "random", seed=0)
    while not game.over:
        for a in game.to_act():
            assert game.submit(a, bot.choose(_request(game, a))).valid
    assert sum(game.invalid_total.values()) == 0
