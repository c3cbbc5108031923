"""The TextArena adapter (`envs.textarena`): each trap of textarena 0.7.4, with a test."""

from __future__ import annotations

import random

import numpy as np
import pytest

pytest.importorskip("textarena")

import envs
from agents.arena import play_episode
from agents.scripted import make_bot
from envs.textarena import catalog
from envs.textarena.game import isolated_random, listed_moves, make_raw

TTT = "textarena/TicTacToe-v0"


def random_seats(env_id: str, seed: int):
    agents = envs.make(env_id).possible_agents
    return {a: make_bot(env_id, "random", seed=seed * 10 + i) for i, a in enumerate(agents)}


# ---------------------------------------------------------------- global random reseeding
def test_textarena_itself_reseeds_the_global_random_module():
    """The trap: TextArena's `State.__init__` calls `random.seed(seed)`."""
    random.seed(123)
    env = make_raw("TicTacToe-v0")
    env.reset(num_players=2, seed=7)
    after = random.random()
    random.seed(7)
    assert after == random.random()


def test_the_adapter_leaves_the_callers_random_streams_alone():
    random.seed(123)
    np.random.seed(123)
    expected = [random.random() for _ in range(3)], list(np.random.random(3))
    random.seed(123)
    np.random.seed(123)
    got_py, got_np = [random.random()], [np.random.random()]
    play_episode("textarena/KuhnPoker-v0", random_seats("textarena/KuhnPoker-v0", 0), seed=7)
    got_py.append(random.random())
    got_np.append(np.random.random())
    envs.make("textarena/Poker-v0").reset(seed=5)
    got_py.append(random.random())
    got_np.append(np.random.random())
    assert (got_py, got_np) == expected


def test_interleaved_envs_play_as_if_alone():
    def solo(env_id, seed):
        return play_episode(env_id, random_seats(env_id, seed), seed=seed).transcript

    alone = [solo("textarena/KuhnPoker-v0", 1), solo("textarena/LiarsDice-v0", 2)]
    a, b = envs.make("textarena/KuhnPoker-v0"), envs.make("textarena/LiarsDice-v0")
    a.reset(seed=1)
    b.reset(seed=2)
    bots = {id(a): random_seats("textarena/KuhnPoker-v0", 1), id(b): random_seats(
        "textarena/LiarsDice-v0", 2)}
    from agents.policy import ActRequest

    live = [a, b]
    while live:  # one step of each in turn
        for env in list(live):
            agent = env.agent_selection
            _, _, term, trunc, info = env.last()
            if term or trunc:
                env.step(None)
            else:
                req = ActRequest(agent, env.observe(agent)["text"], info)
                (resp,) = bots[id(env)][agent].act([req])
                env.step(resp.text)
            if not env.agents:
                live.remove(env)
    assert [a.unwrapped.game.transcript(), b.unwrapped.game.transcript()] == alone


def test_isolated_random_restores_even_after_an_error():
    random.seed(1)
    before = random.getstate()
    with pytest.raises(RuntimeError), isolated_random({}):
        random.seed(99)
        raise RuntimeError("boom")
    assert random.getstate() == before


# ---------------------------------------------------------------- get_observation read-once
def test_textarena_get_observation_drains_its_queue():
    env = make_raw("TicTacToe-v0")
    env.reset(num_players=2, seed=0)
    _, first = env.get_observation()
    _, second = env.get_observation()
    assert first and not second


def test_any_agent_can_be_observed_any_time_and_twice():
    env = envs.make(TTT)
    env.reset(seed=0)
    mover = env.agent_selection
    waiting = next(a for a in env.possible_agents if a != mover)
    first = env.observe(waiting)["text"]
    assert first == env.observe(waiting)["text"] and "Tic Tac Toe" in first
    env.step("[4]")
    seen = env.observe(waiting)["text"]
    assert seen == env.observe(waiting)["text"]
    assert "[4]" in seen or " 4" in seen  # the move the other player made reached it


# ---------------------------------------------------------------- wrappers and brackets
def test_invalid_move_message_reaches_the_player():
    """TextArena's default wrapper for SimpleNegotiation drops GAME_ADMIN messages; the adapter
    uses the unwrapped env, so the player is told its move was invalid."""
    import textarena

    wrapped = textarena.make("SimpleNegotiation-v0")
    wrapped.reset(num_players=2, seed=0)
    wrapped.get_observation()
    wrapped.step(action="[Offer: banana]")  # not an offer the game can read: invalid
    _, text = wrapped.get_observation()
    assert "invalid" not in str(text).lower()  # the trap: hidden by the wrapper

    env = envs.make("textarena/SimpleNegotiation-v0")
    env.reset(seed=0)
    agent = env.agent_selection
    env.step("[Offer: banana]")
    assert env.infos[agent]["invalid_move"]
    assert any("invalid" in e.lower() for e in env.infos[agent]["new_events"])
    assert "invalid" in env.observe(agent)["text"].lower()


def test_a_bare_answer_is_not_wrapped_in_brackets():
    """TextArena's ActionFormattingWrapper turns "4" into "[4]"; the adapter passes the answer
    as written, and the game finds (or not) the move in it as it always does."""
    import textarena

    wrapped = textarena.make("TicTacToe-v0")
    wrapped.reset(num_players=2, seed=0)
    wrapped.get_observation()
    wrapped.step(action="4")
    assert wrapped.state.error_count == 0  # the trap: accepted as [4]

    env = envs.make(TTT)
    env.reset(seed=0)
    agent = env.agent_selection
    env.step("4")
    assert env.infos[agent]["invalid_move"] and env.agent_selection == agent
    env.step("I take the centre: [4]")
    assert not env.infos[agent]["invalid_move"] and env.agent_selection != agent


def test_repeated_invalid_moves_forfeit_under_league_rules():
    env = envs.make(TTT)
    env.reset(seed=0)
    agent = env.agent_selection
    for _ in range(3):
        env.step("no move")
    game = env.unwrapped.game
    assert game.forfeited_by == agent and game.invalid_total[agent] == 3
    assert all(env.terminations.values())
    assert game.scores[agent] == pytest.approx(-1.0 - 3 * game.invalid_penalty)


# ---------------------------------------------------------------- end-only rewards
def test_rewards_come_at_the_end_and_equal_textarena_rewards():
    env = envs.make(TTT)
    env.reset(seed=3)
    bots = random_seats(TTT, 3)
    paid = dict.fromkeys(env.possible_agents, 0.0)
    from agents.policy import ActRequest

    for agent in env.agent_iter():
        _, reward, term, trunc, info = env.last()
        paid[agent] += reward
        if term or trunc:
            env.step(None)
            continue
        assert reward == 0.0  # nothing is paid before the end (every move here is legal)
        (resp,) = bots[agent].act([ActRequest(agent, env.observe(agent)["text"], info)])
        env.step(resp.text)
    game = env.unwrapped.game
    assert game.ta_rewards is not None
    assert paid == {f"player_{p}": float(r) for p, r in game.ta_rewards.items()}


# ---------------------------------------------------------------- refused and left-out games
@pytest.mark.parametrize(
    ("ta_id", "reason"),
    [
        ("Wordle-v0", "nltk"),
        ("Hangman-v0", "nltk"),
        ("Debate-v0", "API key"),
        ("TwentyQuestions-v0", "API key"),
        ("Chess-v0", "Python 3.11"),
        ("Klondike-v0", "SyntaxError"),
        ("UsedCarNegotiation-v0", "missing"),
    ],
)
def test_games_that_cannot_run_here_are_refused_with_why(ta_id, reason):
    env_id = f"textarena/{ta_id}"
    assert env_id not in envs.list_envs()
    with pytest.raises(ValueError, match=reason):
        envs.make(env_id)


@pytest.mark.parametrize("ta_id", ["Chess-v0", "ReverseTicTacToe-v0", "Klondike-v0"])
def test_left_out_games_really_fail_on_this_python(ta_id):
    with pytest.raises(SyntaxError):
        catalog.probe(ta_id, 2)


@pytest.mark.parametrize("index", range(0, len(catalog.GAMES), 23))
def test_registered_games_really_work(index):
    ta_id, players = catalog.GAMES[index]
    catalog.probe(ta_id, players[0])


# ---------------------------------------------------------------- legal moves
def test_legal_moves_are_recovered_where_the_game_lists_them():
    assert listed_moves("Available Moves: '[0]', '[4]'\n") == ["[0]", "[4]"]
    assert listed_moves("Your available actions are: '[check]', '[bet]'") == ["[check]", "[bet]"]
    assert listed_moves("Make your move, e.g. [col 4].") == []
    for env_id, expected in [(TTT, True), ("textarena/KuhnPoker-v0", True),
                             ("textarena/ConnectFour-v0", False)]:  # fmt: skip
        env = envs.make(env_id)
        env.reset(seed=0)
        assert bool(env.infos[env.agent_selection]["legal_moves"]) == expected, env_id


def test_listed_moves_are_moves_the_game_accepts():
    env = envs.make("textarena/KuhnPoker-v0")
    env.reset(seed=0)
    agent = env.agent_selection
    legal = env.infos[agent]["legal_moves"]
    assert legal
    env.step(legal[0])
    assert not env.infos[agent]["invalid_move"]


def test_player_counts_are_checked():
    assert envs.make("textarena/LiarsDice-v0", num_players=4).possible_agents[-1] == "player_3"
    with pytest.raises(ValueError, match="players"):
        envs.make(TTT, num_players=3)
