"""The rollout worker's publication protocol, on the worker object itself (no Ray, the
transformers backend of the tiny model): a version is playable only once switched, a game naming
any other version is refused whole, and a dropped version leaves once no game holds it."""

from __future__ import annotations

import pytest

from agents.serving import AdapterRef, SamplingSettings
from trainers.distributed.publication import read_adapter_folder, write_adapter_folder
from trainers.distributed.workers import RolloutWorker, UnpublishedVersion, WorkerSpec, split
from trainers.rollout import MatchSpec, Seat

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def worker(tiny_model):
    spec = WorkerSpec(
        "hf", {"model": str(tiny_model), "max_model_len": 1024}, "rps_v0", {"rounds": 2},
        "competitive", SamplingSettings(temperature=1.0, max_tokens=8),
    )  # fmt: skip
    w = RolloutWorker(0, 0, spec)
    yield w
    w.close()


@pytest.fixture(scope="module")
def payloads(tiny_model, tmp_path_factory):
    from agents.serving.adapters import write_adapter
    from tests.integration.conftest import random_adapter

    out = []
    for i in range(2):
        weights, config = random_adapter(tiny_model, seed=i)
        folder = tmp_path_factory.mktemp(f"adapter{i}")
        write_adapter(folder, weights, config)
        out.append(read_adapter_folder(folder))
    return out


def matches(ref: AdapterRef, n: int = 2) -> list[MatchSpec]:
    return [
        MatchSpec(seed, {"player_0": Seat("main", adapter=ref, learning=True),
                         "player_1": Seat("bot:random", bot="random")})
        for seed in range(n)
    ]  # fmt: skip


def test_a_version_plays_only_once_switched_and_leaves_after_its_games(worker, payloads):
    v1, v2 = AdapterRef("red", 1), AdapterRef("red", 2)
    worker.stage(v1, payloads[0])
    assert worker.served() == [v1]
    with pytest.raises(UnpublishedVersion, match="red@v1"):  # staged is not switched
        worker.play(matches(v1), step=1, mix=0.5)
    worker.switch([v1])
    episodes, stats = worker.play(matches(v1), step=1, mix=0.5)
    assert len(episodes) == 2 and stats.games == 2
    assert {t.adapter for ep in episodes for t in ep.trajectories.values() if t.adapter} == {
        ("red", 1)
    }
    worker.stage(v2, payloads[1])
    worker.switch([v2])
    assert worker.served() == [v1, v2]  # v1 stays until the driver drops it
    with pytest.raises(UnpublishedVersion, match="red@v7"):
        worker.play(matches(AdapterRef("red", 7)) + matches(v2), step=2, mix=0.5)
    worker.drop(v1)
    assert worker.served() == [v2]
    with pytest.raises(UnpublishedVersion, match="red@v1"):
        worker.play(matches(v1), step=2, mix=0.5)
    with pytest.raises(UnpublishedVersion, match="unstaged"):
        worker.switch([AdapterRef("red", 3)])


def test_adapter_files_round_trip_and_bad_names_are_refused(tmp_path, payloads):
    folder = write_adapter_folder(tmp_path / "a", payloads[0])
    assert read_adapter_folder(folder) == payloads[0]
    with pytest.raises(ValueError, match="bad adapter file name"):
        write_adapter_folder(tmp_path / "b", {"../escape": b""})


def test_split_covers_every_match_once():
    assert [list(r) for r in split(5, 2)] == [[0, 1, 2], [3, 4]]
    assert [list(r) for r in split(1, 3)] == [[0]]
    assert sum(len(r) for r in split(17, 4)) == 17
