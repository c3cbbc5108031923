from __future__ import annotations

import os
from pathlib import Path

import pytest

import envs

ENV_IDS = envs.list_envs()


# tryfirst: xdist's own hook reads the groups off the items, and `-m` reads the slow marks.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items) -> None:
    """Test tiers and worker groups.

    - Contract tests of a foreign game outside the fast tier's sample are slow
      (`tests/contract/sizing.py`): `-m "not slow"` checks a sample, the full run every game.
    - Under pytest-xdist (`-n 2 --dist loadgroup`, the project's default) a slow module's tests
      stay on one worker, so its module-scoped fixtures (an engine, a smoke run) are built once,
      not once per worker; Ray tests share one worker (one local cluster at a time); the
      contract and fast tests spread freely.
    """
    from tests.contract.sizing import in_fast_tier

    for item in items:
        path = item.nodeid.split("::", 1)[0]
        if path.startswith("tests/contract/"):
            env_id = getattr(item, "callspec", None) and item.callspec.params.get("env_id")
            if env_id and not in_fast_tier(env_id):
                item.add_marker(pytest.mark.slow)
        elif item.get_closest_marker("ray") is not None:
            item.add_marker(pytest.mark.xdist_group("ray"))
        elif item.get_closest_marker("slow") is not None:
            item.add_marker(pytest.mark.xdist_group(path))


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """Where models are built: `$LORA_LEAGUE_CACHE` (shared across runs, as CI sets it) or a
    fresh temporary folder."""
    env = os.environ.get("LORA_LEAGUE_CACHE")
    return Path(env) if env else tmp_path_factory.mktemp("model_cache")


@pytest.fixture(scope="session")
def tiny_model(model_cache) -> Path:
    from agents.models import resolve_model

    return resolve_model("tiny", cache_dir=model_cache)


@pytest.fixture(scope="module")
def hf_server(tiny_model, tmp_path_factory):
    """The transformers+peft reference server on the tiny model."""
    from agents.serving import make_policy_server

    server = make_policy_server("hf", model=tiny_model, store_dir=tmp_path_factory.mktemp("hf"))
    yield server
    server.close()
