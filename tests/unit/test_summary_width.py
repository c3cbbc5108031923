"""The run's closing summary fits an 80-column terminal, however many phases it splits."""

from __future__ import annotations

from trainers.run.scalars import format_summary
from trainers.run.timing import TOTAL


def test_the_phase_split_wraps_at_80_columns():
    phases = ["learner", "generate", "eval", "kl_ref", "optimizer", "rollout", "move_values"]
    split = {name: 40.0 - i for i, name in enumerate(phases)} | {TOTAL: 103.6}
    report = {
        "players": {"main": dict(kind="learner", elo=1000.0, openskill=20.0,
                                 win_rate_vs_league=0.5, games=10)},
        "performance": dict(rollout_tokens_per_s=23.0, wall_seconds=1580.0,
                            seconds_per_iteration=split),
        "episodes": 592, "weight_updates": 16, "run_dir": "runs/x",
    }  # fmt: skip
    lines = format_summary(report).splitlines()
    assert all(len(line) <= 80 for line in lines)
    split_text = " ".join(line.strip() for line in lines if "seconds per" in line or
                          line.startswith("  "))  # fmt: skip
    assert all(f"{name} " in split_text for name in phases)  # nothing dropped by the wrap


def test_a_run_without_contests_prints_no_league_table():
    """A cooperative or mixed run's family plays no rated games: no row of dashes and NaN."""
    report = {
        "players": {"main": dict(kind="learner", elo=None, openskill=None,
                                 win_rate_vs_league=float("nan"), games=0)},
        "performance": dict(rollout_tokens_per_s=23.0, wall_seconds=1580.0),
        "episodes": 592, "weight_updates": 16, "run_dir": "runs/x",
    }  # fmt: skip
    text = format_summary(report)
    assert "player" not in text and "nan" not in text and text.startswith("rollout 23 tok/s")
