"""Rollout workers as Ray actors, the pool that supervises them, and the distributed rollout.

- `RolloutWorker` (an actor): owns one policy server (the vLLM backend, or a client of a remote
  server) and a `Rollout`; plays the matches the driver hands it with the adapter versions the
  driver switched it to (`trainers.distributed.publication`).
- `WorkerPool` (driver): starts one worker per placement-group bundle, broadcasts publication
  steps, and replaces a worker that died (killed, out of memory): a fresh actor on the same
  bundle, brought to every live version before it plays.
- `DistributedRollout` (driver): `play(matches)` like `trainers.rollout.Rollout`, the matches
  split across workers. A dead worker's games never come back (a worker returns all of its
  games at once or nothing), so they are replayed in full on its replacement and counted in
  `replayed_games`: every game is counted once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from agents.serving.types import AdapterRef, SamplingSettings
from trainers.distributed.resources import Placement, worker_role
from trainers.episode import Episode
from trainers.rollout import MatchSpec, RolloutStats

log = logging.getLogger(__name__)


class UnpublishedVersion(RuntimeError):
    """A worker was asked to play a version the driver has not switched it to."""


@dataclass(frozen=True)
class WorkerSpec:
    """What every rollout worker builds: its policy server and the games it plays."""

    backend: str  # vllm | hf | remote
    server_kwargs: dict[str, Any]
    env_id: str
    env_kwargs: dict[str, Any]
    payoff: str | None
    sampling: SamplingSettings
    constrained: bool = True
    move_values: bool = False
    fresh_replies: bool = False
    base_urls: tuple[str, ...] = ()  # backend=remote: worker i talks to base_urls[i]
    env_vars: dict[str, str] = field(default_factory=dict)

    def server_kwargs_for(self, index: int) -> dict[str, Any]:
        if self.backend == "remote":
            return {"base_url": self.base_urls[index], **self.server_kwargs}
        return dict(self.server_kwargs)


class RolloutWorker:
    """One policy server and the games it plays. Created by `WorkerPool` as a Ray actor."""

    def __init__(self, index: int, incarnation: int, spec: WorkerSpec) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
        os.environ.update(spec.env_vars)
        from agents.serving import make_policy_server
        from trainers.rollout import Rollout

        self.index = index
        self.incarnation = incarnation
        self._inbox = Path(tempfile.mkdtemp(prefix=f"lora_league_worker{index}_"))
        self.server = make_policy_server(spec.backend, **spec.server_kwargs_for(index))
        self.rollout = Rollout(
            self.server, spec.env_id, spec.env_kwargs, spec.payoff, spec.sampling,
            spec.constrained, spec.move_values, spec.fresh_replies,
        )  # fmt: skip
        self.staged: set[AdapterRef] = set()
        self.switched: set[AdapterRef] = set()

    def info(self) -> dict[str, Any]:
        import ray

        ctx = ray.get_runtime_context()
        return {
            "index": self.index,
            "incarnation": self.incarnation,
            "pid": os.getpid(),
            "node_id": ctx.get_node_id(),
            "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
            "backend": self.server.backend,
            "max_model_len": self.server.max_model_len,
        }

    # ------------------------------------------------------------------ publication
    def stage(self, ref: AdapterRef, files: dict[str, bytes]) -> None:
        """Load `ref` into the engine and hold it; games may not use it until `switch`."""
        from trainers.distributed.publication import write_adapter_folder

        if ref in self.staged or ref in self.switched:
            return
        folder = write_adapter_folder(self._inbox / ref.lora_name, files)
        try:
            self.server.publish(ref.name, folder, version=ref.version)
        finally:
            for f in folder.iterdir():
                f.unlink()
            folder.rmdir()
        self.server.hold(ref)
        self.staged.add(ref)

    def switch(self, refs: Sequence[AdapterRef]) -> None:
        missing = [r for r in refs if r not in self.staged and r not in self.switched]
        if missing:
            raise UnpublishedVersion(f"worker {self.index}: switch to unstaged {missing}")
        for ref in refs:
            self.staged.discard(ref)
            self.switched.add(ref)

    def drop(self, ref: AdapterRef) -> None:
        """Forget `ref`: no new game may use it; evicted once the games using it end."""
        if ref not in self.staged and ref not in self.switched:
            return
        self.staged.discard(ref)
        self.switched.discard(ref)
        self.server.release(ref)
        if ref in self.server.served():
            self.server.retire(ref)

    def served(self) -> list[AdapterRef]:
        return self.server.served()

    # ------------------------------------------------------------------ games
    def play(
        self, matches: Sequence[MatchSpec], step: int, mix: float
    ) -> tuple[list[Episode], RolloutStats]:
        refs = {s.adapter for m in matches for s in m.seats.values() if s.adapter is not None}
        unknown = sorted(refs - self.switched)
        if unknown:
            raise UnpublishedVersion(
                f"worker {self.index} was handed games with {[str(r) for r in unknown]}, which "
                f"the driver has not published to it (it serves {sorted(map(str, self.switched))})"
            )
        before = _copy_stats(self.rollout.stats)
        episodes = self.rollout.play(matches, step=step, mix=mix)
        return episodes, _stats_since(before, self.rollout.stats)

    def close(self) -> None:
        self.server.close()
        shutil.rmtree(self._inbox, ignore_errors=True)


def _copy_stats(stats: RolloutStats) -> RolloutStats:
    copy = RolloutStats(**{f.name: getattr(stats, f.name) for f in fields(RolloutStats)})
    copy.per_call_batch = list(stats.per_call_batch)
    return copy


def _stats_since(before: RolloutStats, now: RolloutStats) -> RolloutStats:
    out = RolloutStats()
    for f in fields(RolloutStats):
        if f.name == "per_call_batch":
            out.per_call_batch = list(now.per_call_batch[len(before.per_call_batch) :])
        else:
            setattr(out, f.name, getattr(now, f.name) - getattr(before, f.name))
    return out


def _dead(error: BaseException) -> bool:
    """True when `error` says the actor is gone (not an exception raised by its code)."""
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

    return isinstance(error, ActorDiedError | ActorUnavailableError | RayActorError)


class WorkerPool:
    """One rollout worker per placement-group bundle; dead workers replaced on the same bundle."""

    def __init__(
        self,
        spec: WorkerSpec,
        placement: Placement,
        placement_group: Any,
        max_restarts: int = 3,
    ) -> None:
        self.spec = spec
        self.placement = placement
        self.placement_group = placement_group
        self.max_restarts = max_restarts
        self.size = sum(1 for r in placement.roles if r.startswith("rollout/"))
        self.publication: Any = None  # set by FleetServer
        self.restarts = 0
        self.replayed_games = 0
        self.incarnations = [0] * self.size
        self.workers: list[Any] = [self._create(i) for i in range(self.size)]
        self.infos = [self._wait_ready(i) for i in range(self.size)]
        self.max_model_len = int(self.infos[0]["max_model_len"])

    # ------------------------------------------------------------------ lifetime
    def _create(self, index: int) -> Any:
        import ray
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        bundle = self.placement.bundles[self.placement.index(worker_role(index))].resources
        actor = ray.remote(RolloutWorker).options(
            name=None,
            num_cpus=bundle.get("CPU", 0.0),
            num_gpus=bundle.get("GPU", 0.0),
            max_restarts=0,  # replaced by this pool, which re-publishes before it plays
            scheduling_strategy=PlacementGroupSchedulingStrategy(
                self.placement_group,
                placement_group_bundle_index=self.placement.index(worker_role(index)),
            ),
        )
        return actor.remote(index, self.incarnations[index], self.spec)

    def _wait_ready(self, index: int) -> dict[str, Any]:
        import ray

        info = ray.get(self.workers[index].info.remote())
        log.info(
            "%s (incarnation %d): pid %d on node %s, GPUs %s, %s backend",
            worker_role(index), info["incarnation"], info["pid"], info["node_id"][:12],
            info["gpu_ids"] or "none", info["backend"],
        )  # fmt: skip
        return info

    def replace(self, index: int, reason: BaseException | str) -> Any:
        """A fresh worker on the dead one's bundle, brought to every live version."""
        import ray

        if self.restarts >= self.max_restarts:
            raise RuntimeError(
                f"{worker_role(index)} died and the pool has used its {self.max_restarts} "
                f"restarts: {reason}"
            )
        self.restarts += 1
        first_line = str(reason).strip().splitlines()[0] if str(reason).strip() else ""
        log.warning(
            "%s died (%s: %s); starting a replacement",
            worker_role(index), type(reason).__name__, first_line,
        )  # fmt: skip
        with contextlib.suppress(Exception):  # already gone
            ray.kill(self.workers[index], no_restart=True)
        self.incarnations[index] += 1
        self.workers[index] = self._create(index)
        self.infos[index] = self._wait_ready(index)
        if self.publication is not None:
            self.publication.sync(self.workers[index])
        return self.workers[index]

    def close(self) -> None:
        import ray

        for worker in self.workers:
            try:
                ray.get(worker.close.remote(), timeout=60)
            except Exception as e:  # dead or stuck: killed below either way
                log.debug("closing a worker: %s", e)
            ray.kill(worker, no_restart=True)
        self.workers = []

    # ------------------------------------------------------------------ calls
    def broadcast(self, method: str, *args: Any) -> dict[int, BaseException | None]:
        """Call `method` on every worker; a dead worker is replaced (the replacement is synced to
        the live versions) and called again. Returns each worker's exception or None."""
        import ray

        refs = {i: getattr(w, method).remote(*args) for i, w in enumerate(self.workers)}
        out: dict[int, BaseException | None] = {}
        for i, ref in refs.items():
            try:
                ray.get(ref)
                out[i] = None
            except Exception as e:
                if not _dead(e):
                    out[i] = e
                    continue
                worker = self.replace(i, e)
                try:
                    ray.get(getattr(worker, method).remote(*args))
                    out[i] = None
                except Exception as again:
                    out[i] = again
        return out

    def call_all(self, method: str, *args: Any) -> list[Any]:
        import ray

        return ray.get([getattr(w, method).remote(*args) for w in self.workers])


def split(n: int, parts: int) -> list[range]:
    """`n` items in `parts` contiguous, near-equal shards (empty shards dropped)."""
    size, extra = divmod(n, parts)
    shards, start = [], 0
    for p in range(parts):
        end = start + size + (1 if p < extra else 0)
        if end > start:
            shards.append(range(start, end))
        start = end
    return shards


def _settle(refs: list[Any]) -> None:
    """Wait for `refs`, ignoring their results and errors."""
    import ray

    for ref in refs:
        with contextlib.suppress(Exception):
            ray.get(ref)


class DistributedRollout:
    """`Rollout.play` over the pool: matches split across workers, episodes in match order."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self.stats = RolloutStats()

    def play(self, matches: Sequence[MatchSpec], step: int = 0, mix: float = 0.5) -> list[Episode]:
        import ray

        start = time.perf_counter()
        results: list[Episode | None] = [None] * len(matches)
        pending: dict[Any, tuple[int, range]] = {}
        for worker_index, shard in enumerate(split(len(matches), self.pool.size)):
            chunk = [matches[j] for j in shard]
            worker = self.pool.workers[worker_index]
            pending[worker.play.remote(chunk, step, mix)] = (worker_index, shard)
        generate = [0.0] * self.pool.size
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                worker_index, shard = pending.pop(ref)
                try:
                    episodes, stats = ray.get(ref)
                except Exception as e:
                    if not _dead(e):
                        _settle(list(pending))  # the other workers' games end before we raise
                        raise
                    worker = self.pool.replace(worker_index, e)
                    self.pool.replayed_games += len(shard)
                    log.warning(
                        "replaying %d games of %s on its replacement",
                        len(shard), worker_role(worker_index),
                    )  # fmt: skip
                    chunk = [matches[j] for j in shard]
                    pending[worker.play.remote(chunk, step, mix)] = (worker_index, shard)
                    continue
                for j, episode in zip(shard, episodes, strict=True):
                    results[j] = episode
                self._add(stats)
                generate[worker_index] += stats.generate_seconds
        # Workers generate in parallel: the fleet's generation time is the slowest worker's.
        self.stats.generate_seconds += max(generate, default=0.0)
        self.stats.seconds += time.perf_counter() - start
        return [e for e in results if e is not None]

    def _add(self, stats: RolloutStats) -> None:
        s = self.stats
        s.games += stats.games
        s.ticks += stats.ticks
        s.llm_calls += stats.llm_calls
        s.llm_requests += stats.llm_requests
        s.completion_tokens += stats.completion_tokens
        s.too_long += stats.too_long
        s.per_call_batch.extend(stats.per_call_batch)
