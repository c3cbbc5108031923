"""The experiment CLI's last words: a full disk is one plain line and exit 2, and the closing
hint points TensorBoard at the folder the run is in."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from safetensors import SafetensorError

from experiments import cli
from trainers.config import TrainerConfig
from trainers.run import layout as rf
from trainers.run.checkpoint import CheckpointManager
from trainers.run.guard import RunDirError, is_disk_full
from trainers.run.io import TEMP_PREFIX

#: What safetensors' writer raises when the disk fills under it.
FULL = "Error while serializing: I/O error: No space left on device (os error 28)"


def disk_full(*args, **kwargs):
    raise SafetensorError(FULL)


@pytest.fixture
def cfg(monkeypatch) -> Iterator[TrainerConfig]:
    """The config `cli.run` is given; the process-wide settings it changes are put back."""
    monkeypatch.setattr(cli.signal, "signal", lambda *args: None)  # leave pytest's SIGTERM be
    root = logging.getLogger()
    level = root.level
    yield TrainerConfig.build(model="tiny")
    root.setLevel(level)


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_a_full_disk_while_saving_a_checkpoint_names_the_disk(tmp_path, monkeypatch):
    import safetensors.torch

    monkeypatch.setattr(safetensors.torch, "save_file", disk_full)
    manager = CheckpointManager(tmp_path)
    with pytest.raises(RunDirError, match="step_3: the disk is full") as err:
        manager.save(3)  # the RNG states go through safetensors
    assert isinstance(err.value.__cause__, SafetensorError)
    assert f"--resume {tmp_path}" in str(err.value)
    assert manager.steps() == []
    assert not list((tmp_path / rf.CHECKPOINTS).glob(f"{TEMP_PREFIX}*"))  # nothing left behind


def test_a_full_disk_during_a_run_is_one_error_line_and_exit_2(tmp_path, monkeypatch, cfg, capsys):
    import safetensors.torch

    monkeypatch.setattr(safetensors.torch, "save_file", disk_full)

    def train(cfg, console):  # a run that reaches its first checkpoint on a full disk
        CheckpointManager(tmp_path).save(1)

    monkeypatch.setattr(cli, "_train", train)
    with pytest.raises(SystemExit) as done:
        cli.run(cfg)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = error_lines(err)
    assert "the disk is full" in line and "SafetensorError" not in line, line


def test_a_full_disk_met_by_a_library_is_named_as_one(monkeypatch, cfg, capsys):
    def train(cfg, console):  # e.g. peft saving the adapters with safetensors
        raise SafetensorError(FULL)

    monkeypatch.setattr(cli, "_train", train)
    with pytest.raises(SystemExit) as done:
        cli.run(cfg)
    assert done.value.code == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith("error: the disk is full (SafetensorError: "), line


def test_disk_full_is_recognised_through_the_chain():
    assert is_disk_full(OSError(28, "No space left on device"))
    try:
        try:
            raise SafetensorError(FULL)
        except SafetensorError as e:
            raise RuntimeError("saving the adapters failed") from e
    except RuntimeError as wrapped:
        assert is_disk_full(wrapped)
    assert not is_disk_full(OSError(2, "No such file or directory"))
    assert not is_disk_full(ValueError("bad value 28"))


class Console:
    log_path = None

    def __init__(self) -> None:
        self.lines: list[str] = []

    def print(self, text: str = "") -> None:
        self.lines.append(text)


def test_the_closing_hint_points_tensorboard_at_the_runs_own_folder(tmp_path, monkeypatch):
    from trainers import selfplay

    run_dir = tmp_path / "elsewhere" / "competitive__0__20260101-000000"

    class Trainer:  # what `_train` asks of the trainer, for a run resumed by its path
        def __init__(self, cfg, console) -> None:
            pass

        def setup(self) -> Path:
            return run_dir

        def run(self) -> Path:
            return run_dir

        def report(self) -> dict:
            return {}

        def close(self) -> None:
            pass

    monkeypatch.setattr(selfplay, "SelfPlayTrainer", Trainer)
    monkeypatch.setattr(selfplay, "format_summary", lambda report: "SUMMARY")
    console = Console()
    cfg = TrainerConfig.build(model="tiny", resume=str(run_dir))  # runs_dir left at its default
    assert cli._train(cfg, console) == run_dir
    assert f"watch: tensorboard --logdir {run_dir.parent}" in console.lines, console.lines


@pytest.mark.parametrize(("failure", "code"), [(SafetensorError(FULL), 2), (KeyError("bug"), 1)])
def test_the_log_keeps_the_error_line_and_a_traceback_only_for_a_bug(
    tmp_path, monkeypatch, cfg, capsys, failure, code
):
    def train(cfg, console):
        console.attach(tmp_path)  # the run folder exists: its log file takes the failure
        raise failure

    monkeypatch.setattr(cli, "_train", train)
    with pytest.raises(SystemExit) as done:
        cli.run(cfg)
    assert done.value.code == code
    log = (tmp_path / rf.LOG).read_text()
    (line,) = error_lines(capsys.readouterr().err)
    assert line.split(" (traceback in")[0] in log
    assert ("Traceback" in log) == (code == 1), log
