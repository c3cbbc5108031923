"""Publication's all-or-nothing rule on a fake pool (the real workers are in
tests/distributed): a version some worker cannot stage is dropped everywhere, the previous one
stays current, and nothing is switched."""

from __future__ import annotations

import pytest

from agents.serving import AdapterError, AdapterRef
from trainers.distributed.publication import FleetServer

ray = pytest.importorskip("ray")
LORA = {"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"], "peft_type": "LORA"}


class FakePool:
    """Records broadcast calls; worker `failing` cannot stage."""

    size = 2
    max_model_len = 64
    publication = None

    def __init__(self, failing: int | None = None) -> None:
        self.failing = failing
        self.calls: list[tuple[str, AdapterRef]] = []
        self.served: list[set[AdapterRef]] = [set(), set()]

    def broadcast(self, method, *args):
        ref = args[0][0] if method == "switch" else args[0]
        self.calls.append((method, ref))
        out = {}
        for i in range(self.size):
            if method == "stage" and i == self.failing:
                out[i] = AdapterError("engine refused it")
                continue
            if method == "switch":
                self.served[i].add(ref)
            if method == "drop":
                self.served[i].discard(ref)
            out[i] = None
        return out

    def call_all(self, method, *args):
        return [sorted(s) for s in self.served]

    def close(self) -> None:
        pass


def weights():
    import torch

    return {"base_model.model.q_proj.lora_A.weight": torch.zeros(2, 4)}


@pytest.fixture(autouse=True)
def no_object_store(monkeypatch):
    monkeypatch.setattr(ray, "put", lambda value: value)


def test_a_version_every_worker_staged_is_switched_everywhere(tmp_path):
    pool = FakePool()
    server = FleetServer(pool, tmp_path, tmp_path / "store")
    ref = server.publish("red", weights(), LORA)
    assert pool.calls == [("stage", ref), ("switch", ref)]
    assert server.worker_served() == [[ref], [ref]] and server.served() == [ref]
    new = server.publish("red", weights(), LORA)  # the old version is not held: retired everywhere
    assert pool.calls[-1] == ("drop", ref) and server.worker_served() == [[new], [new]]


def test_a_version_one_worker_cannot_stage_is_dropped_everywhere(tmp_path):
    pool = FakePool()
    server = FleetServer(pool, tmp_path, tmp_path / "store")
    first = server.publish("red", weights(), LORA)
    pool.failing = 1
    with pytest.raises(AdapterError, match=r"staging red@v2 failed on workers \[1\]"):
        server.publish("red", weights(), LORA)
    failed = AdapterRef("red", 2)
    assert ("switch", failed) not in pool.calls and ("drop", failed) in pool.calls
    assert server.latest("red") == first and server.served() == [first]
    assert server.worker_served() == [[first], [first]]
    assert failed not in server.publication.live
