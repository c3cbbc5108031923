"""Smoke runs of every experiment: the real script and engine, the tiny model, a tiny budget."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.killing import kill_after_checkpoint
from trainers.run import layout as rf

pytestmark = [pytest.mark.engine, pytest.mark.slow]
EXPERIMENTS = ["team_battle", "competitive", "cooperative", "mixed"]
EXPECTED_TAGS = {
    "team_battle": [rf.TAG_TEAM_WIN_RATE, rf.TAG_ELO, rf.TAG_POLICY_LOSS],
    "competitive": [rf.TAG_TEAM_WIN_RATE, rf.TAG_ELO, rf.TAG_POLICY_LOSS],
    "cooperative": [rf.TAG_TASK_COMPLETION, rf.TAG_COOPERATION],
    "mixed": ["charts/payoff_mix", rf.TAG_COOPERATION],
}
#: Each mode's own evaluation (`trainers.league.mode_eval`): its tags, at step 0 and the last.
EVAL_TAGS = {
    "team_battle": ["eval/win_rate/bot:random", "eval/win_rate_low/bot:random"],
    "competitive": [
        "eval/exploitability/last",
        "eval/exploitability/meta",
        "eval/exploitability/league",
        "eval/win_rate/bot:strong",
    ],
    "cooperative": [
        "eval/success_rate/pair",
        "eval/success_rate_low/pair",
        "eval/success_rate_high/pair",
        "eval/success_rate/player_0+strong",
        "eval/success_rate/player_1+strong",
    ],
    "mixed": [
        "eval/panel_score/learner",
        "eval/panel_score/tit_for_tat",
        "eval/score/learned_pair",
        "eval/score/always_defect",
        "eval/panel_score_low/learner",
    ],
}
COMMON_TAGS = [
    rf.TAG_RETURN, rf.TAG_INVALID_RATE, rf.TAG_PUBLISH_MS, rf.TAG_CPU, rf.TAG_RSS, rf.TAG_ENTROPY,
]  # fmt: skip


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


@pytest.fixture(scope="module")
def team_battle_run(tmp_path_factory, model_cache) -> Path:
    """One real smoke run of the main experiment, analysed by the tests below."""
    runs = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:  # module scope: no function-scoped monkeypatch
        mp.setenv("LORA_LEAGUE_CACHE", str(model_cache))
        proc = run_experiment("team_battle", runs)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "run directory:" in proc.stdout
    assert "win_rate bot:random" in proc.stdout  # the evaluation table
    return the_run(runs)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_smoke_run(name, tmp_path, model_cache_env, request):
    if name == "team_battle":
        run = request.getfixturevalue("team_battle_run")
    else:
        proc = run_experiment(name, tmp_path)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
        assert "run directory:" in proc.stdout
        run = the_run(tmp_path)
    tags = tags_in(run)
    for prefix in COMMON_TAGS + EXPECTED_TAGS[name]:
        assert any(t.startswith(prefix) for t in tags), (prefix, sorted(tags))
    rows = [json.loads(line) for line in (run / rf.METRICS).read_text().splitlines()]
    for tag in EVAL_TAGS[name]:  # the mode's evaluation: untrained and final points
        assert tag in tags, (tag, sorted(tags))
        logged = [row["step"] for row in rows if tag in row]
        assert logged[0] == 0 and logged[-1] == 2, (tag, logged)
    report = json.loads((run / rf.RUN_REPORT).read_text())
    assert report["iterations"] == 2 and report["episodes"] >= 8
    league = json.loads((run / rf.LEAGUE).read_text())
    assert "main" in json.dumps(league["league"])
    matches = pd.read_csv(run / rf.MATCHES)
    assert list(matches.columns) == list(rf.MATCH_COLUMNS)
    # Step 0: the untrained adapter's evaluation against the bots, where the preset evaluates.
    evaluates = name in ("team_battle", "competitive")
    assert set(matches["step"]) == ({0, 1, 2} if evaluates else {1, 2})
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
    cmd = [sys.executable, "-m", "experiments.team_battle", "--preset", "smoke"]
    cmd += ["--runs-dir", str(tmp_path), "--no-progress", "--iterations", "4"]
    # The engine runs inside the trainer here (tests.engine_layout); that vLLM's own engine
    # processes die with a killed trainer is test_engine_lifetime's check.
    kill_after_checkpoint(cmd, tmp_path, step=2, timeout=400)
    run = the_run(tmp_path)
    # every file left is readable
    json.loads((run / rf.CONFIG).read_text())
    pd.read_csv(run / rf.MATCHES)
    resumed = run_experiment("team_battle", tmp_path, "--iterations", "4", "--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    matches = pd.read_csv(run / rf.MATCHES)
    assert sorted(set(matches["step"])) == [0, 1, 2, 3, 4]  # 0: the untrained evaluation
    per_step = matches.groupby("step")["episode"].nunique()
    assert per_step.loc[1] == per_step.loc[3]  # nothing counted twice after the kill
    metrics = [json.loads(line) for line in (run / rf.METRICS).read_text().splitlines()]
    assert [m["step"] for m in metrics] == [0, 1, 2, 3, 4]
    report = json.loads((run / rf.RUN_REPORT).read_text())
    assert report["iterations"] == 4


def test_report_draws_the_real_run(team_battle_run, tmp_path):
    from tests.analysis.images import assert_valid_png
    from tests.analysis.test_report import FIGURE_FILES, report

    done = report(str(team_battle_run), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    for name in FIGURE_FILES:
        assert_valid_png(tmp_path / name)


def test_notebook_runs_against_the_real_run(team_battle_run, monkeypatch):
    from tests.analysis.test_notebook import run_notebook

    run_notebook(team_battle_run, monkeypatch)


def test_analysis_agrees_with_the_run_files(team_battle_run):
    from experiments.analysis import load_run, player_summary, trend

    run = load_run(team_battle_run)
    training = run.matches[run.matches.groupby("episode")["learning"].transform("max") > 0]
    expected = player_summary(training, by=("step", "player"))
    for tag, column in ((rf.TAG_RETURN, "mean_return"), (rf.TAG_INVALID_RATE, "invalid_move_rate")):
        logged = trend(run.scalars, tag)["main"]  # read back from TensorBoard
        assert list(logged.index) == [1, 2]
        for step in (1, 2):
            assert logged[step] == pytest.approx(expected.loc[(step, "main"), column], abs=1e-5)


def test_evaluate_round_robin_of_checkpoints(team_battle_run, model_cache_env):
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1")
    cmd = [sys.executable, "-m", "experiments.evaluate", str(team_battle_run), "--games", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((team_battle_run / "evaluation.json").read_text())
    assert result["players"] == ["step_1", "step_2", "bot:random", "bot:strong"]
    assert len(result["win_rate"]) == 4 and set(result["elo"]) == set(result["players"])
    rows = pd.read_csv(team_battle_run / "evaluation_matches.csv")
    assert len(rows) == result["games"] * 4


def test_async_rollout_and_the_decision_critic_train_through_the_real_loop(
    tmp_path, model_cache_env
):
    """One competitive run checks two features (a run each cost a minute):

    - async rollout with the decoupled loss: the next iteration's games play while the learner
      updates, with one version of staleness after the first;
    - advantage=decision_q with q targets and an entropy bonus: the critic fills with state and
      move values from real games, survives the checkpoint, and the entropy is logged."""
    extra = ("--async-rollout", "--loss", "decoupled_ppo", "--iterations", "3",
             "--advantage", "decision_q", "--q-target-coef", "1.0", "--entropy-coef", "0.1",
             "--games-per-iteration", "8")  # fmt: skip
    proc = run_experiment("competitive", tmp_path, *extra)
    assert proc.returncode == 0, proc.stderr[-4000:]
    run = the_run(tmp_path)
    metrics = [json.loads(x) for x in (run / rf.METRICS).read_text().splitlines()]
    updates = [m for m in metrics if m["step"] >= 1]  # step 0: the untrained evaluation
    assert [m["charts/staleness"] for m in updates] == [0, 1, 1]
    (last,) = sorted((run / "checkpoints").iterdir())[-1:]
    state = json.loads((last / rf.TRAINER_STATE).read_text())["baselines"]
    kinds = {entry["state"][0] for entry in state["states"]}
    assert kinds == {"v", "q"}
    moves = {entry["state"][2] for entry in state["states"] if entry["state"][0] == "q"}
    assert moves <= {"[check]", "[bet]", "[call]", "[fold]"} and moves
    assert updates and all(m[f"{rf.TAG_ENTROPY}/main-all"] > 0 for m in updates)


def test_counterfactual_move_values_train_through_the_real_loop(tmp_path, model_cache_env):
    """--move-values with q targets in the team quiz: the rollout values the learner's moves by
    replaying copies of the game, the learner trains on their targets, and both phases are
    timed (`time/move_values`, `time/q_targets`)."""
    extra = ("--move-values", "--q-target-coef", "1.0", "--share", "all")
    proc = run_experiment("team_battle", tmp_path, *extra)
    assert proc.returncode == 0, proc.stderr[-4000:]
    run = the_run(tmp_path)
    metrics = [json.loads(x) for x in (run / rf.METRICS).read_text().splitlines()]
    updates = [m for m in metrics if m["step"] >= 1]
    assert updates and all(f"{rf.TAG_TIME}/move_values" in m for m in updates)
    assert all(m[f"{rf.TAG_TIME}/q_targets"] >= 0 for m in updates)
    # the untrained adapter's evaluation games (step 0) are charged to iteration 1 as eval,
    # not as generate (an eval phase with nothing due takes microseconds)
    assert updates[0][f"{rf.TAG_TIME}/eval"] > 0.01
    assert all(math.isfinite(m[f"{rf.TAG_POLICY_LOSS}/main-all"]) for m in updates)
    # every valued captain answer gives one target sample per legal move (2 per question)
    assert all(m[f"{rf.TAG_Q_TARGETS}/main-all"] > 0 for m in updates)
