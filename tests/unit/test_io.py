"""Atomic writes, temp cleanup, safetensors round trips and append-only logs with resume."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from trainers.run.io import (
    TEMP_PREFIX,
    AppendLog,
    atomic_directory,
    atomic_open,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    load_tensors,
    read_tensor_metadata,
    remove_directory,
    remove_stale_temps,
    save_tensors,
    to_jsonable,
)


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(f"{TEMP_PREFIX}*"))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ---- whole files


def test_atomic_writes_round_trip(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "héllo\nworld\n")
    atomic_write_bytes(tmp_path / "sub" / "b.bin", b"\x00\x01")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo\nworld\n"
    assert (tmp_path / "sub" / "b.bin").read_bytes() == b"\x00\x01"
    atomic_write_text(tmp_path / "a.txt", "new")
    assert (tmp_path / "a.txt").read_text() == "new"
    assert temps(tmp_path) == []


@dataclass
class Point:
    x: float
    y: float


def test_json_sorted_keys_and_no_nan(tmp_path):
    obj = {
        "b": float("nan"),
        "a": [1.5, float("inf"), -float("inf")],
        "np": np.float32(0.5),
        "arr": np.arange(3),
        "t": torch.tensor([1.0, float("nan")]),
        "point": Point(1.0, math.nan),
        3: {"z", "y"},
        "path": Path("x") / "y",
    }
    text = atomic_write_json(tmp_path / "x.json", obj).read_text()
    data = json.loads(text)  # strict JSON: no bare NaN
    assert "NaN" not in text and "Infinity" not in text
    assert list(data) == sorted(data)
    assert data["b"] is None and data["a"] == [1.5, None, None]
    assert data["np"] == 0.5 and data["arr"] == [0, 1, 2] and data["t"] == [1.0, None]
    assert data["point"] == {"x": 1.0, "y": None}
    assert data["3"] == ["y", "z"] and data["path"] == os.path.join("x", "y")
    with pytest.raises(TypeError):
        to_jsonable(object())


def test_exception_mid_write_keeps_old_file(tmp_path):
    target = tmp_path / "report.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_open(target) as f:
        f.write('{"v": 2, "half')
        raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"v": 1}
    with pytest.raises(TypeError):  # unserialisable object: fails before touching the file
        atomic_write_json(target, {"v": object()})
    assert json.loads(target.read_text()) == {"v": 1}
    assert temps(tmp_path) == []


def test_failed_fsync_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert temps(tmp_path) == []


def test_remove_stale_temps(tmp_path):
    gone = dead_pid()
    alive = os.getppid()
    stale_file = tmp_path / f"{TEMP_PREFIX}metrics.jsonl-{gone}.ab12cd34"
    stale_dir = tmp_path / f"{TEMP_PREFIX}step_10-{gone}"
    own_dir = tmp_path / f"{TEMP_PREFIX}step_7-{os.getpid()}"  # a restart that reused our pid
    live_file = tmp_path / f"{TEMP_PREFIX}league.json-{alive}.ffff0000"
    keep = tmp_path / "league.json"
    stale_file.write_text("{")
    (stale_dir / "adapters").mkdir(parents=True)
    own_dir.mkdir()
    live_file.write_text("{")
    keep.write_text("{}")
    removed = remove_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == sorted(
        [stale_file.name, stale_dir.name, own_dir.name]
    )
    assert live_file.exists() and keep.exists()
    assert remove_stale_temps(tmp_path / "missing") == []


# ---- tensors


def test_tensors_round_trip(tmp_path):
    tensors = {
        "w": torch.randn(4, 3),
        "bf": torch.randn(5).to(torch.bfloat16),
        "rng": torch.get_rng_state(),
        "i": torch.arange(6).view(2, 3).t(),  # not contiguous
    }
    path = save_tensors(tmp_path / "opt" / "red.safetensors", tensors, metadata={"step": "3"})
    loaded = load_tensors(path)
    assert set(loaded) == set(tensors)
    for name, tensor in tensors.items():
        assert loaded[name].dtype == tensor.dtype
        assert torch.equal(loaded[name], tensor)
    assert read_tensor_metadata(path) == {"step": "3"}
    with pytest.raises(TypeError):
        save_tensors(tmp_path / "bad.safetensors", {"x": np.zeros(2)})
    assert temps(tmp_path) == []


# ---- folders


def test_atomic_directory(tmp_path):
    final = tmp_path / "ckpt" / "step_1"
    with atomic_directory(final) as folder:
        assert folder.name.startswith(TEMP_PREFIX) and folder.parent == final.parent
        (folder / "a.txt").write_text("1")
        (folder / "sub").mkdir()
        (folder / "sub" / "b.txt").write_text("2")
        assert not final.exists()
    assert (final / "sub" / "b.txt").read_text() == "2"
    with pytest.raises(FileExistsError), atomic_directory(final):
        pass
    with atomic_directory(final, overwrite=True) as folder:
        (folder / "c.txt").write_text("3")
    assert sorted(p.name for p in final.iterdir()) == ["c.txt"]
    assert temps(tmp_path) == []


def test_atomic_directory_crash_leaves_nothing(tmp_path):
    fresh = tmp_path / "step_2"
    with pytest.raises(RuntimeError), atomic_directory(fresh) as folder:
        (folder / "half.bin").write_bytes(b"x")
        raise RuntimeError("crash")
    assert not fresh.exists()
    existing = tmp_path / "step_3"
    with atomic_directory(existing) as folder:
        (folder / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_directory(existing, overwrite=True) as folder:
        (folder / "new.txt").write_text("new")
        raise RuntimeError("crash")
    assert [p.name for p in existing.iterdir()] == ["old.txt"]
    assert temps(tmp_path) == []


def test_remove_directory(tmp_path):
    folder = tmp_path / "step_4"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "x").write_text("x")
    remove_directory(folder)
    remove_directory(folder)  # already gone: fine
    assert list(tmp_path.iterdir()) == []


# ---- append-only logs


def test_jsonl_round_trip_with_pandas(tmp_path):
    path = tmp_path / "metrics.jsonl"
    with AppendLog(path) as log:
        log.append({"step": 0, "charts/x": 1.0})
        log.append_many([{"step": 1, "charts/x": float("nan")}, {"step": 2, "losses/y": 0.5}])
        with pytest.raises(ValueError, match="step"):
            log.append({"charts/x": 1.0})
    frame = pd.read_json(path, lines=True)
    assert frame["step"].tolist() == [0, 1, 2]
    assert frame["charts/x"].iloc[0] == 1.0 and frame["charts/x"].iloc[1:].isna().all()
    assert frame["losses/y"].iloc[2] == 0.5


COLUMNS = ("step", "player", "won", "note")


def test_csv_round_trip_with_pandas(tmp_path):
    path = tmp_path / "matches.csv"
    with AppendLog(path, columns=COLUMNS) as log:
        log.append({"step": 1, "player": "red@v3", "won": True, "note": 'a, "b"\nc'})
        log.append({"step": 2, "player": "bot:strong", "won": float("nan")})
        with pytest.raises(ValueError, match="no columns"):
            log.append({"step": 3, "plyer": "typo"})
    frame = pd.read_csv(path)
    assert tuple(frame.columns) == COLUMNS
    assert frame["player"].tolist() == ["red@v3", "bot:strong"]
    assert frame["won"].iloc[0] == 1 and math.isnan(frame["won"].iloc[1])
    assert frame["note"].iloc[0] == 'a, "b" c' and path.read_text().count("\n") == 3
    with AppendLog(path, columns=COLUMNS) as log:  # reopening appends under the same header
        log.append({"step": 3})
    assert pd.read_csv(path)["step"].tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="columns"):
        AppendLog(path, columns=("step", "other"))


def test_torn_last_line_is_dropped_on_open(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "x": 1}\n{"step": 2, "x"')
    with AppendLog(path) as log:
        log.append({"step": 2, "x": 2})
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2]
    csv_path = tmp_path / "matches.csv"
    csv_path.write_text("step,pla")  # killed while writing the header
    with AppendLog(csv_path, columns=("step", "player")) as log:
        log.append({"step": 1, "player": "red"})
    assert pd.read_csv(csv_path)["player"].tolist() == ["red"]


@pytest.mark.parametrize("columns", [None, COLUMNS])
def test_truncate_after_drops_later_rows_and_torn_line(tmp_path, columns):
    path = tmp_path / ("matches.csv" if columns else "metrics.jsonl")
    log = AppendLog(path, columns=columns)
    log.append_many({"step": s, "player": f"p{s}"} for s in [1, 2, 2, 3, 4, 5])
    log.close()
    with open(path, "a") as f:
        f.write('5,"torn' if columns else '{"step": 5, "pla')
    log = AppendLog(path, columns=columns)  # repairs the tail
    with open(path, "a") as f:  # a torn line appended behind its back
        f.write('6,"torn' if columns else '{"step": 6, "pla')
    assert log.truncate_after(3) == 3  # 4, 5 and the torn line
    log.append({"step": 4, "player": "again"})
    log.close()
    frame = pd.read_csv(path) if columns else pd.read_json(path, lines=True)
    assert frame["step"].tolist() == [1, 2, 2, 3, 4]
    assert frame["player"].iloc[-1] == "again"
    assert temps(tmp_path) == []
    log = AppendLog(path, columns=columns)
    assert log.truncate_after(-1) == 5 and not log.has_rows()
    log.close()


def test_fsync_every(tmp_path, monkeypatch):
    calls = []
    real = os.fsync
    log = AppendLog(tmp_path / "m.jsonl", fsync_every=3)
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    for step in range(7):
        log.append({"step": step})
    assert len(calls) == 2
    log.close()
    assert len(calls) == 3
