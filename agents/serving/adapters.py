"""The adapter store: every published adapter version as a peft folder on disk, with holds and
eviction.

Each version gets its own folder (`<name>@v<N>`), engine name and integer id, never reused: vLLM
caches
adapters by id and prefix-caches by name, so reusing either serves stale weights.

A version stays servable while it is the latest of its name or while something holds it (a league
snapshot, an in-flight game); once neither is true it is evicted, which bounds memory over any
number of
publishes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.serving.types import AdapterRef

log = logging.getLogger(__name__)

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


class AdapterError(ValueError):
    """A bad adapter: unknown name or version, malformed weights, a path outside the store."""


@dataclass(frozen=True)
class StoredAdapter:
    ref: AdapterRef
    lora_id: int
    path: Path


def lora_config_dict(config: Any) -> dict[str, Any]:
    """A peft `LoraConfig` (or a plain dict) as the json dict peft writes to adapter_config.json."""
    d = dict(config) if isinstance(config, Mapping) else config.to_dict()
    d.setdefault("peft_type", "LORA")
    for key, value in list(d.items()):
        if isinstance(value, set):
            d[key] = sorted(value)
        elif hasattr(value, "value"):  # enums such as TaskType
            d[key] = value.value
    return d


def write_adapter(folder: Path, weights: Mapping[str, Any], config: Any) -> None:
    """Write a peft adapter folder (safetensors + adapter_config.json)."""
    from safetensors.torch import save_file

    if not weights:
        raise AdapterError("adapter has no weights")
    tensors = {}
    for key, value in weights.items():
        if "lora_A" not in key and "lora_B" not in key:
            raise AdapterError(f"not a LoRA weight: {key!r}")
        tensors[key] = value.detach().to("cpu").contiguous()
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / ADAPTER_WEIGHTS))
    (folder / ADAPTER_CONFIG).write_text(json.dumps(lora_config_dict(config), indent=2))


def resolve_inside(root: Path, path: Path | str) -> Path:
    """`path` resolved, if it lies inside `root` and, for a folder, every file and folder under it
    resolves inside `root` too (a symlinked weights file must not open a file elsewhere); else
    AdapterError. `root` must be resolved already."""
    resolved = Path(path).resolve()
    if resolved != root and root not in resolved.parents:
        raise AdapterError(f"adapter path {path} is outside the adapter store {root}")
    if resolved.is_dir():
        for entry in resolved.rglob("*"):
            target = entry.resolve()
            if target != root and root not in target.parents:
                raise AdapterError(
                    f"adapter path {path}: {entry.relative_to(resolved)} resolves to {target}, "
                    f"outside the adapter store {root}"
                )
    return resolved


#: Prefix of the temporary store folders (`<prefix><pid>_<random>` in the system temp dir).
TEMP_STORE_PREFIX = "lora_league_adapters_"


def process_alive(pid: int) -> bool:
    """Whether process `pid` is alive (someone else's live process counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_orphan_stores(tmp_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Delete temporary stores whose process is gone (a killed server or trainer left them).

    Only folders named `<TEMP_STORE_PREFIX><pid>_...` are considered, and only when no process
    has that pid; older unnamed ones are left alone, since nothing says whose they are.
    """
    removed = []
    for entry in Path(tmp_dir or tempfile.gettempdir()).glob(f"{TEMP_STORE_PREFIX}*_*"):
        pid = entry.name[len(TEMP_STORE_PREFIX) :].split("_", 1)[0]
        if pid.isdigit() and entry.is_dir() and not process_alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def temporary_store_dir() -> Path:
    """A new store folder in the system temp dir, named for this process; orphans cleared first.

    The caller removes it at exit; if a kill prevents that, the next call removes it.
    """
    remove_orphan_stores()
    return Path(tempfile.mkdtemp(prefix=f"{TEMP_STORE_PREFIX}{os.getpid()}_"))


class AdapterStore:
    """Versioned adapter folders under one root, with holds. Thread-safe."""

    def __init__(self, root: Path | str | None = None) -> None:
        if root is None:
            remove_orphan_stores()
            self._tmp = tempfile.TemporaryDirectory(prefix=f"{TEMP_STORE_PREFIX}{os.getpid()}_")
            root = self._tmp.name
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._adapters: dict[AdapterRef, StoredAdapter] = {}
        self._latest: dict[str, int] = {}  # name -> its current version (absent once retired)
        self._counter: dict[str, int] = {}  # name -> last version number handed out
        self._holds: dict[AdapterRef, int] = {}
        self._next_id = 1

    # ------------------------------------------------------------------ publishing
    def add(
        self,
        name: str,
        weights: Mapping[str, Any] | Path | str,
        config: Any = None,
        version: int | None = None,
    ) -> StoredAdapter:
        """Store a new version of `name` from a state dict (+ LoraConfig) or a peft folder.

        Versions count up from 1; `version` may skip ahead (a resumed run restores its numbering).
        """
        if not name or "@" in name or "/" in name or name.startswith("."):
            raise AdapterError(f"bad adapter name {name!r}: use letters, digits, '-', '_'")
        with self._lock:
            last = self._counter.get(name, 0)
            if version is not None and version <= last:
                raise AdapterError(f"version {version} of {name!r} must exceed {last}")
            ref = AdapterRef(name, last + 1 if version is None else int(version))
            self._counter[name] = ref.version
            lora_id = self._next_id
            self._next_id += 1
        final = self.root / ref.lora_name
        tmp = Path(tempfile.mkdtemp(prefix=f".{ref.lora_name}.", dir=self.root))
        try:
            if isinstance(weights, str | Path):
                src = Path(weights)
                if not (src / ADAPTER_CONFIG).is_file():
                    raise AdapterError(f"{src} is not a peft adapter folder (no {ADAPTER_CONFIG})")
                for f in src.iterdir():
                    if f.is_file():
                        shutil.copy2(f, tmp / f.name)
            else:
                if config is None:
                    raise AdapterError("publishing a state dict needs its LoraConfig")
                write_adapter(tmp, weights, config)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        stored = StoredAdapter(ref, lora_id, final)
        with self._lock:
            self._adapters[ref] = stored
            self._latest[name] = ref.version
        return stored

    # ------------------------------------------------------------------ lookup
    def get(self, ref: AdapterRef) -> StoredAdapter:
        with self._lock:
            try:
                return self._adapters[ref]
            except KeyError:
                served = ", ".join(str(r) for r in sorted(self._adapters)) or "none"
                raise AdapterError(f"adapter {ref} is not served (served: {served})") from None

    def latest(self, name: str) -> AdapterRef:
        with self._lock:
            if name not in self._latest:
                raise AdapterError(f"no adapter named {name!r}")
            return AdapterRef(name, self._latest[name])

    def served(self) -> list[AdapterRef]:
        with self._lock:
            return sorted(self._adapters)

    def check_inside(self, path: Path | str) -> Path:
        """`path` resolved, if it and every file under it lie inside the store; else
        AdapterError."""
        return resolve_inside(self.root, path)

    # ------------------------------------------------------------------ holds and eviction
    def hold(self, ref: AdapterRef) -> None:
        with self._lock:
            self.get(ref)
            self._holds[ref] = self._holds.get(ref, 0) + 1

    def release(self, ref: AdapterRef) -> None:
        with self._lock:
            n = self._holds.get(ref, 0)
            if n <= 0:
                raise AdapterError(f"release of {ref} without a hold")
            if n == 1:
                del self._holds[ref]
            else:
                self._holds[ref] = n - 1

    def holds(self, ref: AdapterRef) -> int:
        with self._lock:
            return self._holds.get(ref, 0)

    def evictable(self) -> list[StoredAdapter]:
        """Versions neither latest nor held."""
        with self._lock:
            return [
                s
                for ref, s in self._adapters.items()
                if self._latest.get(ref.name) != ref.version and not self._holds.get(ref)
            ]

    def retire(self, ref: AdapterRef) -> None:
        """Stop treating `ref` as its name's latest version; evicted once nothing holds it."""
        with self._lock:
            self.get(ref)
            if self._latest.get(ref.name) == ref.version:
                del self._latest[ref.name]

    def abandon(self, ref: AdapterRef, previous: AdapterRef | None) -> None:
        """Forget `ref`, a version that never became servable (its load failed), and make
        `previous` its name's latest again, so a failed publish leaves the last good one current.
        The version number is not reused."""
        with self._lock:
            stored = self._adapters.pop(ref, None)
            if self._latest.get(ref.name) == ref.version:
                del self._latest[ref.name]
                if previous is not None and previous in self._adapters:
                    self._latest[ref.name] = previous.version
        if stored is not None:
            shutil.rmtree(stored.path, ignore_errors=True)

    def remove(self, stored: StoredAdapter) -> None:
        with self._lock:
            self._adapters.pop(stored.ref, None)
        shutil.rmtree(stored.path, ignore_errors=True)

    def close(self) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp is not None:
            tmp.cleanup()
