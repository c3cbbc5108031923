"""`python -m experiments.report` in a subprocess: valid, non-blank PNGs, help, clear errors."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

from experiments.report import FIGURE_FILES
from tests.analysis.images import assert_valid_png
from trainers.run import layout as rf

REPO = Path(__file__).resolve().parents[2]


def report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiments.report", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_report_writes_every_figure(run_dir: Path, tmp_path: Path):
    out = tmp_path / "figures"
    done = report(str(run_dir), "--out", str(out))
    assert done.returncode == 0, done.stderr
    for name in FIGURE_FILES:
        assert str(out / name) in done.stdout  # the list of files written
        assert_valid_png(out / name)


def test_report_default_out_is_inside_the_run(synthetic_run, tmp_path: Path):
    target = tmp_path / synthetic_run.path.name
    run_dir = shutil.copytree(synthetic_run.path, target, ignore=shutil.ignore_patterns(rf.FIGURES))
    done = report(str(run_dir))
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in (run_dir / rf.FIGURES).glob("*.png"))
    assert written == sorted(FIGURE_FILES)


def test_report_draws_no_data_panels_for_an_empty_run(tmp_path: Path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(tmp_path))
    writer.add_scalar(rf.TAG_CPU, 12.0, 0)
    writer.close()
    (tmp_path / rf.CONFIG).write_text("{}")
    with open(tmp_path / rf.MATCHES, "w", newline="") as f:
        csv.writer(f).writerow(rf.MATCH_COLUMNS)
    done = report(str(tmp_path), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    for name in FIGURE_FILES:
        assert_valid_png(tmp_path / "out" / name)


def test_report_help_explains_usage():
    done = report("--help")
    assert done.returncode == 0
    assert "--out" in done.stdout and "RUN_DIR" in done.stdout and "PNG" in done.stdout


def test_report_names_missing_files_of_a_wrong_folder(tmp_path: Path):
    done = report(str(tmp_path))
    assert done.returncode == 2
    assert rf.MATCHES in done.stderr and rf.CONFIG in done.stderr
    assert "Traceback" not in done.stderr
