"""Nothing lost, nothing left behind: a trainer's engine goes with it, however the trainer ends.

The real trainer (the smoke preset) runs in a subprocess, as a user starts it. Killed with SIGKILL
at any moment, engine start included, it must leave no process alive 10 s later: every process it
started carries a marker in its environment, so that they are found after the kill has made them
orphans. A run that ends, cleanly or after a kill, leaves nothing in the temp folder once the
next run has started and ended, and its console shows no line of the engine nor a memory warning
the run never comes near.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from trainers.run import layout as rf

pytestmark = [pytest.mark.slow, pytest.mark.engine]

MARKER = "LORA_LEAGUE_TEST_TRAINER"
GRACE_S = 10.0  # the engine's processes must be gone this long after the trainer was killed
START_TIMEOUT_S = 600.0


@pytest.fixture(scope="module", autouse=True)
def engine_in_process():
    """Overrides the smoke tier's in-process engines: these tests check the engine's own
    processes, so they run vLLM's default layout, the one users run."""


@pytest.fixture(scope="module")
def tmp_dir():
    """The trainers' temp folder (`TMPDIR`), shared by the tests of this file; a short path, as
    vLLM's socket paths must fit in 107 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="ll"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def trainer_env(tmp_dir: Path, marker: str) -> dict[str, str]:
    return dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", TMPDIR=str(tmp_dir), **{MARKER: marker})


def trainer_cmd(runs: Path, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "experiments.competitive", "--preset", "smoke"]
    return [*cmd, "--runs-dir", str(runs), "--no-progress", *extra]


def marked(marker: str) -> list[psutil.Process]:
    """Live processes (zombies are dead) started by the trainer with this marker."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and proc.environ().get(MARKER) == marker:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def describe(procs: list[psutil.Process]) -> list[str]:
    out = []
    for p in procs:
        try:
            out.append(f"{p.pid} {' '.join(p.cmdline())[:80]!r}")
        except psutil.Error:
            out.append(str(p.pid))
    return out


def children(trainer: subprocess.Popen) -> list[psutil.Process]:
    try:
        return psutil.Process(trainer.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def engine_spawned(trainer: subprocess.Popen, runs: Path) -> bool:
    """The engine core's process exists and is still importing (multiprocessing's spawn)."""
    return any("spawn_main" in cmdline(p) for p in children(trainer))


def engine_loading(trainer: subprocess.Popen, runs: Path) -> bool:
    """The engine core runs vLLM's code: its handshake with the trainer and the model load."""
    return any("VLLM::EngineCore" in cmdline(p) for p in children(trainer))


def training(trainer: subprocess.Popen, runs: Path) -> bool:
    """The first update is saved: engine, learner and the rollout all running."""
    return any(runs.glob(f"*/{rf.CHECKPOINTS}/step_1"))


MOMENTS: dict[str, Callable[[subprocess.Popen, Path], bool]] = {
    "engine_spawned": engine_spawned,
    "engine_loading": engine_loading,
    "training": training,
}


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_a_killed_trainer_leaves_no_process_behind(moment, tmp_path, tmp_dir, model_cache_env):
    marker = uuid.uuid4().hex
    runs = tmp_path / "runs"
    trainer = subprocess.Popen(
        trainer_cmd(runs),
        env=trainer_env(tmp_dir, marker),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not MOMENTS[moment](trainer, runs):
            assert trainer.poll() is None, f"the trainer ended before {moment}"
            assert time.monotonic() < deadline, f"no {moment} in {START_TIMEOUT_S:.0f} s"
            time.sleep(0.05)
        started = marked(marker)
        assert len(started) >= 2, describe(started)  # the trainer and at least its engine
        trainer.send_signal(signal.SIGKILL)
        trainer.wait()
        deadline = time.monotonic() + GRACE_S
        while (alive := marked(marker)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive, f"alive {GRACE_S:.0f} s after the kill ({moment}): {describe(alive)}"
    finally:
        trainer.kill()
        for proc in marked(marker):  # whatever the test found alive must not outlive it
            proc.kill()


def test_a_run_leaves_the_temp_folder_as_it_found_it_and_the_console_quiet(
    tmp_path, tmp_dir, model_cache_env
):
    """After the killed runs above, the next run removes what they left and its own at exit,
    and says on the console only what is for the user: no engine line, the closing table in 80
    columns (the run's log file keeps the rest).

    The plan's worst case (every chat of a micro-batch at max_model_len) does not fit the budget
    here, as for the default model on a 24 GB machine, though the run's chats never come near it.
    """
    if psutil.virtual_memory().total / 2**30 < 12:
        pytest.skip("the memory budget below is 12 GB")
    proc = subprocess.run(
        trainer_cmd(
            tmp_path / "runs",
            *("--iterations", "1", "--micro-batch-size", "128"),
            *("--memory-budget-gb", "12", "--kv-cache-gib", "1"),
        ),
        env=trainer_env(tmp_dir, uuid.uuid4().hex),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    said = (proc.stdout + proc.stderr).splitlines()
    engine = re.compile(r"\((EngineCore|Worker|MainProcess)\w* pid=\d+\)|\[\w+\.py:\d+\]| INFO ")
    assert not [line for line in said if engine.search(line)], said
    assert not [line for line in said if "micro-batch" in line], said
    assert max(map(len, said)) < 200, said
    assert "run directory:" in proc.stdout
    table = [line for line in proc.stdout.splitlines() if "/" not in line]  # paths may be long
    assert table and all(len(line) <= 80 for line in table), proc.stdout
    (run,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    log = (run / rf.LOG).read_text()
    assert "Initializing a V1 LLM engine" in log and "full 1024 tokens" in log  # kept there
    assert "(EngineCore pid=" in log  # the engine's own processes' lines too
    left = sorted(p.relative_to(tmp_dir).as_posix() for p in tmp_dir.rglob("*"))
    assert left == [], left
