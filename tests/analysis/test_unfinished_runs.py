"""Folders that are not runs, and runs that stopped early: one line, or what exists drawn.

A run folder is known by its marker (`layout.RUN_MARKER`), written before the engine starts: a
run killed then holds little else, and is still a run. A folder without the marker (and without
the files an older run wrote) is not one: the report and the notebook say so in one line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.analysis import NotARunDirectoryError, latest_run, load_run
from experiments.report import FIGURE_FILES
from tests.analysis.images import assert_valid_png
from tests.analysis.test_notebook import FIGURES, execute_notebook
from trainers.run import layout as rf

REPO = Path(__file__).resolve().parents[2]


def killed_at_engine_start(path: Path) -> Path:
    """What a trainer killed while its engine started leaves: the marker, the lock, a log."""
    path.mkdir(parents=True)
    identity = {"experiment": "team_battle", "env_id": "rps_v0", "mode": "team_battle"}
    (path / rf.RUN_MARKER).write_text(json.dumps({"format": 1, "identity": identity}))
    (path / ".lock").write_text("")
    (path / rf.LOG).write_text("INFO agents.serving: starting the engine\n")
    return path


def report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiments.report", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


# ---- load_run


def test_a_run_killed_during_engine_start_loads_empty(tmp_path: Path):
    run = load_run(killed_at_engine_start(tmp_path / "run"))
    assert run.scalars.empty and run.matches.empty and run.texts.empty and run.metrics.empty
    assert run.config == {} and run.league == {} and run.report == {}
    assert run.identity["env_id"] == "rps_v0"
    assert set(run.missing) >= {rf.CONFIG, rf.MATCHES, rf.LEAGUE}
    assert list(run.matches.columns) == list(rf.MATCH_COLUMNS)


def test_a_run_with_an_unreadable_marker_is_still_a_run(tmp_path: Path):
    path = tmp_path / "run"
    path.mkdir()
    (path / rf.RUN_MARKER).write_text("{")  # cut short by a kill
    assert load_run(path).identity == {}


def test_no_runs_folder_is_not_a_run_directory(tmp_path: Path):
    with pytest.raises(NotARunDirectoryError, match="LORA_LEAGUE_RUN_DIR"):
        latest_run(tmp_path / "runs")


def test_latest_run_finds_a_run_that_only_has_its_marker(tmp_path: Path):
    killed_at_engine_start(tmp_path / "runs" / "a__1__20260101-000000")
    assert latest_run(tmp_path / "runs").name == "a__1__20260101-000000"


def test_the_error_shows_as_one_line_in_ipython(tmp_path: Path):
    with pytest.raises(NotARunDirectoryError) as err:
        load_run(tmp_path)
    assert err.value._render_traceback_() == [f"NotARunDirectoryError: {err.value}"]
    assert "\n" not in str(err.value)


# ---- python -m experiments.report


@pytest.mark.parametrize("folder", ["empty", "nowhere"])
def test_report_says_one_line_for_a_folder_that_is_not_a_run(tmp_path: Path, folder: str):
    path = tmp_path / folder
    if folder == "empty":
        path.mkdir()
    done = report(str(path))
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert str(path) in done.stderr and "Traceback" not in done.stderr


def test_report_draws_a_run_killed_during_engine_start(tmp_path: Path):
    path = killed_at_engine_start(tmp_path / "run")
    done = report(str(path), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "not a LoRA League run" not in done.stderr
    assert rf.MATCHES in done.stderr and rf.CONFIG in done.stderr  # says what is missing
    for name in FIGURE_FILES:
        assert_valid_png(tmp_path / "out" / name)


# ---- the notebook


def _one_line_error(nb, needle: str) -> None:
    """The notebook stopped at its first cell with one short error naming `needle`."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for o in code[0].outputs if o.output_type == "error"]
    assert len(errors) == 1
    lines = "\n".join(errors[0]["traceback"]).splitlines()
    assert len(lines) <= 3, lines
    assert needle in lines[0] and "Traceback" not in "\n".join(lines)
    assert all(c.execution_count is None for c in code[1:])  # nothing ran after it


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["empty", "nowhere"])
def test_notebook_says_one_line_for_a_folder_that_is_not_a_run(
    tmp_path: Path, monkeypatch, folder: str
):
    path = tmp_path / folder
    if folder == "empty":
        path.mkdir()
    nb, error = execute_notebook(path, monkeypatch)
    assert error is not None  # nbconvert --execute exits non-zero
    _one_line_error(nb, str(path))


@pytest.mark.slow
def test_notebook_says_one_line_without_any_runs_folder(tmp_path: Path, monkeypatch):
    nb, error = execute_notebook(None, monkeypatch, cwd=tmp_path)
    assert error is not None
    _one_line_error(nb, str(tmp_path / "runs"))


@pytest.mark.slow
def test_notebook_draws_a_run_killed_during_engine_start(tmp_path: Path, monkeypatch):
    path = killed_at_engine_start(tmp_path / "run")
    nb, error = execute_notebook(path, monkeypatch)
    assert error is None, error
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert rf.MATCHES in printed  # says what the run has not written
    for name in FIGURES:
        assert_valid_png(path / rf.FIGURES / f"notebook_{name}.png")
