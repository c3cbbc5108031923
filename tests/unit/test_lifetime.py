"""A process started by `multiprocessing` dies with its parent, even while it is still starting.

Each test runs a small parent script in its own process, which starts a child and reports its
pid; the test kills the parent with SIGKILL, as an out-of-memory killer or a scheduler would, and
the child must be gone within seconds. The slow import stands for vLLM's engine core, which spends
its first seconds importing torch and vLLM before anything of vLLM or ours runs in it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agents.serving import lifetime

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")

PARENT = textwrap.dedent(
    """
    import multiprocessing, sys, time
    sys.path[:0] = [{root!r}, {here!r}]
    from agents.serving.lifetime import children_die_with_this_process

    if __name__ == "__main__":
        if {hook}:
            children_die_with_this_process()
        context = multiprocessing.get_context({method!r})
        import slow_import  # the parent has it loaded; a spawned child imports it afresh

        child = context.Process(target=slow_import.wait, daemon=False)
        child.start()
        print(child.pid, flush=True)
        time.sleep(120)
    """
)

SLOW_IMPORT = textwrap.dedent(
    """
    import os, time

    if os.environ.get("SLOW_IMPORT_CHILD") == "1":
        time.sleep(60)  # a child unpickling its target lands here, as vLLM's core imports vLLM
    os.environ["SLOW_IMPORT_CHILD"] = "1"


    def wait():
        time.sleep(120)
    """
)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"  # a zombie waits for init to reap it
    except FileNotFoundError:
        return False


def start_parent(tmp_path: Path, method: str, hook: bool) -> tuple[subprocess.Popen, int]:
    (tmp_path / "slow_import.py").write_text(SLOW_IMPORT)
    script = tmp_path / "parent.py"
    script.write_text(PARENT.format(root=str(ROOT), here=str(tmp_path), hook=hook, method=method))
    env = {k: v for k, v in os.environ.items() if k != "SLOW_IMPORT_CHILD"}
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=tmp_path, env=env
    )
    child = int(parent.stdout.readline())
    return parent, child


def kill_and_watch(parent: subprocess.Popen, child: int, seconds: float) -> bool:
    """SIGKILL the parent; True when the child is gone within `seconds`."""
    time.sleep(1.0)  # the child is now inside its slow import (spawn) or its target (fork)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(child):
            return True
        time.sleep(0.1)
    os.kill(child, signal.SIGKILL)
    return False


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_a_child_dies_with_its_killed_parent_while_it_is_starting(tmp_path, method):
    parent, child = start_parent(tmp_path, method, hook=True)
    assert kill_and_watch(parent, child, seconds=5), f"{method} child outlived its parent"


def test_without_the_hook_the_starting_child_outlives_its_parent(tmp_path):
    """The premise: nothing else (vLLM, Python) ends a child that is still importing."""
    parent, child = start_parent(tmp_path, "spawn", hook=False)
    assert not kill_and_watch(parent, child, seconds=3)


def test_the_hook_is_installed_once_and_keeps_the_spawn_command(monkeypatch):
    from multiprocessing import spawn, util

    # The stock function, even where an earlier test (or an engine) already hooked this process.
    stock = getattr(spawn.get_command_line, "__wrapped__", spawn.get_command_line)
    monkeypatch.setattr(spawn, "get_command_line", stock)
    monkeypatch.setattr(util, "_afterfork_registry", type(util._afterfork_registry)())
    assert lifetime.children_die_with_this_process()
    patched = spawn.get_command_line
    assert lifetime.children_die_with_this_process()
    assert spawn.get_command_line is patched and len(util._afterfork_registry) == 1
    cmd = spawn.get_command_line(tracker_fd=5, pipe_handle=7)
    code = cmd[cmd.index("-c") + 1]
    assert code.startswith("import ctypes") and f"os.getppid() == {os.getpid()}" in code
    assert code.endswith("spawn_main(tracker_fd=5, pipe_handle=7)")
