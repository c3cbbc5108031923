"""Nothing lost, nothing left behind: the real trainer resuming what a killed run leaves.

A torn last line in the logs costs the step it belonged to no rows (resume goes on from the
checkpoint whose rows are whole and plays the rest again), and `--resume auto` passes over a
folder a trainer was killed while creating. Each test resumes its own copy of one real run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from trainers.run import layout as rf

pytestmark = [pytest.mark.slow, pytest.mark.engine]

ROOT = Path(__file__).resolve().parents[2]


def trainer(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "experiments.competitive", "smoke", "--no-progress", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, model_cache) -> Path:
    """A finished 3-iteration run with a checkpoint at every step."""
    runs = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LORA_LEAGUE_CACHE", str(model_cache))
        proc = trainer("--runs-dir", str(runs), "--iterations", "3", cwd=runs)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    return run


def copy_of(run: Path, runs: Path) -> Path:
    runs.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copytree(run, runs / run.name))


def test_a_torn_last_line_costs_no_step_its_rows(clean_run, tmp_path, model_cache_env):
    run = copy_of(clean_run, tmp_path / "elsewhere")
    for name, nbytes in ((rf.METRICS, 7), (rf.MATCHES, 5)):  # as a killed writer leaves them
        path = run / name
        os.truncate(path, path.stat().st_size - nbytes)
    # Resumed by its path, no --runs-dir: the run is not under ./runs.
    proc = trainer("--resume", str(run), "--iterations", "5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    said = [line for line in proc.stdout.splitlines() if "skipped" in line]
    assert len(said) == 1 and "step_3" in said[0] and "resuming from step_2" in said[0], said

    metrics = [json.loads(line)["step"] for line in (run / rf.METRICS).read_text().splitlines()]
    assert metrics == [0, 1, 2, 3, 4, 5]
    matches = pd.read_csv(run / rf.MATCHES)
    assert sorted(set(matches["step"])) == [0, 1, 2, 3, 4, 5]
    assert matches["episode"].is_monotonic_increasing
    seats = matches.groupby("episode").size()
    assert (seats == 2).all(), seats[seats != 2]  # every game whole: both of its rows, once
    per_step = matches.groupby("step")["episode"].nunique()
    assert per_step.loc[3] == per_step.loc[1]  # step 3 played again: training games only, once

    assert f"watch: tensorboard --logdir {run.parent}" in proc.stdout, proc.stdout[-2000:]


def test_resume_auto_passes_over_a_half_made_folder(clean_run, tmp_path, model_cache_env):
    runs = tmp_path / "runs"
    run = copy_of(clean_run, runs)
    experiment, seed, _ = run.name.split(rf.RUN_NAME_SEP)
    empty = runs / rf.RUN_NAME_SEP.join((experiment, seed, "29991231-235959"))
    empty.mkdir()  # a trainer killed between creating its folder and marking it
    proc = trainer("--runs-dir", str(runs), "--resume", "auto", "--iterations", "4", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    said = [line for line in proc.stdout.splitlines() if empty.name in line]
    assert len(said) == 1 and str(run) in said[0], proc.stdout[-2000:]
    assert list(empty.iterdir()) == []
    metrics = [json.loads(line)["step"] for line in (run / rf.METRICS).read_text().splitlines()]
    assert metrics == [0, 1, 2, 3, 4]
