from __future__ import annotations

import pytest

from tests.engine_layout import engines_in_process


@pytest.fixture
def model_cache_env(model_cache, monkeypatch):
    """Experiments run in subprocesses: share the session's model cache with them."""
    monkeypatch.setenv("LORA_LEAGUE_CACHE", str(model_cache))
    return model_cache


@pytest.fixture(scope="module", autouse=True)
def engine_in_process():
    """The smoke runs' engines run inside their trainer's subprocess (see
    `tests.engine_layout`); a module that checks the engine's own processes overrides this
    fixture, and a trainer started in the test's own process removes the variable first.
    Module-scoped, so that a module's own run fixtures start after it."""
    with engines_in_process():
        yield
