"""The adapter store's versioning, holds and eviction, and the serving value types."""

from __future__ import annotations

import os

import pytest
import torch

from agents.serving.adapters import AdapterError, AdapterStore
from agents.serving.types import AdapterRef, SamplingSettings

CONFIG = {"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"], "peft_type": "LORA"}


def weights(value: float = 0.0):
    return {
        "base_model.model.layers.0.q_proj.lora_A.weight": torch.full((2, 4), value),
        "base_model.model.layers.0.q_proj.lora_B.weight": torch.full((4, 2), value),
    }


def test_versions_count_up_and_latest_stays(tmp_path):
    store = AdapterStore(tmp_path)
    a1 = store.add("red", weights(1), CONFIG).ref
    a2 = store.add("red", weights(2), CONFIG).ref
    assert (a1, a2) == (AdapterRef("red", 1), AdapterRef("red", 2))
    assert store.latest("red") == a2
    assert [s.ref for s in store.evictable()] == [a1]
    assert store.get(a2).path.name == "red@v2"
    assert (store.get(a2).path / "adapter_config.json").is_file()


def test_holds_keep_old_versions_until_released(tmp_path):
    store = AdapterStore(tmp_path)
    v1 = store.add("red", weights(), CONFIG).ref
    store.hold(v1)
    store.add("red", weights(), CONFIG)
    assert store.evictable() == []
    store.release(v1)
    (old,) = store.evictable()
    store.remove(old)
    assert not old.path.exists()
    with pytest.raises(AdapterError, match="not served"):
        store.get(v1)
    with pytest.raises(AdapterError, match="without a hold"):
        store.release(v1)


def test_ids_are_never_reused(tmp_path):
    store = AdapterStore(tmp_path)
    ids = [store.add(n, weights(), CONFIG).lora_id for n in ("a", "b", "a", "a")]
    assert len(set(ids)) == 4


def test_retire_then_evict_and_explicit_versions(tmp_path):
    store = AdapterStore(tmp_path)
    v1 = store.add("blue", weights(), CONFIG).ref
    store.retire(v1)
    assert [s.ref for s in store.evictable()] == [v1]
    assert store.add("blue", weights(), CONFIG, version=7).ref == AdapterRef("blue", 7)
    with pytest.raises(AdapterError, match="must exceed"):
        store.add("blue", weights(), CONFIG, version=5)


@pytest.mark.parametrize("name", ["", "a/b", "a@v1", ".hidden"])
def test_bad_names_and_weights_are_clear_errors(tmp_path, name):
    store = AdapterStore(tmp_path)
    with pytest.raises(AdapterError):
        store.add(name, weights(), CONFIG)


def test_bad_weights_and_paths(tmp_path):
    store = AdapterStore(tmp_path / "store")
    with pytest.raises(AdapterError, match="no weights"):
        store.add("x", {}, CONFIG)
    with pytest.raises(AdapterError, match="not a LoRA weight"):
        store.add("x", {"model.embed.weight": torch.zeros(2)}, CONFIG)
    with pytest.raises(AdapterError, match="needs its LoraConfig"):
        store.add("x", weights(), None)
    with pytest.raises(AdapterError, match="not a peft adapter folder"):
        store.add("x", tmp_path)
    with pytest.raises(AdapterError, match="outside the adapter store"):
        store.check_inside(tmp_path / "elsewhere")
    assert store.check_inside(store.root / "x@v1") == store.root / "x@v1"
    assert not list(store.root.glob(".*")), "failed adds leave no temp folders"


def test_adapter_ref_and_sampling_settings():
    assert AdapterRef.parse("main-red@v12") == AdapterRef("main-red", 12)
    with pytest.raises(ValueError):
        AdapterRef.parse("nope")
    for bad in (dict(temperature=-1), dict(top_p=0), dict(max_tokens=0)):
        with pytest.raises(ValueError):
            SamplingSettings(**bad)


def test_a_killed_processs_temporary_store_is_removed_by_the_next_one(tmp_path, monkeypatch):
    import subprocess
    import sys
    import tempfile

    from agents.serving.adapters import TEMP_STORE_PREFIX, remove_orphan_stores

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    orphan = tmp_path / f"{TEMP_STORE_PREFIX}{dead.stdout.strip()}_abc"
    live = tmp_path / f"{TEMP_STORE_PREFIX}{os.getpid()}_def"
    unnamed = tmp_path / f"{TEMP_STORE_PREFIX}xyz"  # from before pids were in the name
    for folder in (orphan, live, unnamed):
        folder.mkdir()
    assert remove_orphan_stores() == [orphan]
    store = AdapterStore()  # a store without a root clears orphans too, then makes its own
    assert store.root.name.startswith(f"{TEMP_STORE_PREFIX}{os.getpid()}_")
    assert live.is_dir() and unnamed.is_dir() and not orphan.exists()
