"""The trainer's TensorBoard per-player scalars agree with its own matches.csv.

Both are written from the same training episodes, so the report's trend lines (TensorBoard) and
its bars and radar (matches.csv) must tell the same story. Evaluation games (no seat learning)
are in matches.csv only, so they are left out here.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from experiments.analysis import load_run, player_summary, trend
from trainers.run import layout as rf

CHECKS = {
    rf.TAG_RETURN: "mean_return",
    rf.TAG_WIN_RATE: "win_rate",
    rf.TAG_INVALID_RATE: "invalid_move_rate",
}


@pytest.mark.parametrize("tag", list(CHECKS))
def test_per_player_scalars_match_matches_csv(run_dir: Path, tag: str):
    run = load_run(run_dir)
    matches = run.matches
    training = matches[matches.groupby("episode")["learning"].transform("max") > 0]
    expected = player_summary(training, by=("step", "player"))[CHECKS[tag]].dropna()
    wide = trend(run.scalars, tag)
    wide.columns.name = "player"
    logged = wide.stack().dropna()
    common = logged.index.intersection(expected.index)
    if common.empty:
        pytest.skip(f"{tag}: no (step, player) with a value in both files")
    wrong = {
        key: (float(logged[key]), float(expected[key]))
        for key in common
        if not math.isclose(logged[key], expected[key], rel_tol=1e-5, abs_tol=1e-5)
    }
    assert not wrong, f"{tag} (TensorBoard, matches.csv) differ at (step, player): {wrong}"
