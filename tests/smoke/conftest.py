from __future__ import annotations

import pytest

from tests.engine_layout import IN_PROCESS


@pytest.fixture
def model_cache_env(model_cache, monkeypatch):
    """Experiments run in subprocesses: share the session's model cache with them."""
    monkeypatch.setenv("LORA_LEAGUE_CACHE", str(model_cache))
    return model_cache


@pytest.fixture(autouse=True)
def engine_in_process(monkeypatch):
    """The smoke runs' engines run inside their trainer's process (see `tests.engine_layout`);
    a module that checks the engine's own processes overrides this fixture."""
    for name, value in IN_PROCESS.items():
        monkeypatch.setenv(name, value)
