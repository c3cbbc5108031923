"""Plumbing of the learning diagnostics in `benchmarks/` (tiny model, a few updates): they run, and
an update really changes the adapter's move probabilities."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def table_rows(stdout: str) -> dict[int, tuple[float, ...]]:
    """step -> (p_right, greedy, p_first) from the benchmark's printed table."""
    rows = {}
    for line in stdout.splitlines():
        parts = line.split()
        if parts and parts[0].isdigit():
            rows[int(parts[0])] = (float(parts[1]), float(parts[2]), float(parts[5]))
    return rows


def learning_curve(tmp_path: Path, scenario: str, *flags: str) -> list[dict[str, str]]:
    """Run `benchmarks/learning.py <scenario>` on the tiny model; the rows of its curve CSV."""
    import csv

    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "learning.py"), scenario, "--model", "tiny",
        "--max-model-len", "1024", "--runs-dir", str(tmp_path), *flags,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (curve,) = tmp_path.glob(f"bench_{scenario}*/learning_{scenario}.csv")
    with open(curve, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    ("task", "mode"), [("quiz", "ce"), ("quiz", "pg"), ("kuhn_card", "pg"), ("quiz", "targets")]
)
def test_decision_learning_updates_the_adapter(task, mode, model_cache_env):
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "decision_learning.py"), "--task", task,
        "--mode", mode,
        "--model", "tiny", "--steps", "2", "--batch", "4", "--held-out", "8",
        "--eval-every", "1", "--lr", "1e-2",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = table_rows(proc.stdout)
    assert sorted(rows) == [0, 1, 2]
    for p_right, greedy, p_first in rows.values():
        assert 0 <= p_right <= 1 and 0 <= greedy <= 1 and 0 <= p_first <= 1
    assert rows[2][0] != rows[0][0], "two updates left the move probabilities unchanged"


def test_kuhn_benchmark_runs_its_preset_and_writes_the_exploitability(model_cache_env, tmp_path):
    """`learning.py kuhn` as preset (self-play, epochs, trust region): the trainer's exact
    exploitability of the last iterate and of the meta-strategy at step 0 and the last, between
    Kuhn's Nash 0 and the worst a policy can do."""
    import json

    rows = learning_curve(tmp_path, "kuhn", "--iterations", "2", "--games-per-iteration", "4")
    assert [int(float(r["step"])) for r in rows] == [0, 2]
    for r in rows:
        assert all(0 < float(r[f"eval_exploitability_{k}"]) < 3 for k in ("last", "meta"))
    (metrics,) = tmp_path.glob("bench_kuhn*/metrics.jsonl")
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert any(k.startswith("losses/trust_alpha/") for m in lines for k in m)  # the region ran


def test_signal_benchmark_measures_the_pair(model_cache_env, tmp_path):
    """`learning.py signal` reads the trainer's evaluation of the pair (games without
    training), at step 0 and the last step: each point's success rate and 95% interval."""
    rows = learning_curve(
        tmp_path, "signal", "--iterations", "2", "--games-per-iteration", "4",
        "--eval-games", "6", "--final-eval-games", "6",
    )  # fmt: skip
    assert [int(float(r["step"])) for r in rows] == [0, 2]  # step 0 and the last (2 < 5)
    for r in rows:
        figures = ("success_rate_low_pair", "success_rate_pair", "success_rate_high_pair")
        low, rate, high = (float(r[f"eval_{k}"]) for k in figures)
        assert low - 1e-9 <= rate <= high + 1e-9 and 0 <= low < high <= 1  # Wilson: float ends
    # The preset trains beside partner bots: one seat of every training game is the bot's.
    (matches,) = tmp_path.glob("bench_signal*/matches.csv")
    with open(matches, newline="") as f:
        seats = [(r["episode"], r["player"], r["learning"]) for r in csv.DictReader(f)]
    bots = [s for s in seats if s[1] == "bot:strong"]
    assert len(bots) == 2 * 4 and all(s[2] == "0" for s in bots)  # 2 iterations of 4 games
    assert len({s[0] for s in bots}) == len(bots)  # one a game


def test_signal_with_expected_replies_scores_the_replies_in_the_trainer(model_cache_env, tmp_path):
    """`--expected-replies`: the trainer's learner scores the copies' replies after each
    rollout (its time is logged), and the run learns on as before."""
    import json

    rows = learning_curve(
        tmp_path, "signal", "--iterations", "2", "--games-per-iteration", "4",
        "--eval-games", "4", "--final-eval-games", "4", "--expected-replies",
        "--partners",  # self-play: replies to score
    )  # fmt: skip
    assert [int(float(r["step"])) for r in rows] == [0, 2]
    (metrics,) = tmp_path.glob("bench_signal*/metrics.jsonl")
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    lines = [m for m in lines if m["step"] > 0]  # the iterations (step 0: the evaluation)
    assert len(lines) == 2 and all(m["time/expected_replies"] > 0 for m in lines)
    assert all(m["losses/q_target_samples/main-player0"] > 0 for m in lines)


def test_team_battle_benchmark_probes_the_captain(model_cache_env, tmp_path):
    """`learning.py team_battle` writes, at step 0 and at each evaluation, the win rates and
    the captain probe read from the learner: p_right, p_copy and greedy accuracy inside its
    interval; one update moves the probed probabilities."""
    rows = learning_curve(
        tmp_path, "team_battle", "--iterations", "1", "--eval-every", "1", "--eval-games", "2",
        "--final-eval-games", "2", "--games-per-iteration", "2", "--lr", "1e-2",
    )  # fmt: skip
    assert [int(float(r["step"])) for r in rows] == [0, 1]
    for r in rows:
        p_right, p_copy = float(r["captain_p_right"]), float(r["captain_p_copy"])
        greedy = ("captain_greedy_low", "captain_greedy", "captain_greedy_high")
        low, rate, high = (float(r[k]) for k in greedy)
        assert 0 < p_right < 1 and 0 < p_copy < 1
        assert low - 1e-9 <= rate <= high + 1e-9
        assert "eval_win_rate_vs_bot:random" in r
    assert rows[1]["captain_p_right"] != rows[0]["captain_p_right"], "the update moved nothing"


def test_iteration_benchmark_times_both_paths_quietly(model_cache_env, tmp_path):
    """`iteration.py` times the old and the new learner path phase by phase and prints their
    ratio; the engine's INFO lines go to the run's train.log, not to the terminal."""
    import json

    out = tmp_path / "iteration.json"
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "iteration.py"), "--configs", "team_battle",
        "--model", "tiny", "--iterations", "1", "--runs-dir", str(tmp_path), "--json", str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = json.loads(out.read_text())
    assert set(result["paths"]) == {"old", "new"}
    for phases in result["paths"].values():
        assert phases["total"] > 0 and phases["learner"] > 0 and phases["generate"] > 0
        assert phases["body_positions_per_s"] > 0  # the learner's floor is measured, not assumed
    assert result["matmul_gflops"] > 0 and "of this CPU's bf16 matmul rate" in proc.stdout
    assert result["ratio"] == pytest.approx(
        result["paths"]["old"]["total"] / result["paths"]["new"]["total"]
    )
    assert "team_battle: old" in proc.stdout and "x\n" in proc.stdout
    assert " INFO " not in proc.stdout + proc.stderr
    (log,) = tmp_path.glob("*/train.log")
    assert " INFO " in log.read_text()
