"""Hostile input, forfeits, whole-episode determinism and the payoff invariants, for every env."""

from __future__ import annotations

import math

import numpy as np
import pytest

import envs
from agents.arena import play_episode
from agents.scripted import make_bot
from envs.core.payoff import apply_payoff
from tests.contract.hostile import hostile_actions
from tests.contract.sizing import (
    ALL_IDS,
    FREE_TEXT,
    hostile_actions_for,
    is_foreign,
    seeds_for,
)

ENV_IDS = ALL_IDS
# Games where any text is a move (a chat or free-text phase): no answer is invalid there.
STRICT_IDS = [i for i in ENV_IDS if i not in FREE_TEXT]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_hostile_actions_never_raise(env_id):
    rng = np.random.default_rng(0)
    env = envs.make(env_id)
    sent, invalid_seen, episodes = 0, 0, 0
    budget = hostile_actions_for(env_id)
    while sent < budget:
        env.reset(seed=episodes)
        episodes += 1
        for agent in env.agent_iter():
            _, _, term, trunc, info = env.last()
            if term or trunc:
                env.step(None)
                continue
            env.step(hostile_actions(info["legal_moves"], rng))
            sent += 1
            invalid_seen += env.infos[agent]["invalid_move"]
    assert invalid_seen > 0 or env_id in FREE_TEXT
    assert episodes > 1 or env_id.startswith("textarena/")  # long TextArena games: one is enough


@pytest.mark.parametrize("env_id", STRICT_IDS)
def test_repeated_invalid_moves_forfeit(env_id):
    env = envs.make(env_id)
    env.reset(seed=0)
    steps = 0
    for _ in env.agent_iter():
        _, _, term, trunc, _ = env.last()
        env.step(None if term or trunc else "no move here")
        steps += 1
    game = env.unwrapped.game
    assert game.forfeited_by is not None
    assert game.invalid_total[game.forfeited_by] == game.max_invalid
    assert steps < 100


@pytest.mark.parametrize("env_id", STRICT_IDS)
def test_invalid_moves_are_penalised_and_reported(env_id):
    env = envs.make(env_id)
    env.reset(seed=0)
    agent = env.agent_selection
    before = env.unwrapped.game.scores[agent]
    env.step("certainly not a move")
    info = env.infos[agent]
    assert info["invalid_move"] and info["invalid_moves"] == 1
    assert env.unwrapped.game.scores[agent] == pytest.approx(before - 0.1)
    assert env.agent_selection == agent or agent in env.unwrapped.game.to_act()


def _random_seats(env_id: str, seed: int):
    agents = envs.make(env_id).possible_agents
    return {a: make_bot(env_id, "random", seed=seed + i) for i, a in enumerate(agents)}


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_whole_episode_is_deterministic(env_id):
    for seed in range(seeds_for(env_id) - 1):
        a = play_episode(env_id, _random_seats(env_id, 100), seed=seed)
        b = play_episode(env_id, _random_seats(env_id, 100), seed=seed)
        assert a.transcript == b.transcript
        assert a.returns == b.returns
    n = 3 if is_foreign(env_id) else 6
    games = {play_episode(env_id, _random_seats(env_id, s), seed=s).transcript for s in range(n)}
    assert len(games) > 1, "different seeds should give different games"


def _check_invariant(payoff: str, rewards: dict, raw_delta: dict, teams: dict, mix: float):
    if payoff == "competitive":
        assert math.isclose(sum(rewards.values()), 0.0, abs_tol=1e-9)
    elif payoff == "cooperative":
        assert max(rewards.values()) - min(rewards.values()) < 1e-9
    elif payoff == "team_battle":
        by_team: dict[str, set] = {}
        for a, r in rewards.items():
            by_team.setdefault(teams[a], set()).add(round(r, 9))
        assert all(len(v) == 1 for v in by_team.values())
        assert math.isclose(sum(v.pop() for v in by_team.values()), 0.0, abs_tol=1e-9)
    expected = apply_payoff(payoff, raw_delta, teams, mix)
    for a in rewards:
        assert rewards[a] == pytest.approx(expected[a], abs=1e-9)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_payoff_invariants_hold_every_step(env_id):
    rng = np.random.default_rng(1)
    for payoff in envs.spec(env_id).payoffs:
        for seed in range(seeds_for(env_id)):
            env = envs.make_parallel(env_id, payoff=payoff, mix=0.3)
            _, infos = env.reset(seed=seed)
            teams = {a: infos[a]["team"] for a in env.possible_agents}
            raw = {a: 0.0 for a in env.possible_agents}
            while env.agents:
                actions = {
                    a: hostile_actions(infos[a]["legal_moves"] or None, rng) for a in env.agents
                }
                _, rewards, _, _, infos = env.step(actions)
                delta = {a: infos[a]["raw_score"] - raw[a] for a in rewards}
                raw = {a: infos[a]["raw_score"] for a in rewards}
                _check_invariant(payoff, rewards, delta, teams, 0.3)
