"""Smoke runs of the real trainer on games of other collections: a TextArena two-player game, a
TextArena three-player game and an OpenSpiel game with chance nodes (tiny model, tiny budget)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

pytest.importorskip("pyspiel")
pytest.importorskip("textarena")

from tests.smoke.test_experiments import run_experiment, the_run
from trainers.run import layout as rf

pytestmark = [pytest.mark.engine, pytest.mark.slow]

# TextArena games repeat their board in every message: the chats need a longer context.
FOREIGN = {
    "openspiel/leduc_poker": "1024",
    "textarena/TicTacToe-v0": "2048",
    "textarena/ThreePlayerTicTacToe-v0": "2048",
}


@pytest.mark.parametrize("env_id", sorted(FOREIGN))
def test_trainer_runs_on_a_foreign_game(env_id, tmp_path, model_cache_env):
    proc = run_experiment(
        "competitive", tmp_path, "--env-id", env_id, "--bots", "random",
        "--max-model-len", FOREIGN[env_id],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    run = the_run(tmp_path)
    assert f'"{env_id}"' in (run / rf.CONFIG).read_text()
    report = json.loads((run / rf.RUN_REPORT).read_text())
    assert report["iterations"] == 2 and report["episodes"] >= 8
    matches = pd.read_csv(run / rf.MATCHES)
    assert set(matches["step"]) == {0, 1, 2}  # 0: the untrained adapter's evaluation
    checkpoint = run / rf.CHECKPOINTS / "step_2"
    assert (checkpoint / rf.COMPLETE).exists()
