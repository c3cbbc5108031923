"""load_run: every file of a run read back, event files merged, clear errors for other folders."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest

from experiments.analysis import (
    NotARunDirectoryError,
    RunData,
    find_event_files,
    latest_run,
    load_run,
    load_scalars,
)
from trainers.run import layout as rf


def test_load_run_reads_every_file(run_dir: Path):
    run = load_run(run_dir)
    assert isinstance(run, RunData) and run.path == Path(run_dir)
    assert list(run.scalars.columns) == ["step", "tag", "value", "wall_time"]
    assert not run.scalars.empty
    assert set(rf.MATCH_COLUMNS) <= set(run.matches.columns)
    assert not run.matches.empty and run.players
    for column in ("step", "return", "won", "invalid_moves", "moves"):
        assert pd.api.types.is_numeric_dtype(run.matches[column]), column
    assert run.config and isinstance(run.config, dict)
    assert set(run.league) >= {"league", "ratings", "payoff"}
    assert isinstance(run.report, dict) and run.report
    # one value per (tag, step) after merging
    assert not run.scalars.duplicated(["tag", "step"]).any()
    tags = set(run.scalars["tag"])
    assert any(t.startswith(rf.TAG_RETURN + "/") for t in tags)


def test_scalars_read_back_equal_what_was_written(synthetic_run):
    run = load_run(synthetic_run.path)
    read = {(r.tag, r.step): r.value for r in run.scalars.itertuples()}
    assert read.keys() == synthetic_run.scalars.keys()
    for key, value in synthetic_run.scalars.items():
        assert read[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key  # float32 on disk


def test_matches_and_texts_read_back(synthetic_run):
    run = load_run(synthetic_run.path)
    written = pd.DataFrame(synthetic_run.matches)
    assert len(run.matches) == len(written)
    assert run.matches["player"].tolist() == written["player"].tolist()
    assert run.matches["return"].tolist() == pytest.approx(written["return"].tolist())
    assert run.matches["won"].tolist() == pytest.approx(written["won"].tolist())
    transcripts = run.texts[run.texts["tag"] == rf.TEXT_TRANSCRIPT]
    assert transcripts["step"].tolist() == list(range(5))
    assert "[paper]" in transcripts["text"].iloc[-1]
    assert (run.texts["tag"] == rf.TEXT_CONFIG).any()
    assert run.metrics["step"].tolist() == list(range(5))
    assert run.league == json.loads(json.dumps(synthetic_run.league))


def _write_events(folder: Path, values: dict[int, float], tag: str = "charts/win_rate/red") -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(folder))
    for step, value in values.items():
        writer.add_scalar(tag, value, step)
    writer.close()


def test_resumed_run_merges_event_files_later_file_wins(tmp_path: Path):
    _write_events(tmp_path, {0: 0.1, 1: 0.2, 2: 0.3, 3: 0.4})
    time.sleep(0.05)
    _write_events(tmp_path, {2: 0.7, 3: 0.8, 4: 0.9})  # resumed from step 2
    files = find_event_files(tmp_path)
    assert len(files) == 2
    # the result does not depend on the order the files are handed in
    for order in (files, files[::-1]):
        scalars, _ = load_scalars(order)
        assert scalars["step"].tolist() == [0, 1, 2, 3, 4]
        assert scalars["value"].tolist() == pytest.approx([0.1, 0.2, 0.7, 0.8, 0.9])


def test_resume_with_purge_step_drops_the_old_steps_after_it(tmp_path: Path):
    from torch.utils.tensorboard import SummaryWriter

    _write_events(tmp_path, {step: float(step) for step in range(8)})  # killed after step 7
    time.sleep(0.05)
    writer = SummaryWriter(log_dir=str(tmp_path), purge_step=4)  # resumed from checkpoint 3
    writer.add_scalar("charts/win_rate/red", 40.0, 4)
    writer.close()
    scalars, _ = load_scalars(find_event_files(tmp_path))
    assert scalars["step"].tolist() == [0, 1, 2, 3, 4]  # old 5..7 purged, as TensorBoard does
    assert scalars["value"].tolist() == [0.0, 1.0, 2.0, 3.0, 40.0]


def test_tensor_style_scalars_are_read(tmp_path: Path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(tmp_path))
    writer.add_scalar("losses/kl/red", 0.25, 3, new_style=True)
    writer.add_scalar("losses/kl/red", 0.5, 4, new_style=True)
    writer.close()
    scalars, _ = load_scalars(find_event_files(tmp_path))
    assert scalars["tag"].unique().tolist() == ["losses/kl/red"]
    assert scalars["value"].tolist() == [0.25, 0.5]


def test_not_a_run_directory_says_which_files_are_missing(tmp_path: Path):
    with pytest.raises(NotARunDirectoryError) as err:
        load_run(tmp_path)
    message = str(err.value)
    for name in (rf.CONFIG, rf.MATCHES, "events.out.tfevents"):
        assert name in message
    with pytest.raises(NotARunDirectoryError, match="not a directory"):
        load_run(tmp_path / "nowhere")
    (tmp_path / rf.CONFIG).write_text("{}")
    _write_events(tmp_path, {0: 1.0})
    with pytest.raises(NotARunDirectoryError) as err:
        load_run(tmp_path)
    assert rf.MATCHES in str(err.value) and rf.CONFIG not in str(err.value)
    assert isinstance(err.value, FileNotFoundError)


def test_league_and_report_may_be_missing(tmp_path: Path):
    (tmp_path / rf.CONFIG).write_text('{"seed": 3}')
    (tmp_path / rf.MATCHES).write_text(",".join(rf.MATCH_COLUMNS) + "\n")
    _write_events(tmp_path, {0: 1.0})
    run = load_run(tmp_path)
    assert run.league == {} and run.report == {} and run.config == {"seed": 3}
    assert run.matches.empty and run.players == []
    assert run.metrics.empty and run.texts.empty


def test_matches_ids_stay_strings_and_booleans_become_numbers(tmp_path: Path):
    (tmp_path / rf.CONFIG).write_text("{}")
    _write_events(tmp_path, {0: 1.0})
    header = ",".join(rf.MATCH_COLUMNS)
    row = "0,rps_v0,0,1,competitive,1.0,red_0,None,red,1,1.0,1.0,0,3,1,False"
    (tmp_path / rf.MATCHES).write_text(f"{header}\n{row}\n")
    matches = load_run(tmp_path).matches
    assert matches["player"].tolist() == ["None"]
    assert matches["truncated"].tolist() == [0.0]


def test_latest_run_is_the_newest_run_folder(tmp_path: Path):
    for i, name in enumerate(["a__1__20260101-000000", "b__1__20260102-000000"]):
        folder = tmp_path / name
        folder.mkdir()
        (folder / rf.CONFIG).write_text("{}")
        os.utime(folder, (1_000_000 + i, 1_000_000 + i))
    (tmp_path / "not_a_run").mkdir()
    assert latest_run(tmp_path).name == "b__1__20260102-000000"
    with pytest.raises(FileNotFoundError):
        latest_run(tmp_path / "not_a_run")
