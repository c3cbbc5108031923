"""Property test: no Python object handed to `step()` makes any registered env raise.

Every env of `envs.list_envs()` (foreign ones included, as they get registered), under both the AEC
and the Parallel API, is stepped with objects drawn by `hostile_objects`: huge ints (10**5000 hits
Python's int-to-str digit limit), nan/inf, bytes, recursive containers, and str/int/float/bytes
subclasses whose every method raises. An object that cannot be read as text is an invalid move:
the game's normal penalty, never an exception.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import envs
from envs.core.parsing import MAX_PARSED_CHARS, coerce_text
from tests.contract.hostile import (
    HostileBytes,
    HostileFloat,
    HostileInt,
    HostileObject,
    HostileStr,
    hostile_objects,
)
from tests.contract.sizing import hostile_episodes_for

# Sized so that the whole file runs in seconds per env: each example is one episode of up to
# STEPS actions, every one a fresh draw; a home game gets 10 episodes, a foreign one 4
# (`tests/contract/sizing.py`: its adapter is shared by its whole collection). Drawing the
# hostile objects, not the game, is what an episode costs.
STEPS = 12


def episodes_for(env_id: str) -> settings:
    return settings(
        max_examples=hostile_episodes_for(env_id),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


TEXT_TYPES = (str, bytes, bytearray, int, float)  # what coerce_text reads; bool is not text


def _opaque(action: object) -> bool:
    """True when the action is no text at all, so it must count as an invalid move."""
    return type(action) is bool or action is None or not isinstance(action, TEXT_TYPES)


@given(hostile_objects())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_coerce_text_never_raises(action):
    text = coerce_text(action)
    assert text is None or (type(text) is str and len(text) <= MAX_PARSED_CHARS)
    if _opaque(action):
        assert text is None


@pytest.mark.parametrize(
    ("action", "expected"),
    [(10**5000, None), (-(10**5000), None), (HostileInt(10**5000), None), (HostileInt(7), "7"),
     (HostileStr("[rock]"), "[rock]"), (HostileBytes(b"[rock]"), "[rock]"),
     (HostileFloat(2.5), "2.5"), (float("nan"), "nan"), (HostileObject(), None)],
    ids=["huge", "-huge", "hostile-huge", "hostile-int", "hostile-str", "hostile-bytes",
         "hostile-float", "nan", "hostile-object"],
)  # fmt: skip
def test_coerce_text_reads_builtin_value_not_subclass_methods(action, expected):
    assert coerce_text(action) == expected


@pytest.mark.parametrize("env_id", envs.list_envs())
def test_aec_step_never_raises(env_id):
    @episodes_for(env_id)
    @given(data=st.data(), seed=st.integers(0, 2**16))
    def episode(data, seed):
        env = envs.make(env_id)
        env.reset(seed=seed)
        for steps, agent in enumerate(env.agent_iter()):
            _, _, term, trunc, info = env.last()
            if term or trunc:
                env.step(None)
                continue
            if steps >= STEPS:
                break
            action = data.draw(hostile_objects(info["legal_moves"] or None), label=agent)
            before = env.unwrapped.game.invalid_total[agent]
            env.step(action)
            if _opaque(action):
                assert env.unwrapped.game.invalid_total[agent] == before + 1

    episode()


@pytest.mark.parametrize("env_id", envs.list_envs())
def test_parallel_step_never_raises(env_id):
    @episodes_for(env_id)
    @given(data=st.data(), seed=st.integers(0, 2**16))
    def episode(data, seed):
        env = envs.make_parallel(env_id)
        _, infos = env.reset(seed=seed)
        for _ in range(STEPS):
            if not env.agents:
                break
            acting = [a for a in env.agents if infos[a]["acting"]]
            actions = {
                a: data.draw(hostile_objects(infos[a]["legal_moves"] or None), label=a)
                for a in env.agents
            }
            before = dict(env.unwrapped.game.invalid_total)
            _, _, _, _, infos = env.step(actions)
            # The first agent asked in a cycle always acts (later ones may not: the game can end).
            if acting and all(_opaque(actions[a]) for a in acting):
                assert sum(env.unwrapped.game.invalid_total.values()) > sum(before.values())

    episode()


@pytest.mark.parametrize("env_id", envs.list_envs())
def test_parallel_step_rejects_a_non_mapping_clearly(env_id):
    env = envs.make_parallel(env_id)
    env.reset(seed=0)
    with pytest.raises(TypeError, match="dict"):
        env.step(10**5000)
