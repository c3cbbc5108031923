"""The engine's CPU threads run on the cores it is given (vLLM's own choice leaves one idle)."""

from __future__ import annotations

import contextlib
import os

import psutil
import pytest

from agents.serving import GenerationRequest, SamplingSettings

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def _thread_cores(pid: int) -> set[int]:
    """Union of the CPU affinities of every thread of process `pid`."""
    cores: set[int] = set()
    for thread in psutil.Process(pid).threads():
        with contextlib.suppress(OSError):  # the thread ended meanwhile
            cores |= os.sched_getaffinity(thread.id)
    return cores


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="needs Linux CPU affinity")
def test_engine_worker_runs_on_the_given_cores(tiny_model, tmp_path):
    from agents.serving import make_policy_server

    core = max(os.sched_getaffinity(0))  # vLLM's auto choice binds the lowest core
    server = make_policy_server(
        "vllm", model=tiny_model, dtype="float32", max_loras=1, max_lora_rank=8,
        kv_cache_gib=1, store_dir=tmp_path / "store", cpu_cores=[core],
    )  # fmt: skip
    try:
        assert "VLLM_CPU_OMP_THREADS_BIND" not in os.environ  # set for the start only
        prompt = tuple(server.tokenizer("Your move?")["input_ids"])
        server.generate([GenerationRequest(prompt, None, SamplingSettings(max_tokens=4))])
        children = psutil.Process().children(recursive=True)
        workers = [p for p in children if "Worker" in p.name()]
        assert workers, [p.name() for p in children]
        assert all(_thread_cores(w.pid) == {core} for w in workers)
    finally:
        server.close()
