from __future__ import annotations

import os
from pathlib import Path

import pytest

import envs

ENV_IDS = envs.list_envs()


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
