"""Checkpoints: complete or absent, keep-last-K, RNG round trip, and a real SIGKILL mid-run."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from tensorboard.backend.event_processing import event_accumulator

from trainers.run import layout as rf
from trainers.run.checkpoint import (
    CheckpointManager,
    capture_rng,
    load_json,
    manifest,
    restore_rng,
    verify,
)
from trainers.run.io import TEMP_PREFIX, atomic_write_json, load_tensors, save_tensors
from trainers.run.monitoring import RunMonitor

ROOT = Path(__file__).resolve().parents[2]


def payload(step: int):
    def write(folder: Path) -> None:
        save_tensors(folder / rf.OPTIMIZER / "red.safetensors", {"m": torch.full((3,), step)})
        (folder / rf.ADAPTERS / "red").mkdir(parents=True)
        (folder / rf.ADAPTERS / "red" / "adapter_config.json").write_text("{}")

    return write


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(f"{TEMP_PREFIX}*"))


def test_save_writes_the_layout(tmp_path):
    manager = CheckpointManager(tmp_path)
    assert manager.latest() is None
    folder = manager.save(
        4, payload(4), json_files={rf.TRAINER_STATE: {"step": 4}, rf.CONFIG: {"lr": 0.1}}
    )
    assert folder == tmp_path / rf.CHECKPOINTS / "step_4" == manager.latest()
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert names == {
        "optimizer/red.safetensors",
        "adapters/red/adapter_config.json",
        rf.TRAINER_STATE,
        rf.CONFIG,
        rf.RNG,
        rf.RNG_TORCH,
        rf.COMPLETE,
    }
    assert load_json(folder, rf.TRAINER_STATE) == {"step": 4}
    assert manager.load_json(folder, rf.COMPLETE)["step"] == 4
    assert CheckpointManager.step_of(folder) == 4
    assert torch.equal(load_tensors(folder / "optimizer/red.safetensors")["m"], torch.full((3,), 4))
    assert temps(tmp_path) == []


def test_keep_last_k(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=2)
    for step in (1, 2, 3, 10, 12):
        manager.save(step, payload(step))
    assert manager.steps() == [10, 12]
    assert sorted(p.name for p in manager.root.iterdir()) == ["step_10", "step_12"]
    keep_all = CheckpointManager(tmp_path, keep_last=None)
    keep_all.save(13)
    keep_all.save(14)
    assert keep_all.steps() == [10, 12, 13, 14]
    with pytest.raises(ValueError):
        CheckpointManager(tmp_path, keep_last=0)


def test_latest_skips_incomplete_and_temp(tmp_path):
    manager = CheckpointManager(tmp_path)
    manager.save(5, payload(5))
    incomplete = manager.path(9)
    incomplete.mkdir()
    (incomplete / rf.TRAINER_STATE).write_text('{"step": 9}')
    (manager.root / f"{TEMP_PREFIX}step_11-{os.getpid()}").mkdir()
    (manager.root / "notes").mkdir()
    assert manager.latest() == manager.path(5)
    assert manager.steps() == [5]
    CheckpointManager(tmp_path)  # a restart clears the temp folder
    assert temps(tmp_path) == []


def test_failed_save_keeps_previous(tmp_path):
    manager = CheckpointManager(tmp_path)
    manager.save(1, payload(1))

    def crash(folder: Path) -> None:
        payload(2)(folder)
        raise RuntimeError("out of disk")

    with pytest.raises(RuntimeError):
        manager.save(2, crash)
    assert manager.latest() == manager.path(1)
    assert not manager.path(2).exists()
    assert temps(tmp_path) == []


def test_overwrite_and_discard_after(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=None)
    for step in (1, 2, 3):
        manager.save(step, payload(step))
    manager.save(2, payload(20))  # resumed from 1, reached 2 again
    m = load_tensors(manager.path(2) / "optimizer/red.safetensors")["m"]
    assert torch.equal(m, torch.full((3,), 20))
    assert manager.discard_after(2) == [3]
    assert manager.latest() == manager.path(2)


def draws(generator: np.random.Generator) -> tuple:
    return (
        [random.random() for _ in range(3)],
        random.gauss(0, 1),
        np.random.rand(3).tolist(),
        np.random.randn(),
        generator.integers(0, 1 << 30, 4).tolist(),
        torch.rand(3).tolist(),
        torch.randint(0, 1000, (4,)).tolist(),
    )


def test_rng_capture_restore_reproduces_draws(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    gen = np.random.default_rng(4)
    other = np.random.Generator(np.random.MT19937(5))
    random.gauss(0, 1)  # leaves a cached gaussian in python's state
    np.random.randn()
    manager = CheckpointManager(tmp_path)
    folder = manager.save(1, generators={"main": gen, "other": other})
    expected = draws(gen), other.random(2).tolist()
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    fresh, fresh_other = np.random.default_rng(99), np.random.Generator(np.random.MT19937(9))
    restore_rng(folder, {"main": fresh, "other": fresh_other})
    assert (draws(fresh), fresh_other.random(2).tolist()) == expected
    state, tensors = capture_rng()
    json.dumps(state, allow_nan=False)  # plain JSON
    assert tensors["cpu"].dtype == torch.uint8
    with pytest.raises(KeyError, match="missing"):
        restore_rng(folder, {"missing": np.random.default_rng()})


def test_single_generator_is_default(tmp_path):
    gen = np.random.default_rng(7)
    folder = CheckpointManager(tmp_path).save(1, generators=gen)
    expected = gen.random(3).tolist()
    fresh = np.random.default_rng(0)
    restore_rng(folder, fresh)
    assert fresh.random(3).tolist() == expected
    assert list(load_json(folder, rf.RNG)["generators"]) == ["default"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_rng_round_trip(tmp_path):
    torch.cuda.manual_seed_all(5)
    torch.rand(1, device="cuda")  # initialises CUDA, so its state is captured
    folder = CheckpointManager(tmp_path).save(1)
    assert "cuda_0" in load_tensors(folder / rf.RNG_TORCH)
    expected = torch.rand(4, device="cuda").tolist()
    torch.cuda.manual_seed_all(99)
    restore_rng(folder)
    assert torch.rand(4, device="cuda").tolist() == expected


# ---- a real kill


CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    import torch
    from trainers.run.checkpoint import CheckpointManager
    from trainers.run.io import atomic_write_json, save_tensors
    from trainers.run.monitoring import RunMonitor

    run_dir = sys.argv[1]
    mon = RunMonitor(run_dir, {"child": True}, flush_secs=1, fsync_every=4, system=False)
    ckpt = CheckpointManager(run_dir, keep_last=2)
    gen = np.random.default_rng(0)
    step = 0
    while True:
        step += 1
        mon.log_scalars(step, {"charts/x": float(step), "losses/y": gen.random()})
        mon.log_matches(
            [{"step": step, "episode": 2 * step + i, "player": f"p{i}", "won": i} for i in (0, 1)]
        )
        mon.write_report({"step": step, "pad": "x" * 20000})
        if step % 3 == 0:
            def write(folder, step=step):
                save_tensors(folder / "optimizer" / "red.safetensors", {"m": torch.randn(512, 512)})
                atomic_write_json(folder / "trainer_state.json", {"step": step})
            ckpt.save(step, write, json_files={"league.json": {"step": step}},
                      generators={"main": gen})
            mon.flush()
            if step == 3:
                print("saved", flush=True)
    """
)


def check_files_parse(run_dir: Path) -> None:
    for path in run_dir.rglob("*"):
        if path.is_dir():
            continue
        if path.suffix == ".json" or path.name == rf.COMPLETE:
            json.loads(path.read_text())
        elif path.suffix == ".safetensors":
            load_tensors(path)
        elif path.suffix == ".jsonl":
            for line in path.read_text().split("\n")[:-1]:  # the last may be torn by the kill
                json.loads(line)
        elif path.suffix == ".csv":
            body = path.read_text().split("\n")[:-1]
            assert body[0] == ",".join(rf.MATCH_COLUMNS)
            assert all(len(row) == len(rf.MATCH_COLUMNS) for row in csv.reader(body))


@pytest.mark.parametrize("seed", [0, 1])
def test_sigkill_leaves_a_resumable_run(tmp_path, seed):
    run_dir = tmp_path / "run"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(run_dir)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout.readline().strip() == "saved", "the child died before its first save"
        time.sleep(random.Random(seed).uniform(0.0, 0.5))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    check_files_parse(run_dir)
    manager = CheckpointManager(run_dir, keep_last=2)
    latest = manager.latest()
    assert latest is not None
    step = manager.step_of(latest)
    assert load_json(latest, rf.TRAINER_STATE) == {"step": step} == load_json(latest, rf.LEAGUE)
    assert load_tensors(latest / "optimizer" / "red.safetensors")["m"].shape == (512, 512)
    restore_rng(latest, {"main": np.random.default_rng()})

    with RunMonitor(run_dir, {"child": True}, resume_step=step, system=False):
        pass
    assert temps(run_dir) == []
    metrics = pd.read_json(run_dir / rf.METRICS, lines=True)
    assert metrics["step"].tolist() == list(range(1, step + 1))  # nothing lost, nothing twice
    matches = pd.read_csv(run_dir / rf.MATCHES)
    assert matches["step"].tolist() == [s for s in range(1, step + 1) for _ in range(2)]
    acc = event_accumulator.EventAccumulator(str(run_dir))
    acc.Reload()
    assert [e.step for e in acc.Scalars("charts/x")] == list(range(1, step + 1))
    atomic_write_json(run_dir / "probe.json", {})  # the folder is still writable


# ---- verification: a corrupt newest checkpoint costs one checkpoint, not the run


def corrupt_truncate(folder: Path) -> None:
    path = folder / rf.OPTIMIZER / "red.safetensors"
    path.write_bytes(path.read_bytes()[:20])


def corrupt_json(folder: Path) -> None:
    (folder / rf.TRAINER_STATE).write_text('{"step": ')


def corrupt_same_size(folder: Path) -> None:  # only the hash can see this one
    path = folder / rf.CONFIG
    text = path.read_text()
    path.write_text(text.replace("0.1", "0.2"))


def drop_file(folder: Path) -> None:
    (folder / rf.ADAPTERS / "red" / "adapter_config.json").unlink()


@pytest.mark.parametrize("corrupt", [corrupt_truncate, corrupt_json, corrupt_same_size, drop_file])
def test_resume_skips_a_corrupt_newest_checkpoint_and_says_why(tmp_path, corrupt, caplog):
    manager = CheckpointManager(tmp_path, keep_last=None)
    for step in (2, 4):
        manager.save(
            step,
            payload(step),
            json_files={rf.TRAINER_STATE: {"step": step}, rf.CONFIG: {"lr": 0.1}},
        )
    assert verify(manager.path(4)) == []
    corrupt(manager.path(4))
    problems = verify(manager.path(4))
    assert problems, corrupt.__name__
    with caplog.at_level("WARNING"):
        chosen, skipped = manager.latest_verified()
    assert chosen == manager.path(2)
    assert list(skipped) == [4] and skipped[4] == problems
    assert "step_4" in caplog.text and "skipped" in caplog.text


def test_a_checkpoint_without_manifest_is_still_checked_by_parsing(tmp_path):
    """Checkpoints written before manifests existed: JSON and safetensors headers still parse."""
    manager = CheckpointManager(tmp_path)
    folder = manager.save(3, payload(3), json_files={rf.TRAINER_STATE: {"step": 3}})
    (folder / rf.COMPLETE).write_text(json.dumps({"step": 3, "saved_at": 0.0}))
    assert verify(folder) == []
    corrupt_truncate(folder)
    assert any("red.safetensors" in p for p in verify(folder))
    assert manager.latest_verified() == (None, {3: verify(folder)})


def test_manifest_lists_every_file_with_size_and_hash(tmp_path):
    folder = CheckpointManager(tmp_path).save(1, payload(1))
    listed = json.loads((folder / rf.COMPLETE).read_text())["files"]
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert set(listed) == on_disk - {rf.COMPLETE}
    assert listed == manifest(folder)
