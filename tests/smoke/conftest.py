from __future__ import annotations

import pytest


@pytest.fixture
def model_cache_env(model_cache, monkeypatch):
    """Experiments run in subprocesses: share the session's model cache with them."""
    monkeypatch.setenv("LORA_LEAGUE_CACHE", str(model_cache))
    return model_cache
