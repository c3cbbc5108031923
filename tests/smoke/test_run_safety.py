"""A run cannot hurt its user: the real trainer, refusing what it must before it writes anything.

The refusals run before the model or the engine starts, so most of these take seconds; the one
that needs a real run (a corrupt newest checkpoint) uses the smoke preset. The quiet console of a
real run is checked in test_engine_lifetime.py, by the run that also checks the temp folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from trainers.run import layout as rf
from trainers.run.guard import RunLock

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def trainer(runs: Path, *extra: str, experiment: str = "competitive", timeout: int = 600):
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1")
    cmd = [sys.executable, "-m", f"experiments.{experiment}", "--preset", "smoke"]
    cmd += ["--runs-dir", str(runs), "--no-progress", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file's bytes but train.log: a finished run's helper processes (Python's resource
    tracker) may still append their exit lines to it, through the descriptors they inherited."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != rf.LOG
    }


def one_clear_line(proc: subprocess.CompletedProcess, *words: str) -> str:
    """A refusal: non-zero exit, no traceback, one `error:` line naming `words`."""
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def kuhn_run(tmp_path_factory, model_cache) -> Path:
    """A real 3-iteration run with a checkpoint at every step."""
    runs = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LORA_LEAGUE_CACHE", str(model_cache))
        proc = trainer(runs, "--iterations", "3", "--keep-checkpoints", "3")
    assert proc.returncode == 0, proc.stderr[-4000:]
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    return run


def test_resume_refuses_a_folder_that_is_not_a_run_and_writes_nothing(tmp_path, model_cache_env):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text('{"theme": "dark"}')
    (folder / "league.json").write_text("my own league")
    before = files_of(folder)
    proc = trainer(tmp_path / "runs", "--resume", str(folder), timeout=120)
    one_clear_line(proc, "not a LoRA League run", str(folder))
    assert files_of(folder) == before


def test_resume_refuses_a_run_of_another_game_and_names_the_difference(kuhn_run, model_cache_env):
    before = files_of(kuhn_run)
    proc = trainer(kuhn_run.parent, "--resume", str(kuhn_run), "--env-id", "rps_v0", timeout=120)
    one_clear_line(proc, "env_id", "kuhn_poker_v0", "rps_v0")
    proc = trainer(kuhn_run.parent, "--resume", str(kuhn_run), "--lora-rank", "4", timeout=120)
    one_clear_line(proc, "lora_rank")
    assert files_of(kuhn_run) == before


def test_a_second_trainer_on_a_run_in_use_stops_at_once(kuhn_run, model_cache_env):
    with RunLock(kuhn_run):  # held as a running trainer holds it
        proc = trainer(kuhn_run.parent, "--resume", str(kuhn_run), "--iterations", "4")
    one_clear_line(proc, "in use by a running trainer")


def test_a_missing_model_is_one_line_and_debug_shows_the_traceback(tmp_path, model_cache_env):
    proc = trainer(tmp_path, "--model", str(tmp_path / "missing"), timeout=120)
    one_clear_line(proc, "missing")
    assert not list(tmp_path.glob("*/" + rf.RUN_MARKER))  # refused before a run folder existed
    proc = trainer(tmp_path, "--model", str(tmp_path / "missing"), "--debug", timeout=120)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_resume_skips_a_corrupt_newest_checkpoint_and_each_step_is_logged_once(
    kuhn_run, model_cache_env
):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    weights = next((kuhn_run / rf.CHECKPOINTS / "step_3").rglob("adapter_model.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])  # truncated, as a full disk leaves it
    proc = trainer(kuhn_run.parent, "--resume", str(kuhn_run), "--iterations", "4")
    assert proc.returncode == 0, proc.stderr[-4000:]
    said = proc.stdout + proc.stderr
    assert "step_3" in said and "skipped" in said, said[-3000:]
    matches = pd.read_csv(kuhn_run / rf.MATCHES)
    assert sorted(set(matches["step"])) == [0, 1, 2, 3, 4]  # 0: the untrained evaluation
    per_step = matches.groupby("step")["episode"].nunique()
    assert per_step.loc[3] == per_step.loc[1]  # step 3 replayed, not counted twice
    metrics = [json.loads(line) for line in (kuhn_run / rf.METRICS).read_text().splitlines()]
    assert [m["step"] for m in metrics] == [0, 1, 2, 3, 4]
    # TensorBoard's own reader honours the resumed writer's purge step: each step once.
    acc = EventAccumulator(str(kuhn_run), size_guidance={"scalars": 0})
    acc.Reload()
    tag = next(t for t in acc.Tags()["scalars"] if t.startswith(rf.TAG_RETURN))
    steps = [e.step for e in acc.Scalars(tag)]
    assert steps == sorted(set(steps)) == [1, 2, 3, 4], steps
    evals = [e.step for e in acc.Scalars("eval/win_rate/bot:random")]
    assert evals == sorted(set(evals)) and evals[0] == 0, evals
