"""Smoke runs of every experiment: the real script, the real engine, the tiny model, a tiny budget."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from trainers import run_format as rf

pytestmark = [pytest.mark.engine, pytest.mark.slow]
EXPERIMENTS = ["team_battle", "competitive", "cooperative", "mixed"]
EXPECTED_TAGS = {
    "team_battle": [rf.TAG_TEAM_WIN_RATE, rf.TAG_ELO, rf.TAG_POLICY_LOSS],
    "competitive": [rf.TAG_TEAM_WIN_RATE, rf.TAG_ELO, rf.TAG_POLICY_LOSS],
    "cooperative": [rf.TAG_TASK_COMPLETION, rf.TAG_COOPERATION],
    "mixed": ["charts/payoff_mix", rf.TAG_COOPERATION],
}
COMMON_TAGS = [rf.TAG_RETURN, rf.TAG_INVALID_RATE, rf.TAG_PUBLISH_MS, rf.TAG_CPU, rf.TAG_RSS]


def run_experiment(name: str, runs: Path, *extra: str, timeout: int = 600):
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1")
    cmd = [sys.executable, "-m", f"experiments.{name}", "--preset", "smoke"]
    cmd += ["--runs-dir", str(runs), "--no-progress", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def the_run(runs: Path) -> Path:
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    return run


def tags_in(run: Path) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
    acc.Reload()
    return set(acc.Tags()["scalars"])


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_smoke_run(name, tmp_path, model_cache_env):
    proc = run_experiment(name, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "run directory:" in proc.stdout
    run = the_run(tmp_path)
    tags = tags_in(run)
    for prefix in COMMON_TAGS + EXPECTED_TAGS[name]:
        assert any(t.startswith(prefix) for t in tags), (prefix, sorted(tags))
    report = json.loads((run / rf.RUN_REPORT).read_text())
    assert report["iterations"] == 2 and report["episodes"] >= 8
    league = json.loads((run / rf.LEAGUE).read_text())
    assert "main" in json.dumps(league["league"])
    matches = pd.read_csv(run / rf.MATCHES)
    assert list(matches.columns) == list(rf.MATCH_COLUMNS)
    assert set(matches["step"]) == {1, 2}
    checkpoint = run / rf.CHECKPOINTS / "step_2"
    assert (checkpoint / rf.COMPLETE).exists()
    assert list((checkpoint / "learner").rglob("adapter_model.safetensors"))


def test_help_lists_every_field():
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.team_battle", "--help"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0
    for flag in ("--env-id", "--games-per-iteration", "--matchmaking", "--resume", "smoke"):
        assert flag in proc.stdout


def test_bad_config_fails_at_start_with_a_clear_message(tmp_path):
    proc = run_experiment("team_battle", tmp_path, "--env-id", "nope_v0", timeout=120)
    assert proc.returncode != 0 and "unknown env_id 'nope_v0'" in proc.stderr
    proc = run_experiment(
        "team_battle", tmp_path, "--model", str(tmp_path / "missing"), timeout=120
    )
    assert proc.returncode != 0 and "missing" in proc.stderr


def test_killed_run_resumes_without_loss(tmp_path, model_cache_env):
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1")
    cmd = [sys.executable, "-m", "experiments.team_battle", "--preset", "smoke"]
    cmd += ["--runs-dir", str(tmp_path), "--no-progress", "--iterations", "4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 400
    try:
        while time.monotonic() < deadline:
            runs = [p for p in tmp_path.iterdir() if p.is_dir()]
            done = runs and list((runs[0] / rf.CHECKPOINTS).glob(f"step_2/{rf.COMPLETE}"))
            if done or proc.poll() is not None:
                break
            time.sleep(0.5)
        assert proc.poll() is None, "run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    run = the_run(tmp_path)
    # every file left is readable
    json.loads((run / rf.CONFIG).read_text())
    pd.read_csv(run / rf.MATCHES)
    resumed = run_experiment("team_battle", tmp_path, "--iterations", "4", "--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    matches = pd.read_csv(run / rf.MATCHES)
    assert sorted(set(matches["step"])) == [1, 2, 3, 4]
    per_step = matches.groupby("step")["episode"].nunique()
    assert per_step.loc[1] == per_step.loc[3]  # nothing counted twice after the kill
    metrics = [json.loads(line) for line in (run / rf.METRICS).read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]
    report = json.loads((run / rf.RUN_REPORT).read_text())
    assert report["iterations"] == 4
