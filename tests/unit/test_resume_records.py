"""A checkpoint and its rows in the logs agree: resume never goes on from a step whose rows a
killed writer lost, and every step ends up in metrics.jsonl and matches.csv exactly once."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pandas as pd
import pytest

from trainers import checkpointing
from trainers.run import layout as rf
from trainers.run import records
from trainers.run.applog import AppendLog, rows_per_step
from trainers.run.checkpoint import CheckpointManager
from trainers.run.guard import RunDirError
from trainers.run.monitoring import RunMonitor

ROWS = 4  # matches.csv rows of each step


def play(metrics: AppendLog, matches: AppendLog, step: int) -> None:
    """What one iteration logs: one metrics line, ROWS match rows."""
    metrics.append({"step": step, "charts/x": float(step)})
    matches.append_many({"step": step, "episode": step * ROWS + i} for i in range(ROWS))


def logs(run: Path) -> tuple[AppendLog, AppendLog]:
    return AppendLog(run / rf.METRICS), AppendLog(run / rf.MATCHES, columns=rf.MATCH_COLUMNS)


def a_run(run: Path, steps: int = 3, keep: int = 3, counts: bool = True) -> CheckpointManager:
    """A run of `steps` iterations with a checkpoint after each, as the trainer saves them."""
    manager = CheckpointManager(run, keep_last=keep)
    metrics, matches = logs(run)
    for step in range(1, steps + 1):
        play(metrics, matches, step)
        state = {"step": step}
        if counts:
            state[records.KEY] = records.row_counts({rf.METRICS: metrics, rf.MATCHES: matches})
        manager.save(step, json_files={rf.TRAINER_STATE: state})
    metrics.close()
    matches.close()
    return manager


def tear(path: Path, nbytes: int) -> None:
    os.truncate(path, path.stat().st_size - nbytes)


def steps_in(run: Path) -> tuple[list[int], dict[int, int]]:
    metrics = [json.loads(line)["step"] for line in (run / rf.METRICS).read_text().splitlines()]
    matches = pd.read_csv(run / rf.MATCHES).groupby("step").size().to_dict()
    return metrics, matches


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_whole_logs_resume_from_the_newest_checkpoint_without_a_word(tmp_path, caplog):
    manager = a_run(tmp_path)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert checkpointing.resume_point(manager, tmp_path) == manager.path(3)
    assert not warnings(caplog)


@pytest.mark.parametrize(("log", "nbytes"), [(rf.METRICS, 7), (rf.MATCHES, 5)])
def test_a_torn_last_line_falls_back_to_the_checkpoint_whose_rows_are_whole(
    tmp_path, caplog, log, nbytes
):
    manager = a_run(tmp_path)
    tear(tmp_path / log, nbytes)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="trainers"):
        chosen = checkpointing.resume_point(manager, tmp_path)
    assert chosen == manager.path(2)
    said = warnings(caplog)
    assert len(said) == 1, said  # one line says which checkpoint, why, and where it goes on
    assert "step_3" in said[0] and log in said[0] and "resuming from step_2" in said[0]

    # The trainer goes on from step 2: logs cut back to it, steps 3..5 played again.
    monitor = RunMonitor(tmp_path, {}, resume_step=2, system=False)
    for step in (3, 4, 5):
        play(monitor.metrics, monitor.matches, step)
    monitor.close()
    metrics, matches = steps_in(tmp_path)
    assert metrics == [1, 2, 3, 4, 5]
    assert matches == {step: ROWS for step in range(1, 6)}


def test_rows_lost_after_the_newest_checkpoint_do_not_matter(tmp_path, caplog):
    manager = a_run(tmp_path)
    metrics, matches = logs(tmp_path)
    play(metrics, matches, 4)  # killed during step 4, before its checkpoint
    metrics.close()
    matches.close()
    tear(tmp_path / rf.MATCHES, 5)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="trainers"):
        assert checkpointing.resume_point(manager, tmp_path) == manager.path(3)
    assert not warnings(caplog)


def test_no_checkpoint_with_whole_rows_is_refused_naming_the_log(tmp_path):
    manager = a_run(tmp_path, keep=1)
    tear(tmp_path / rf.MATCHES, 5)
    with pytest.raises(RunDirError, match=r"step 3: matches.csv holds 11 rows .* 12 when"):
        checkpointing.resume_point(manager, tmp_path)


def test_a_checkpoint_without_counts_is_not_checked(tmp_path):
    manager = a_run(tmp_path, counts=False)
    tear(tmp_path / rf.MATCHES, 5)
    assert checkpointing.resume_point(manager, tmp_path) == manager.path(3)


def test_append_log_counts_its_rows(tmp_path):
    metrics, matches = logs(tmp_path)
    assert (metrics.rows, matches.rows) == (0, 0)
    for step in (1, 2, 3):
        play(metrics, matches, step)
    assert (metrics.rows, matches.rows) == (3, 3 * ROWS)
    metrics.close()
    matches.close()
    tear(tmp_path / rf.MATCHES, 5)
    metrics, matches = logs(tmp_path)  # reopened: the torn row is dropped, the rest counted
    assert (metrics.rows, matches.rows) == (3, 3 * ROWS - 1)
    matches.truncate_after(1)
    assert matches.rows == ROWS
    metrics.close()
    matches.close()


def test_rows_per_step_reads_without_changing_the_file(tmp_path):
    metrics, matches = logs(tmp_path)
    for step in (1, 2, 2):
        play(metrics, matches, step)
    metrics.close()
    matches.close()
    tear(tmp_path / rf.MATCHES, 5)
    before = (tmp_path / rf.MATCHES).read_bytes()
    assert rows_per_step(tmp_path / rf.MATCHES, rf.MATCH_COLUMNS) == {1: ROWS, 2: 2 * ROWS - 1}
    assert rows_per_step(tmp_path / rf.METRICS) == {1: 1, 2: 2}
    assert rows_per_step(tmp_path / "absent.jsonl") == {}
    assert (tmp_path / rf.MATCHES).read_bytes() == before
