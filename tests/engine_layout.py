"""Where a test's vLLM engines run.

vLLM's own switch `VLLM_ENABLE_V1_MULTIPROCESSING=0` keeps the engine core and its worker inside the
process that starts the engine, instead of two spawned processes that each import torch and vLLM
again: about 17 of a tiny smoke run's 34 s on two cores. Runs whose point is not the engine's
process layout (the smoke and Ray runs, the remote server) start their engines this way;
`tests/smoke/test_engine_lifetime.py` and every engine the integration tier starts keep vLLM's
default layout, the one users run. So does an engine started in a pytest worker: in-process, vLLM
binds the worker's threads to cores for the rest of the session, and its kernel registration
scans every module in `sys.modules`, which fails on proxies other tests import (flask's).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

IN_PROCESS = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}


@contextlib.contextmanager
def engines_in_process() -> Iterator[None]:
    """Within this block, processes started from this one run their engines in-process."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in IN_PROCESS.items():
            env.setenv(name, value)
        yield
