"""Versioned adapter publication to every rollout worker: stage everywhere, then switch.

The driver owns the version numbers. A new version of an adapter travels as the bytes of its peft
folder (safetensors + adapter_config.json, a few MB) through Ray's object store: put once, pulled
by every worker, written into the worker's own adapter store and loaded into its engine under the
version's unique name (`name@vN`, as in the single-process run). Measured against a shared adapter
folder in `benchmarks/scaling.py`; the object store needs no shared disk across nodes.

1. stage: every worker loads the version and holds it, but will not play a game that names it;
   if any worker fails to stage, the version is dropped everywhere and publishing raises (the
   previous version stays current and served);
2. switch: every worker accepts games that name it; the driver's league moves to it only after.

A version leaves the workers only when the driver retires it (it is neither latest nor held by
the league); a worker still playing games under it keeps it until those games end (the rollout
holds every version its games use). A worker never plays a version the driver has not switched
it to: `RolloutWorker.play` refuses the whole batch, naming the version.

`FleetServer` is the driver's `PolicyServer`: the trainer publishes, holds and releases through the
API it already uses; its adapter store is the driver's copy (checkpoints copy snapshots from it)
and its loads and unloads are the publication to the workers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from agents.serving.adapters import AdapterError, AdapterStore, StoredAdapter
from agents.serving.base import PolicyServer
from agents.serving.types import AdapterRef, GenerationRequest, GenerationResult

log = logging.getLogger(__name__)


def read_adapter_folder(path: Path) -> dict[str, bytes]:
    """A peft adapter folder as {file name: bytes}: what travels to the workers."""
    files = {f.name: f.read_bytes() for f in sorted(Path(path).iterdir()) if f.is_file()}
    if not files:
        raise AdapterError(f"adapter folder {path} is empty")
    return files


def write_adapter_folder(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if "/" in name or name.startswith("."):
            raise AdapterError(f"bad adapter file name {name!r}")
        (folder / name).write_bytes(data)
    return folder


class WorkerPool(Protocol):
    """What publication needs of the pool (`trainers.distributed.workers.WorkerPool`)."""

    size: int
    max_model_len: int
    publication: Any

    def broadcast(self, method: str, *args: Any) -> dict[int, BaseException | None]: ...

    def call_all(self, method: str, *args: Any) -> list[Any]: ...

    def close(self) -> None: ...


class Publication:
    """The versions live on every worker: their payloads (object refs) in version order, so a
    replacement worker can be brought to exactly the same set before it plays."""

    def __init__(self) -> None:
        self.live: dict[AdapterRef, Any] = {}  # ref -> ObjectRef of the folder's bytes
        self.seconds: list[float] = []

    def publish(self, pool: WorkerPool, ref: AdapterRef, path: Path) -> None:
        """Stage `ref` on every worker, then switch every worker to it; raise if any fails."""
        import ray

        start = time.perf_counter()
        payload = ray.put(read_adapter_folder(path))
        staged = pool.broadcast("stage", ref, payload)
        failed = {i: e for i, e in staged.items() if e is not None}
        if failed:
            pool.broadcast("drop", ref)
            first = next(iter(failed.values()))
            raise AdapterError(f"staging {ref} failed on workers {sorted(failed)}: {first}")
        self.live[ref] = payload
        switched = pool.broadcast("switch", [ref])
        failed = {i: e for i, e in switched.items() if e is not None}
        if failed:  # a live worker that staged but cannot switch is broken: stop here
            raise RuntimeError(f"switching to {ref} failed on workers {sorted(failed)}")
        self.seconds.append(time.perf_counter() - start)
        log.debug("published %s to %d workers in %.1f ms", ref, pool.size, 1e3 * self.seconds[-1])

    def retire(self, pool: WorkerPool, ref: AdapterRef) -> None:
        self.live.pop(ref, None)
        for i, error in pool.broadcast("drop", ref).items():
            if error is not None:
                log.warning("worker %d could not drop %s: %s", i, ref, error)

    def sync(self, worker: Any) -> None:
        """Bring a new worker to every live version (stage all, then switch all)."""
        import ray

        refs = sorted(self.live)
        ray.get([worker.stage.remote(ref, self.live[ref]) for ref in refs])
        ray.get(worker.switch.remote(refs))


class FleetServer(PolicyServer):
    """The driver's `PolicyServer` in Ray mode: publishing reaches every worker's engine."""

    backend = "ray"

    def __init__(self, pool: WorkerPool, model_path: Path, store_dir: Path | None = None) -> None:
        super().__init__(Path(model_path), AdapterStore(store_dir), pool.max_model_len)
        self.pool = pool
        self.publication = Publication()
        pool.publication = self.publication

    def _generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        raise NotImplementedError("in Ray mode the rollout workers generate, not the driver")

    def _load(self, stored: StoredAdapter) -> None:
        self.publication.publish(self.pool, stored.ref, stored.path)

    def _unload(self, stored: StoredAdapter) -> None:
        self.publication.retire(self.pool, stored.ref)

    def worker_served(self) -> list[list[AdapterRef]]:
        """What each worker serves now (its engine's adapters), for checks and logs."""
        return self.pool.call_all("served")

    def close(self) -> None:
        self.pool.close()
        super().close()
