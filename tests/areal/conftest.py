"""Tests of the AReaL integration. AReaL is imported here once, and the environment variables
its import sets (OPENAI_API_KEY, OPENAI_BASE_URL, RAY_CLIENT_MODE, ...) are put back, so that
the rest of a test session runs as it would without it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import pytest

from integrations.areal.logging_guard import import_areal
from tests.areal.support import MAX_MODEL_LEN
from tests.integration.test_server_mode import free_port

_before = dict(os.environ)
with contextlib.suppress(ImportError):  # without AReaL the tests skip
    import_areal()
    import areal.engine.vllm_remote
    import areal.infra.workflow_executor
    import areal.utils.functional  # noqa: F401
for _key in set(os.environ) - set(_before):
    del os.environ[_key]
os.environ.update(_before)


# ---------------------------------------------------------------------- a LoRA League server
@pytest.fixture(scope="module")
def league_server(tiny_model, tmp_path_factory):
    """`python -m agents.serving` on the tiny model, on 127.0.0.1, without an API key (AReaL's
    client sends none): (client, "127.0.0.1:port")."""
    from agents.serving.client import RemotePolicyServer

    store = tmp_path_factory.mktemp("store")
    port = free_port()
    log = open(tmp_path_factory.mktemp("log") / "server.log", "w+")  # noqa: SIM115 (lives with the server)
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1")
    cmd = [sys.executable, "-m", "agents.serving", "--model", str(tiny_model), "--port", str(port)]
    cmd += ["--adapter-store", str(store), "--max-loras", "4", "--max-lora-rank", "8"]
    cmd += ["--dtype", "float32", "--max-model-len", str(MAX_MODEL_LEN), "--max-tokens", "64"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        client = RemotePolicyServer(f"http://127.0.0.1:{port}", wait_ready=300)
    except Exception:
        proc.kill()
        log.seek(0)
        pytest.fail(f"server did not start:\n{log.read()[-3000:]}")
    yield client, f"127.0.0.1:{port}"
    client.close()
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
