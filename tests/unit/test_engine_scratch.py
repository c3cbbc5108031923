"""The engine's own temp folder: named for its process, handed to vLLM, gone at close or after."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Imported before any test moves the temp folder: its import makes torch's cache folder there.
from torch._inductor.runtime import cache_dir_utils

from agents.serving import scratch
from agents.serving.scratch import EngineScratch


@pytest.fixture
def tmp(tmp_path, monkeypatch):
    """This process's temp folder, as `tempfile` sees it: a fresh one, with a short path."""
    folder = Path(tempfile.mkdtemp())
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    for name in ("VLLM_RPC_BASE_PATH", "TORCHINDUCTOR_CACHE_DIR"):
        monkeypatch.setenv(name, "")  # restored as it was after the test, set or not
        monkeypatch.delenv(name)
    monkeypatch.setenv("LORA_LEAGUE_CACHE", str(tmp_path / "cache"))
    yield folder
    shutil.rmtree(folder)


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True, check=True)  # fmt: skip
    return int(proc.stdout)


def test_the_engine_gets_its_own_folder_for_sockets_and_temp_files(tmp, tmp_path):
    engine = EngineScratch()
    assert engine.path.parent == tmp
    assert engine.path.name.startswith(f"{scratch.PREFIX}{os.getpid()}_")
    env = engine.environment()
    assert env == {"VLLM_RPC_BASE_PATH": str(engine.path), "TMPDIR": str(engine.path)}
    cache = tmp_path / "cache" / "torchinductor"  # torch's compile cache outlives the folder
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(cache) == str(engine.compile_cache)
    linked = engine.path / scratch.torch_cache_name()  # torch's default path, in the engine
    assert linked.resolve() == cache.resolve()
    (engine.path / "0b6c1f9e-socket").touch()
    (linked / "precompiled_headers").mkdir()
    engine.close()
    assert not engine.path.exists() and list(tmp.iterdir()) == []
    assert (cache / "precompiled_headers").is_dir()
    engine.close()  # twice is fine


def test_what_the_user_set_is_kept(tmp, monkeypatch):
    monkeypatch.setenv("VLLM_RPC_BASE_PATH", str(tmp / "mine"))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp / "inductor"))
    engine = EngineScratch()
    assert engine.environment() == {"TMPDIR": str(engine.path)}
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp / "inductor")
    engine.close()


def test_torchs_own_default_is_not_taken_for_the_users_choice(tmp, tmp_path):
    assert cache_dir_utils.default_cache_dir() == str(tmp / scratch.torch_cache_name())
    cache_dir_utils.cache_dir()  # sets the variable to torch's default folder in the temp folder
    engine = EngineScratch()
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "cache" / "torchinductor")
    engine.close()


def test_sockets_stay_where_vllm_puts_them_when_the_path_would_be_too_long(tmp_path, monkeypatch):
    deep = tmp_path / ("d" * 80)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    monkeypatch.delenv("VLLM_RPC_BASE_PATH", raising=False)
    engine = EngineScratch()
    assert "VLLM_RPC_BASE_PATH" not in engine.environment()  # a Unix socket path has 107 bytes
    engine.close()


def test_the_next_engine_removes_the_folders_of_processes_that_are_gone(tmp):
    orphan = tmp / f"{scratch.PREFIX}{dead_pid()}_abc"
    (orphan / "sub").mkdir(parents=True)
    live = tmp / f"{scratch.PREFIX}{os.getppid()}_abc"  # pytest's parent: alive
    live.mkdir()
    other = tmp / "lora_league_vllm_notapid_abc"
    other.mkdir()
    engine = EngineScratch()
    assert not orphan.exists() and live.exists() and other.exists()
    engine.close()
