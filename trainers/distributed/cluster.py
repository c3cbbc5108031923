"""Joining (or starting) a Ray cluster, reserving the roles' placement group, and the learner actor.

    fleet = start_fleet(ray_config, worker_spec, model_path, learner_factory)
    fleet.server    # FleetServer: publish/hold/release reach every worker
    fleet.rollout   # DistributedRollout: play(matches) across the workers
    fleet.learner   # RemoteLearner (the learner actor) or None when it stays in the driver

A local cluster started here gets this checkout on its workers' PYTHONPATH and shares its CPUs
out among the roles when they ask for more than it has (fractional CPUs: a 2-core machine runs
two engines and the learner); on a cluster the user started (`ray start`, an address given),
every node needs the project installed (same version), as with any Ray job, and a plan that does
not fit it is a `ConfigError` naming what is missing.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainers.config import ConfigError
from trainers.distributed.publication import FleetServer
from trainers.distributed.resources import (
    LEARNER_ROLE,
    DistributedConfig,
    NodeFit,
    Placement,
    PlacementError,
    describe,
    fit,
    plan_placement,
    share_cpus,
)
from trainers.distributed.workers import DistributedRollout, WorkerPool, WorkerSpec

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PLACEMENT_TIMEOUT_S = 300


def runtime_env() -> dict[str, Any]:
    """Workers import this checkout's code (not another install of it)."""
    path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)
    return {"env_vars": {"PYTHONPATH": path}}


def connect(config: DistributedConfig) -> bool:
    """Join `config.ray_address`, or start a local cluster. True if this call started Ray (the
    caller shuts it down). An already initialised Ray (a test, a notebook) is used as it is,
    like a cluster the user started."""
    import ray

    if ray.is_initialized():
        return False
    if config.ray_address:
        ray.init(address=config.ray_address, runtime_env=runtime_env(), log_to_driver=True)
        log.info("joined the Ray cluster at %s", config.ray_address)
    else:
        start_local_cluster(config.ray_num_cpus)
    return True


def start_local_cluster(num_cpus: int | None = None, log_to_driver: bool = True) -> None:
    """`ray.init` of a new local cluster for this checkout (never one that `ray start` or
    RAY_ADDRESS points at: joining those takes `ray_address`). On a loaded machine Ray's node
    manager can give up waiting for its own agents (they import slowly): the wait is raised,
    and a start that still times out is tried once more."""
    import ray

    os.environ.setdefault("RAY_agent_register_timeout_ms", "120000")
    for attempt in (1, 2):
        try:
            ray.init(
                address="local",
                num_cpus=num_cpus,
                include_dashboard=False,
                runtime_env=runtime_env(),
                log_to_driver=log_to_driver,
            )
            break
        except Exception as e:  # ray raises a bare Exception when its node does not come up
            if attempt == 2 or "timed out during startup" not in str(e):
                raise
            log.warning("Ray's local node did not come up (%s); trying once more", e)
            ray.shutdown()
    log.info("started a local Ray cluster: %s", _fmt(ray.cluster_resources()))


def _fmt(resources: dict[str, float]) -> str:
    keys = ("CPU", "GPU", "memory")
    return ", ".join(
        f"{k} {resources[k] / 2**30:.1f} GiB" if k == "memory" else f"{k} {resources[k]:g}"
        for k in keys
        if k in resources
    )


def check_fit(placement: Placement, nodes: list[dict[str, float]]) -> NodeFit:
    """`fit`, with a plan the cluster cannot hold refused as a `ConfigError` (one `error:` line
    and exit status 2 from the command line) that names what is missing and what to change."""
    try:
        return fit(placement, nodes)
    except PlacementError as e:
        raise ConfigError(f"the Ray cluster cannot hold this run: {e}") from None


def size_for_local_cluster(placement: Placement) -> Placement:
    """The placement with its CPUs shared out to fit the local cluster this run started."""
    import ray

    cpus = ray.cluster_resources().get("CPU", 0.0)
    sized = share_cpus(placement, cpus)
    if sized != placement:
        shares = ", ".join(f"{b.role} {b.resources['CPU']:g}" for b in sized.bundles)
        log.info(
            "the roles ask for %g CPUs, the local cluster has %g: shared out in proportion (%s)",
            placement.totals()["CPU"], cpus, shares,
        )  # fmt: skip
    return sized


def reserve(placement: Placement) -> Any:
    """Check the plan against the cluster's nodes, create the placement group, wait for it and
    log where each role landed."""
    import ray
    from ray.util.placement_group import placement_group, placement_group_table

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    check_fit(placement, [n["Resources"] for n in nodes])  # raises with what to change
    pg = placement_group(placement.ray_bundles(), strategy=placement.strategy)
    if not pg.wait(PLACEMENT_TIMEOUT_S):
        raise TimeoutError(
            f"Ray could not place {placement.ray_bundles()} within {PLACEMENT_TIMEOUT_S} s "
            f"(cluster: {_fmt(ray.cluster_resources())})"
        )
    table = placement_group_table(pg)
    node_of = table.get("bundles_to_node_id", {})
    address = {n["NodeID"]: n.get("NodeManagerAddress", "?") for n in nodes}
    where = [
        f"{address.get(node_of.get(i, ''), '?')} ({str(node_of.get(i, '?'))[:12]})"
        for i in range(len(placement.bundles))
    ]
    for line in describe(placement, where):
        log.info("placed %s", line)
    return pg


@dataclass
class Fleet:
    server: FleetServer
    rollout: DistributedRollout
    learner: Any
    placement: Placement
    placement_group: Any
    started_ray: bool

    def metrics(self) -> dict[str, float]:
        pool = self.server.pool
        return {
            "system/worker_restarts": pool.restarts,
            "system/replayed_games": pool.replayed_games,
        }

    def close(self) -> None:
        """Workers, the learner actor, the placement group, and the cluster if this run started
        it. Safe to call twice."""
        import ray
        from ray.util.placement_group import remove_placement_group

        if self.placement_group is None:
            return
        try:
            self.server.close()
            if isinstance(self.learner, RemoteLearner):
                self.learner.close()
            remove_placement_group(self.placement_group)
        finally:
            self.placement_group = None
            if self.started_ray:
                ray.shutdown()


def start_fleet(
    config: DistributedConfig,
    spec: WorkerSpec,
    model_path: Path,
    learner_factory: Callable[[], Any] | None = None,
    store_dir: Path | None = None,
) -> Fleet:
    """Connect, reserve, start the workers (and the learner actor, built by `learner_factory`
    inside it), and return the driver's handles."""
    placement = plan_placement(config, spec.backend, spec.base_urls)
    started = connect(config)
    try:
        if started and not config.ray_address:  # our own local cluster: the roles fit it
            placement = size_for_local_cluster(placement)
        pg = reserve(placement)
        learner = None
        if config.ray_learner_actor and learner_factory is not None:
            learner = RemoteLearner(learner_factory, placement, pg)  # starts while the workers do
        pool = WorkerPool(spec, placement, pg)
        if learner is not None:
            learner.wait_ready()
        server = FleetServer(pool, model_path, store_dir)
    except BaseException:
        if started:
            import ray

            ray.shutdown()
        raise
    return Fleet(server, DistributedRollout(pool), learner, placement, pg, started)


class LearnerActor:
    """Hosts the learner in its own actor (its own CPUs/GPU). Methods are called by name."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
        self.learner = factory()

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.learner, method)(*args, **kwargs)

    def attribute(self, name: str) -> tuple[bool, Any]:
        """(True, None) for a method, else (False, its value). A callable object that is not a
        method (the tokenizer) is a value: the driver needs the object, not a remote call."""
        value = getattr(self.learner, name)
        return (True, None) if inspect.ismethod(value) else (False, value)

    def info(self) -> dict[str, Any]:
        import ray

        ctx = ray.get_runtime_context()
        return {"pid": os.getpid(), "node_id": ctx.get_node_id(), "gpu_ids": ray.get_gpu_ids()}


class RemoteLearner:
    """The driver's handle on the learner actor: the learner's methods, called remotely and
    waited for. `save`/`load` paths must be reachable from the learner's node (the run
    directory on shared storage, or the learner on the driver's node)."""

    def __init__(self, factory: Callable[[], Any], placement: Placement, pg: Any) -> None:
        import ray
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        index = placement.index(LEARNER_ROLE)
        bundle = placement.bundles[index].resources
        self.actor = (
            ray.remote(LearnerActor)
            .options(
                num_cpus=bundle.get("CPU", 0.0),
                num_gpus=bundle.get("GPU", 0.0),
                scheduling_strategy=PlacementGroupSchedulingStrategy(
                    pg, placement_group_bundle_index=index
                ),
            )
            .remote(factory)
        )
        self._tokenizer = None

    def wait_ready(self) -> None:
        import ray

        info = ray.get(self.actor.info.remote())
        log.info("learner actor: pid %d on node %s, GPUs %s", info["pid"],
                 info["node_id"][:12], info["gpu_ids"] or "none")  # fmt: skip

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        import ray

        return ray.get(self.actor.call.remote(method, *args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        """The learner's method (called remotely) or attribute value (fetched)."""
        import ray

        if name.startswith("_"):
            raise AttributeError(name)
        is_method, value = ray.get(self.actor.attribute.remote(name))
        if not is_method:
            return value
        return lambda *args, **kwargs: self._call(name, *args, **kwargs)

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            import ray

            self._tokenizer = ray.get(self.actor.attribute.remote("tokenizer"))[1]
        return self._tokenizer

    def close(self) -> None:
        import ray

        ray.kill(self.actor, no_restart=True)
