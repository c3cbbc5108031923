"""The OpenSpiel adapter (`envs.openspiel`): pyspiel called directly, checked against pyspiel."""

from __future__ import annotations

import numpy as np
import pytest

pyspiel = pytest.importorskip("pyspiel")

import envs  # noqa: E402
from agents.arena import play_episode  # noqa: E402
from agents.policy import ActRequest  # noqa: E402
from agents.scripted import make_bot  # noqa: E402
from envs.openspiel import catalog  # noqa: E402


def random_seats(env_id: str, seed: int):
    agents = envs.make(env_id).possible_agents
    return {a: make_bot(env_id, "random", seed=seed * 10 + i) for i, a in enumerate(agents)}


def test_static_catalog_matches_installed_open_spiel():
    games, left_out = catalog.discover()
    assert games == catalog.GAMES
    assert left_out == {**catalog.LEFT_OUT_BY_TYPE, **catalog.LEFT_OUT_BY_NAME}
    assert len(envs.list_envs("openspiel")) == len(catalog.GAMES) > 90


def test_left_out_games_are_refused_with_the_reason():
    assert "openspiel/chess" not in envs.list_envs()
    with pytest.raises(ValueError, match="collide"):
        envs.make("openspiel/chess")
    with pytest.raises(ValueError, match="sampled-stochastic"):
        envs.make("openspiel/tarok")
    with pytest.raises(KeyError, match="unknown env"):
        envs.make("openspiel/no_such_game")


@pytest.mark.parametrize("game", ["kuhn_poker", "leduc_poker", "tic_tac_toe", "liars_dice"])
def test_rewards_are_openspiel_returns_counted_once_and_games_finish(game):
    """Shimmy's bridge truncated Kuhn after one move and counted final rewards twice: here
    every episode runs to OpenSpiel's terminal state and pays exactly `returns()`."""
    env_id = f"openspiel/{game}"
    for seed in range(40):
        result = play_episode(env_id, random_seats(env_id, seed), seed=seed)
        assert not result.truncated
        env = envs.make(env_id)
        env.reset(seed=seed)
        # Replay the same episode to reach the terminal pyspiel state.
        seats = random_seats(env_id, seed)
        for agent in env.agent_iter():
            _, _, term, trunc, info = env.last()
            if term or trunc:
                env.step(None)
                continue
            (resp,) = seats[agent].act([ActRequest(agent, env.observe(agent)["text"], info)])
            env.step(resp.text)
        state = env.unwrapped.game.state
        assert state.is_terminal()
        assert result.returns == {f"player_{i}": r for i, r in enumerate(state.returns())}


def test_chance_is_sampled_with_the_env_seed():
    def deal(seed):
        env = envs.make("openspiel/leduc_poker")
        env.reset(seed=seed)
        return env.unwrapped.game.state.history()

    assert deal(3) == deal(3)
    assert len({tuple(deal(s)) for s in range(12)}) > 3


def test_text_and_moves_come_from_the_game():
    env = envs.make("openspiel/leduc_poker")
    env.reset(seed=0)
    agent = env.agent_selection
    game = env.unwrapped.game
    state, p = game.state, int(agent.split("_")[1])
    assert state.information_state_string(p) in env.observe(agent)["text"]
    names = [f"[{state.action_to_string(p, a)}]" for a in state.legal_actions(p)]
    assert env.infos[agent]["legal_moves"] == names
    assert env.infos[agent]["view"]["info_set"] == state.information_state_string(p)
    other = "player_1" if agent == "player_0" else "player_0"
    private = state.information_state_string(1 - p)
    assert private not in env.observe(agent)["text"]  # the other's card stays hidden
    env.step(f"I will {names[-1].lower()}")  # case and chatter around the move are fine
    assert not env.infos[agent]["invalid_move"]
    assert env.agent_selection == other


def test_invalid_and_ambiguous_answers_are_asked_again():
    env = envs.make("openspiel/kuhn_poker")
    env.reset(seed=0)
    agent = env.agent_selection
    env.step("[Pass] or [Bet]")
    assert env.infos[agent]["invalid_move"] and env.agent_selection == agent
    env.step("[Fold]")  # not a Kuhn move name
    assert env.infos[agent]["invalid_move"] and env.agent_selection == agent


def test_simultaneous_moves_through_the_parallel_face():
    env = envs.make_parallel("openspiel/matrix_pd", payoff="competitive")
    _, infos = env.reset(seed=0)
    assert all(infos[a]["acting"] for a in env.agents)
    moves = {a: infos[a]["legal_moves"] for a in env.agents}
    actions = {"player_0": moves["player_0"][0], "player_1": moves["player_1"][1]}
    _, rewards, terms, _, infos = env.step(actions)
    assert all(terms.values()) and not env.agents
    state = pyspiel.load_game("matrix_pd").new_initial_state()
    state.apply_actions([0, 1])
    assert [rewards["player_0"], rewards["player_1"]] == pytest.approx(
        [r - np.mean(state.returns()) for r in state.returns()]
    )
    assert infos["player_0"]["raw_score"] == state.returns()[0]


def test_simultaneous_game_under_aec_waits_for_every_move():
    env = envs.make("openspiel/goofspiel")
    env.reset(seed=1)
    game = env.unwrapped.game
    first = env.agent_selection
    before = len(game.state.history())
    env.step(env.infos[first]["legal_moves"][0])
    assert len(game.state.history()) == before  # not applied until the other bids
    second = env.agent_selection
    assert second != first
    env.step(env.infos[second]["legal_moves"][0])
    assert len(game.state.history()) > before


def test_forfeit_keeps_a_zero_sum_game_zero_sum():
    env = envs.make("openspiel/tic_tac_toe")
    env.reset(seed=0)
    agent = env.agent_selection
    for _ in range(3):
        env.step("no move")
    game = env.unwrapped.game
    assert game.forfeited_by == agent
    other = next(a for a in game.agents if a != agent)
    # the forfeiter pays the game's lowest utility (-1) plus 3 invalid-move penalties
    assert game.scores[agent] == pytest.approx(-1.0 - 3 * game.invalid_penalty)
    assert game.scores[other] == pytest.approx(1.0)


def test_params_reach_the_game():
    env = envs.make("openspiel/leduc_poker", params={"players": 3})
    assert env.possible_agents == ["player_0", "player_1", "player_2"]
    with pytest.raises(ValueError, match="cannot load"):
        envs.make("openspiel/leduc_poker", params={"no_such_param": 1})


def test_decision_points_are_reached_by_replaying_their_script():
    from envs.openspiel.exploitability import decision_points

    for point in decision_points("leduc_poker", text=False)[::37]:
        env = envs.make("openspiel/leduc_poker", forced_chance=point.chance)
        env.reset(seed=0)
        for move in point.moves_before:
            env.step(move)
        agent = env.agent_selection
        assert agent == point.agent
        assert env.infos[agent]["view"]["info_set"] == point.key
        assert tuple(env.infos[agent]["legal_moves"]) == point.legal_moves
    with pytest.raises(ValueError, match="not possible"):
        envs.make("openspiel/kuhn_poker", forced_chance=[0, 0]).reset(seed=0)
