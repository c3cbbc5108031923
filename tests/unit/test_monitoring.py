"""Run folders, system scalars, TensorBoard events read back, logs round trip, resume."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from tensorboard.backend.event_processing import event_accumulator

from trainers.league.population import League
from trainers.league.ratings import MatchRecord, elo_ratings
from trainers.run import layout as rf
from trainers.run.monitoring import (
    RunMonitor,
    SystemMonitor,
    hparams_markdown,
    make_run_dir,
    parse_run_name,
)

SYSTEM_TAGS = {rf.TAG_CPU, rf.TAG_RSS, rf.TAG_MEM_PERCENT, rf.TAG_DISK_FREE}


def read_events(run_dir) -> event_accumulator.EventAccumulator:
    acc = event_accumulator.EventAccumulator(
        str(run_dir), size_guidance={event_accumulator.SCALARS: 0, event_accumulator.TENSORS: 0}
    )
    acc.Reload()
    return acc


def scalar_series(acc, tag) -> dict[int, float]:
    return {e.step: e.value for e in acc.Scalars(tag)}


# ---- run folder


def test_make_run_dir(tmp_path):
    when = datetime(2025, 3, 4, 5, 6, 7)
    path = make_run_dir(tmp_path / "runs", "team_battle", 7, when)
    assert path.name == "team_battle__7__20250304-050607" and path.is_dir()
    assert parse_run_name(path.name) == ("team_battle", 7, when)
    with pytest.raises(FileExistsError):
        make_run_dir(tmp_path / "runs", "team_battle", 7, when)
    for bad in ("", "a__b", "a/b"):
        with pytest.raises(ValueError):
            make_run_dir(tmp_path, bad, 0)


# ---- system


def test_system_monitor_plausible(tmp_path):
    monitor = SystemMonitor(tmp_path, gpu=False)
    sum(i * i for i in range(300_000))  # some CPU time between samples
    sample = monitor.sample()
    assert set(sample) == SYSTEM_TAGS
    assert all(isinstance(v, float) for v in sample.values())
    assert sample[rf.TAG_CPU] >= 0.0
    assert 0.01 < sample[rf.TAG_RSS] < 10_000
    assert 0.0 < sample[rf.TAG_MEM_PERCENT] <= 100.0
    assert sample[rf.TAG_DISK_FREE] > 0.0


def test_system_monitor_counts_children(tmp_path):
    monitor = SystemMonitor(tmp_path, gpu=False)
    before = monitor.sample()[rf.TAG_RSS]
    code = "import sys, time; b = bytearray(300_000_000); print('ok', flush=True); time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ok"
        with_child = monitor.sample()[rf.TAG_RSS]
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert with_child - before > 0.25  # the child's 300 MB, in GB
    assert monitor.sample()[rf.TAG_RSS] < with_child  # a vanished child is simply gone


class FakeNvml(types.SimpleNamespace):
    """pynvml's surface as SystemMonitor uses it: two GPUs."""

    def __init__(self, fail_on: str | None = None):
        super().__init__()
        self.fail_on = fail_on

    def _call(self, name):
        if self.fail_on == name:
            raise RuntimeError("NVML_ERROR_DRIVER_NOT_LOADED")

    def nvmlInit(self):
        self._call("init")

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetUtilizationRates(self, h):
        self._call("util")
        return types.SimpleNamespace(gpu=[40, 60][h])

    def nvmlDeviceGetMemoryInfo(self, h):
        return types.SimpleNamespace(used=[2e9, 6e9][h])


def test_system_monitor_gpu_via_nvml(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())
    sample = SystemMonitor(tmp_path).sample()
    assert sample[rf.TAG_GPU_UTIL] == 50.0 and sample[rf.TAG_GPU_MEM] == pytest.approx(8.0)
    assert sample[f"{rf.TAG_GPU_UTIL}/1"] == 60.0
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    sample = SystemMonitor(tmp_path).sample()
    assert sample[rf.TAG_GPU_UTIL] == 60.0 and sample[rf.TAG_GPU_MEM] == pytest.approx(6.0)
    assert f"{rf.TAG_GPU_UTIL}/1" not in sample


@pytest.mark.parametrize("nvml", [None, FakeNvml("init"), FakeNvml("util")])
def test_system_monitor_without_gpu_never_fails(tmp_path, monkeypatch, nvml):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)  # None: `import pynvml` raises ImportError
    monitor = SystemMonitor(tmp_path)
    assert set(monitor.sample()) == SYSTEM_TAGS
    assert set(monitor.sample()) == SYSTEM_TAGS


# ---- run monitor


def match_rows(step: int) -> list[dict]:
    return [
        {
            "step": step,
            "env_id": "kuhn_poker_v0",
            "episode": 2 * step + i,
            "seed": step,
            "payoff": "competitive",
            "mix": 1.0,
            "agent": f"player_{i}",
            "player": ["red", "bot:strong"][i],
            "team": f"team_{i}",
            "learning": i == 0,
            "return": [1.0, -1.0][i],
            "raw_score": [1.0, -1.0][i],
            "invalid_moves": 0,
            "moves": 3,
            "won": [1.0, 0.0][i],
            "truncated": False,
        }
        for i in range(2)
    ]


def test_scalars_text_and_hparams_read_back(tmp_path):
    config = {"lr": 1e-4, "env": {"id": "kuhn_poker_v0", "payoff": "competitive"}, "note": "a|b"}
    with RunMonitor(tmp_path, config, system=False) as mon:
        mon.log_hparams()
        for step in range(3):
            logged = mon.log_scalars(
                step,
                {
                    rf.TAG_POLICY_LOSS: np.float32(0.5 * step),
                    f"{rf.TAG_WIN_RATE}/red": None if step == 0 else 0.25 * step,
                    rf.TAG_KL: float("nan"),
                },
            )
            assert rf.TAG_KL not in logged
        mon.log_text(2, rf.TEXT_TRANSCRIPT, "red: bet\nblue: fold")
        with pytest.raises(TypeError):
            mon.log_scalars(3, {rf.TAG_LR: "high"})
    acc = read_events(tmp_path)
    assert set(acc.Tags()["scalars"]) == {rf.TAG_POLICY_LOSS, f"{rf.TAG_WIN_RATE}/red"}
    assert scalar_series(acc, rf.TAG_POLICY_LOSS) == {0: 0.0, 1: 0.5, 2: 1.0}
    assert scalar_series(acc, f"{rf.TAG_WIN_RATE}/red") == {1: 0.25, 2: 0.5}
    texts = {tag.split("/text_summary")[0]: tag for tag in acc.Tags()["tensors"]}
    assert set(texts) == {rf.TEXT_CONFIG, rf.TEXT_TRANSCRIPT}
    table = acc.Tensors(texts[rf.TEXT_CONFIG])[0].tensor_proto.string_val[0].decode()
    assert table == hparams_markdown(config)
    assert "|env.id|kuhn_poker_v0|" in table and "|note|a\\|b|" in table
    transcript = acc.Tensors(texts[rf.TEXT_TRANSCRIPT])[0]
    assert transcript.step == 2 and transcript.tensor_proto.string_val[0] == b"red: bet\nblue: fold"

    metrics = pd.read_json(tmp_path / rf.METRICS, lines=True)
    assert metrics["step"].tolist() == [0, 1, 2]
    assert metrics[rf.TAG_POLICY_LOSS].tolist() == [0.0, 0.5, 1.0]
    assert metrics[f"{rf.TAG_WIN_RATE}/red"].isna().tolist() == [True, False, False]
    assert rf.TAG_KL not in metrics.columns
    assert json.loads((tmp_path / rf.CONFIG).read_text()) == config


def test_matches_league_and_report(tmp_path):
    league = League()
    league.add_learner("red", version=2)
    league.add_bot("bot:strong", "strong")
    records = [MatchRecord("kuhn_poker_v0", (("red",), ("bot:strong",)), (1.0, -1.0), 1)]
    for record in records:
        league.record(record)
    with RunMonitor(tmp_path, {"seed": 1}, system=False) as mon:
        assert mon.log_matches(match_rows(1) + match_rows(2)) == 4
        mon.log_system(2)
        mon.write_league(
            league.to_json(),
            elo_ratings(records),
            {"players": list(league.players), "win_rate": league.payoff_matrix()},
        )
        mon.write_report({"players": 2, "exploitability": float("nan")})
    matches = pd.read_csv(tmp_path / rf.MATCHES)
    assert tuple(matches.columns) == rf.MATCH_COLUMNS
    assert matches["player"].tolist() == ["red", "bot:strong"] * 2
    assert matches["learning"].tolist() == [1, 0, 1, 0]
    assert matches["won"].tolist() == [1.0, 0.0, 1.0, 0.0]
    data = json.loads((tmp_path / rf.LEAGUE).read_text())
    assert League.from_json(json.dumps(data["league"])).to_json() == league.to_json()
    assert data["ratings"]["red"] > data["ratings"]["bot:strong"]
    assert data["payoff"]["win_rate"][0] == [None, 1.0]  # NaN diagonal -> null
    assert json.loads((tmp_path / rf.RUN_REPORT).read_text())["exploitability"] is None


def test_resume_drops_everything_after_the_checkpoint(tmp_path):
    with RunMonitor(tmp_path, {"run": 1}, system=False) as mon:
        for step in range(10):
            mon.log_scalars(step, {rf.TAG_RETURN: float(step)})
            mon.log_matches(match_rows(step))
    with pytest.raises(FileExistsError, match="resume_step"):
        RunMonitor(tmp_path, {"run": 1}, system=False)
    with RunMonitor(tmp_path, {"run": 2}, resume_step=5, system=False) as mon:
        for step in range(6, 8):
            mon.log_scalars(step, {rf.TAG_RETURN: 100.0 + step})
            mon.log_matches(match_rows(step))
    expected = {**{s: float(s) for s in range(6)}, 6: 106.0, 7: 107.0}
    assert scalar_series(read_events(tmp_path), rf.TAG_RETURN) == expected
    metrics = pd.read_json(tmp_path / rf.METRICS, lines=True)
    assert dict(zip(metrics["step"], metrics[rf.TAG_RETURN], strict=True)) == expected
    matches = pd.read_csv(tmp_path / rf.MATCHES)
    assert matches["step"].tolist() == [s for s in range(8) for _ in range(2)]
    assert json.loads((tmp_path / rf.CONFIG).read_text()) == {"run": 2}


@dataclass
class Args:
    lr: float = 3e-4
    env_id: str = "kuhn_poker_v0"


def test_dataclass_config(tmp_path):
    with RunMonitor(tmp_path, Args(), system=False) as mon:
        mon.log_hparams()
    assert json.loads((tmp_path / rf.CONFIG).read_text()) == {"lr": 3e-4, "env_id": "kuhn_poker_v0"}
    with pytest.raises(TypeError):
        RunMonitor(tmp_path / "other", ["lr"], system=False)


def test_resume_from_minus_one_starts_over(tmp_path):
    with RunMonitor(tmp_path, {}, system=False) as mon:
        mon.log_scalars(0, {rf.TAG_RETURN: 1.0})
        mon.log_matches(match_rows(0))
    with RunMonitor(tmp_path, {}, resume_step=-1, system=False) as mon:
        assert not mon.metrics.has_rows() and not mon.matches.has_rows()
