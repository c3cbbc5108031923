"""Make vLLM's helper processes die with the process that started them.

vLLM runs its engine core (and, with several devices, workers) as child processes. When the
trainer is killed with SIGKILL nothing of it runs again, so each child must watch for itself:
Linux sends a process a signal when its parent dies if the process asked for it
(`prctl(PR_SET_PDEATHSIG)`). The request has to come from the child, and early: vLLM calls its
plugins (`vllm_patches.register`) in the engine core only after the startup handshake, and a core
whose parent died before that waits out the handshake's 5-minute timeout, holding its memory.

`children_die_with_this_process()` runs in every vLLM process (from `register`), so in the
process that creates the engine before the engine core starts. From then on every child that
`multiprocessing` starts there asks for the signal before anything else runs in it:

- spawn (vLLM's method on a CPU): the child's command line starts with the request, ahead of
  the interpreter's first import of the parent's modules;
- fork: `multiprocessing`'s after-fork hook, first thing in the child.

A child whose parent is already gone by then exits at once. Python's resource tracker, which a
process starts beside its first spawned child, needs nothing: it exits when the last process
holding its pipe (that process and its spawned children) is gone.

The signal is tied to the thread that started the child: a child started from a thread that
ends is killed with it. vLLM starts its processes from the thread that builds the engine.
"""

from __future__ import annotations

import ctypes
import functools
import multiprocessing
import operator
import os
import signal
import sys
from collections.abc import Callable
from multiprocessing import spawn, util

PR_SET_PDEATHSIG = 1

_MARK = "__lora_league_dies_with_parent__"

#: Runs first in a spawned child: the request, then exit if the spawning process is already gone.
#: Standard library only: the child's import path is not set up yet.
_SPAWN_PRELUDE = (
    "import ctypes, os\n"
    "ctypes.CDLL(None, use_errno=True).prctl({option}, {signal}, 0, 0, 0)\n"
    "os.getppid() == {pid} or os._exit(1)\n"
)


def _request_kill_on_parent_death() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent() -> bool:
    """In a multiprocessing child on Linux, ask for SIGKILL when the parent dies. True if set."""
    parent = multiprocessing.parent_process()
    if not sys.platform.startswith("linux") or parent is None:
        return False
    if not _request_kill_on_parent_death():
        return False
    # The parent may already be gone between fork and here: then nothing would ever signal us.
    if parent.pid is not None and os.getppid() != parent.pid:
        os._exit(1)
    return True


def children_die_with_this_process() -> bool:
    """Make every `multiprocessing` child started from now on in this process die with it.

    Linux only; idempotent. True when the hooks are in place.
    """
    if not sys.platform.startswith("linux"):
        return False
    if getattr(spawn.get_command_line, _MARK, False):
        return True
    spawn.get_command_line = _with_prelude(spawn.get_command_line)
    util.register_after_fork(die_with_parent, operator.call)
    return True


def _with_prelude(get_command_line: Callable[..., list[str]]) -> Callable[..., list[str]]:
    @functools.wraps(get_command_line)
    def with_prelude(**kwds: object) -> list[str]:
        cmd = list(get_command_line(**kwds))
        if "-c" in cmd[:-1]:  # a frozen executable has no code to prefix
            at = cmd.index("-c") + 1
            prelude = _SPAWN_PRELUDE.format(
                option=PR_SET_PDEATHSIG, signal=int(signal.SIGKILL), pid=os.getpid()
            )
            cmd[at] = prelude + cmd[at]
        return cmd

    setattr(with_prelude, _MARK, True)
    return with_prelude
