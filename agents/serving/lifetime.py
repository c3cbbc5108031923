"""Make vLLM's helper processes die with the process that started them.

vLLM runs its engine core and workers as child processes. When the trainer is killed with SIGKILL
they are orphaned and keep several GB of memory. Linux can deliver a signal to a process when its
parent dies (`prctl(PR_SET_PDEATHSIG)`); this is set from the `vllm.general_plugins` hook, which
vLLM runs at the start of every process it creates. The user's own process is left alone.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """In a multiprocessing child on Linux, ask for SIGKILL when the parent dies. True if set."""
    parent = multiprocessing.parent_process()
    if not sys.platform.startswith("linux") or parent is None:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return False
    except OSError:
        return False
    # The parent may already be gone between fork and here: then nothing would ever signal us.
    if parent.pid is not None and os.getppid() != parent.pid:
        os._exit(1)
    return True
