"""Kill a real run with SIGKILL right after one of its checkpoints, as a crash or an OOM kill
would, and check that what it started dies with it. Shared by the resume tests of the smoke,
population and Ray tiers."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import psutil

from trainers.run import layout as rf

#: What must die with the run: by default every process it started (its engine's).
Doomed = Callable[[psutil.Process], list[psutil.Process]]


def _children(run: psutil.Process) -> list[psutil.Process]:
    return run.children(recursive=True)


def kill_after_checkpoint(
    cmd: list[str],
    runs: Path,
    step: int,
    timeout: float,
    env: Mapping[str, str] | None = None,
    doomed: Doomed = _children,
    grace: float = 30.0,
) -> list[psutil.Process]:
    """Start `cmd`, SIGKILL it once a run folder under `runs` has checkpoint `step` complete,
    and assert that the processes `doomed` names (found just before the kill) are gone within
    `grace` seconds. Returns those processes, for the caller's own checks of what they were."""
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1") if env is None else dict(env)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    pattern = f"*/{rf.CHECKPOINTS}/step_{step}/{rf.COMPLETE}"
    deadline = time.monotonic() + timeout
    try:
        done = False
        while not done and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            done = any(runs.glob(pattern))
        assert done, f"no complete checkpoint step_{step} within {timeout} s (status {proc.poll()})"
        assert proc.poll() is None, "the run ended before it could be killed"
        victims = doomed(psutil.Process(proc.pid))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        _, alive = psutil.wait_procs(victims, timeout=grace)
        assert not alive, [p.pid for p in alive]
        return victims
    finally:
        if proc.poll() is None:
            proc.kill()
