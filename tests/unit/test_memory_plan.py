"""The memory plan: refuse what cannot fit, and keep what a run will not reach off the console."""

from __future__ import annotations

import logging

import pytest

from trainers.run import resources

#: The embedded default model's shape (SmolLM2-135M-Instruct).
SMOLLM2 = {
    "params": 134_515_008,
    "hidden_size": 576,
    "num_layers": 30,
    "kv_bytes_per_token": 46_080,
}
#: The tiny test model's (4 layers, 2 KV heads of 64).
TINY = {"params": 3_000_000, "hidden_size": 256, "num_layers": 4, "kv_bytes_per_token": 4_096}


@pytest.fixture
def machine(monkeypatch):
    """A CPU machine of 24 GB with the default model, whatever this machine is."""
    monkeypatch.setattr(resources, "detect_device", lambda: "cpu")
    monkeypatch.setattr(resources, "machine_memory_gb", lambda: 24.0)
    monkeypatch.setattr("agents.models.describe_model", lambda path: SMOLLM2)


def plan(**kw):
    args = {"budget_gb": None, "kv_cache_gib": None, "micro_batch_size": 8, "max_model_len": 2048}
    return resources.plan_resources("default", engine=True, **{**args, **kw})


def test_the_worst_case_a_run_may_never_reach_is_a_note_in_the_log(machine, caplog):
    """Full-length chats in every row of a micro-batch would not fit in 24 GB; typical ones do."""
    with caplog.at_level(logging.INFO, logger=resources.__name__):
        result = plan()
    assert result.estimate_gb < 24.0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    notes = [r.getMessage() for r in caplog.records if "full 2048 tokens" in r.getMessage()]
    assert len(notes) == 1 and "would need about" in notes[0]


def test_a_run_that_cannot_fit_is_refused_with_what_to_change(machine):
    with pytest.raises(MemoryError, match="micro_batch_size"):
        plan(budget_gb=8.0)


def test_the_auto_kv_cache_is_what_the_engine_could_fill_at_most(machine, monkeypatch):
    """256 sequences of 1024 tokens of the tiny model fill 1 GiB (at fp32), of 2048 tokens of the
    default model 22.5: the tiny one gets what it could fill, the default the usual cap, and a
    size the user gave is kept."""
    assert plan().kv_cache_gib == resources.MAX_AUTO_KV_GIB
    monkeypatch.setattr("agents.models.describe_model", lambda path: TINY)
    assert plan(max_model_len=1024).kv_cache_gib == 1.0
    assert plan(max_model_len=2048).kv_cache_gib == 2.0
    assert plan(max_model_len=8192).kv_cache_gib == resources.MAX_AUTO_KV_GIB  # 8 GiB: the cap
    assert plan(max_model_len=1024, kv_cache_gib=3.0).kv_cache_gib == 3.0
