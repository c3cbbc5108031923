"""PettingZoo's own checks over every registered env."""

from __future__ import annotations

import functools
import types
import warnings

import pytest
from pettingzoo.test import (
    api_test,
    max_cycles_test,
    parallel_api_test,
    parallel_seed_test,
    render_test,
    seed_test,
)

import envs
from tests.contract.sizing import ALL_IDS, api_cycles_for

ENV_IDS = ALL_IDS


@pytest.fixture(autouse=True)
def _quiet():
    # api_test warns that text observations are not numpy arrays: expected for language games.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_api(env_id):
    api_test(envs.make(env_id), num_cycles=api_cycles_for(env_id))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_parallel_api(env_id):
    parallel_api_test(envs.make_parallel(env_id), num_cycles=api_cycles_for(env_id))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_seed(env_id):
    seed_test(functools.partial(envs.make, env_id), num_cycles=min(20, api_cycles_for(env_id)))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_parallel_seed(env_id):
    parallel_seed_test(functools.partial(envs.make_parallel, env_id))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_render(env_id):
    render_test(functools.partial(envs.make, env_id))
    env = envs.make(env_id, render_mode="ansi")
    env.reset(seed=0)
    assert isinstance(env.render(), str)


@pytest.mark.parametrize("env_id", [i for i in ENV_IDS if envs.spec(i).cyclic])
def test_max_cycles(env_id):
    # Random text never holds a legal move, so forfeits are pushed past the horizon here: this
    # checks
    # truncation; forfeits have their own test.
    mod = types.SimpleNamespace(
        env=functools.partial(envs.make, env_id, max_invalid=100),
        parallel_env=functools.partial(envs.make_parallel, env_id, max_invalid=100),
    )
    max_cycles_test(mod)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_spec_matches_game(env_id):
    spec = envs.spec(env_id)
    raw = envs.make(env_id).unwrapped
    assert raw.metadata["name"] == env_id
    assert spec.payoffs == raw.game_cls.payoffs
    for payoff in spec.payoffs:
        envs.make(env_id, payoff=payoff).reset(seed=0)
        envs.make_parallel(env_id, payoff=payoff).reset(seed=0)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_unsupported_payoff_is_a_clear_error(env_id):
    unsupported = [p for p in envs.core.PAYOFF_KINDS if p not in envs.spec(env_id).payoffs]
    for payoff in [*unsupported, "bogus"]:
        with pytest.raises(ValueError, match="payoff"):
            envs.make(env_id, payoff=payoff)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_agent_names_and_spaces(env_id):
    import re

    env = envs.make(env_id)
    env.reset(seed=0)
    for agent in env.possible_agents:
        assert re.fullmatch(r"[a-z]+_[0-9]+", agent)
        assert env.action_space(agent) is env.action_space(agent)
        obs = env.observe(agent)
        assert set(obs) == {"text"} and "action_mask" not in env.infos[agent]
        info = env.infos[agent]
        for key in ("legal_moves", "team", "invalid_move", "rules", "new_events", "view"):
            assert key in info


def test_registry_rejects_duplicates_and_unknown_ids():
    with pytest.raises(ValueError, match="already registered"):
        envs.register(envs.spec(ENV_IDS[0]))
    with pytest.raises(KeyError, match="unknown env"):
        envs.make("no_such_game_v0")
