"""Run folders: recognised before anything is written, identity checked on resume, one writer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trainers.run import layout as rf
from trainers.run.guard import (
    RunDirError,
    RunLock,
    check_identity,
    check_writable,
    identity_of,
    mark_run,
    read_identity,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = {
    "experiment": "competitive",
    "env_id": "kuhn_poker_v0",
    "env_kwargs": {},
    "mode": "competitive",
    "share": "all",
    "model": "tiny",
    "lora_rank": 8,
    "lr": 1e-4,
}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_a_folder_that_is_not_a_run_is_refused_and_left_untouched(tmp_path):
    (tmp_path / "config.json").write_text('{"theme": "dark"}')  # a user's own config
    (tmp_path / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    with pytest.raises(RunDirError, match="not a LoRA League run"):
        check_identity(tmp_path, CONFIG)
    assert snapshot(tmp_path) == before


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(RunDirError, match="no run directory"):
        read_identity(tmp_path / "nope")


def test_identity_differences_are_all_named(tmp_path):
    mark_run(tmp_path, CONFIG)
    check_identity(tmp_path, {**CONFIG, "lr": 3e-4})  # not part of the identity: fine
    other = {**CONFIG, "env_id": "rps_v0", "lora_rank": 16}
    with pytest.raises(RunDirError) as err:
        check_identity(tmp_path, other)
    assert "env_id: run has 'kuhn_poker_v0', this config 'rps_v0'" in str(err.value)
    assert "lora_rank: run has 8, this config 16" in str(err.value)


def test_identity_is_found_in_a_nested_config():
    nested = {
        "experiment": "x",
        "env": {"env_id": "rps_v0", "env_kwargs": {}},
        "lora": {"lora_rank": 4},
    }
    assert identity_of(nested) == {
        "experiment": "x",
        "env_id": "rps_v0",
        "env_kwargs": {},
        "lora_rank": 4,
    }


def test_a_run_written_before_markers_is_recognised_by_its_files(tmp_path):
    (tmp_path / rf.CONFIG).write_text(json.dumps(CONFIG))
    (tmp_path / rf.CHECKPOINTS).mkdir()
    assert read_identity(tmp_path)["env_id"] == "kuhn_poker_v0"
    with pytest.raises(RunDirError, match="env_id"):
        check_identity(tmp_path, {**CONFIG, "env_id": "rps_v0"})


def test_a_broken_marker_is_an_error_not_a_traceback_from_json(tmp_path):
    (tmp_path / rf.RUN_MARKER).write_text("{")
    with pytest.raises(RunDirError, match="unreadable"):
        read_identity(tmp_path)


def test_a_second_process_cannot_take_the_lock(tmp_path):
    holder = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from trainers.run.guard import RunLock
        lock = RunLock({str(tmp_path)!r}).acquire()
        print("held", flush=True)
        sys.stdin.read()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(RunDirError, match=f"in use by a running trainer \\(pid {proc.pid}\\)"):
            RunLock(tmp_path).acquire()
    finally:
        proc.kill()
        proc.wait()
    with RunLock(tmp_path) as lock:  # the kernel dropped the dead process's lock
        assert lock.held
    assert not lock.held


def test_check_writable_refuses_a_read_only_folder(tmp_path):
    check_writable(tmp_path)
    assert not list(tmp_path.iterdir())  # the probe file is gone
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(RunDirError, match="cannot write"):
            check_writable(tmp_path)
    finally:
        tmp_path.chmod(0o700)


@pytest.mark.parametrize(("code", "words"), [(28, "the disk is full"), (30, "Read-only")])
def test_check_writable_names_a_full_or_read_only_disk(tmp_path, monkeypatch, code, words):
    """Root ignores permission bits, so the kernel's answers are simulated here."""
    import builtins

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(builtins, "open", refuse)
    with pytest.raises(RunDirError, match=words):
        check_writable(tmp_path)


def test_a_killed_trainers_adapter_store_is_removed_by_the_next_one(tmp_path):
    from trainers.run.guard import ADAPTER_STORE_PREFIX, remove_dead_stores

    dead = tmp_path / f"{ADAPTER_STORE_PREFIX}999999"
    mine = tmp_path / f"{ADAPTER_STORE_PREFIX}{os.getpid()}"
    for folder in (dead, mine):
        (folder / "main@v1").mkdir(parents=True)
    assert remove_dead_stores(tmp_path) == [dead]
    assert mine.is_dir() and not dead.exists()
