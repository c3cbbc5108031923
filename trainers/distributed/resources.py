"""Resources per role -> Ray resources and one placement group.

Roles: `rollout/<i>` (a rollout worker: one policy server engine and the games it plays) and
`learner` (the learner actor). Each role is one placement-group bundle:

- a rollout worker on CPU asks for `ray_worker_cpus` CPUs;
- on GPUs (`ray_gpus`) an engine asks for `ray_tensor_parallel_size` GPUs, or
  `1 / ray_engines_per_gpu`
  of one GPU when several small engines share it (Ray fractional GPUs);
- the learner asks for `ray_learner_cpus` CPUs and `ray_learner_gpus` GPUs (1: its own GPU).

`plan_placement(config)` computes the bundles; `share_cpus(placement, cpus)` shrinks their CPUs in
proportion to fit a local cluster the run starts itself (a 2-core machine holds two engines and
the learner on fractional CPUs); `fit(placement, nodes)` predicts which node each bundle lands on
(first fit in the strategy's order, Ray's own placement decides in the end) and raises
`PlacementError`, naming what is missing and what to change, when the cluster cannot hold the
plan: a placement group that cannot be placed otherwise waits forever. Nothing here imports ray:
the mapping is pure and unit-tested without a cluster or a GPU.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

STRATEGIES = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")
LEARNER_ROLE = "learner"
CPU_STEP = 1e-4  # Ray's resource precision: a fractional quantity goes no finer


@dataclass
class DistributedConfig:
    """Ray mode: rollout workers as actors (one policy server each), the learner as an actor, the
    league in the driver. Off by default: the single-process run."""

    ray: bool = False
    """Run on Ray: rollout workers and the learner as actors (a local cluster unless
    ray_address names one)."""
    ray_address: str | None = None
    """Ray cluster to join ('auto': the one `ray start --head` started on this machine,
    'ray://host:10001': a remote head); None: start a local cluster for this run. Implies ray."""
    ray_workers: int = 2
    """Rollout workers, one policy server (engine) each."""
    ray_worker_cpus: float = 1.0
    """CPUs reserved per rollout worker (a local cluster with fewer CPUs than the roles ask
    for shares its CPUs out among them in proportion)."""
    ray_gpus: bool = False
    """Engines on GPUs: one engine per GPU unless ray_engines_per_gpu or
    ray_tensor_parallel_size say otherwise."""
    ray_engines_per_gpu: int = 1
    """Engines sharing one GPU (fractional GPUs)."""
    ray_tensor_parallel_size: int = 1
    """GPUs per engine (vLLM tensor parallelism, within one node)."""
    ray_learner_cpus: float = 1.0
    """CPUs reserved for the learner actor (shared out on a small local cluster, as
    ray_worker_cpus)."""
    ray_learner_gpus: float = 0.0
    """GPUs of the learner actor (1: its own GPU)."""
    ray_learner_actor: bool = True
    """Run the learner in its own actor (False: in the driver process)."""
    ray_strategy: str = "PACK"
    """Placement group strategy: PACK | SPREAD | STRICT_PACK | STRICT_SPREAD."""
    ray_num_cpus: int | None = None
    """Local cluster only: CPUs it may use (default: the machine's)."""

    @property
    def enabled(self) -> bool:
        return self.ray or self.ray_address is not None

    def validate(self, backend: str = "vllm", base_urls: tuple[str, ...] = ()) -> None:
        if self.ray_workers < 1:
            raise ValueError(f"ray_workers must be >= 1, got {self.ray_workers}")
        if self.ray_worker_cpus <= 0 or self.ray_learner_cpus <= 0:
            raise ValueError("ray_worker_cpus and ray_learner_cpus must be > 0")
        if self.ray_engines_per_gpu < 1 or self.ray_tensor_parallel_size < 1:
            raise ValueError("ray_engines_per_gpu and ray_tensor_parallel_size must be >= 1")
        if self.ray_engines_per_gpu > 1 and self.ray_tensor_parallel_size > 1:
            raise ValueError(
                "an engine either shares a GPU (ray_engines_per_gpu > 1) or spans several "
                "(ray_tensor_parallel_size > 1), not both"
            )
        if (
            self.ray_engines_per_gpu > 1 or self.ray_tensor_parallel_size > 1
        ) and not self.ray_gpus:
            raise ValueError("ray_engines_per_gpu and ray_tensor_parallel_size need ray_gpus")
        if self.ray_learner_gpus < 0:
            raise ValueError(f"ray_learner_gpus must be >= 0, got {self.ray_learner_gpus}")
        if self.ray_learner_gpus > 1 and self.ray_learner_gpus != int(self.ray_learner_gpus):
            raise ValueError("ray_learner_gpus above 1 must be a whole number")
        if self.ray_strategy not in STRATEGIES:
            raise ValueError(
                f"unknown ray_strategy {self.ray_strategy!r}; choose one of {STRATEGIES}"
            )
        if backend == "remote" and len(base_urls) != self.ray_workers:
            raise ValueError(
                f"backend=remote with {self.ray_workers} Ray workers needs {self.ray_workers} "
                f"base_url values (one server per worker), got {len(base_urls)}"
            )
        if backend == "remote" and self.ray_gpus:
            raise ValueError("backend=remote: the engines run outside Ray; leave ray_gpus off")

    @property
    def gpus_per_engine(self) -> float:
        if not self.ray_gpus:
            return 0.0
        return float(self.ray_tensor_parallel_size) / self.ray_engines_per_gpu


@dataclass(frozen=True)
class Bundle:
    role: str
    resources: dict[str, float]


@dataclass(frozen=True)
class Placement:
    bundles: tuple[Bundle, ...]
    strategy: str = "PACK"

    def index(self, role: str) -> int:
        for i, b in enumerate(self.bundles):
            if b.role == role:
                return i
        raise KeyError(f"no bundle for role {role!r}")

    @property
    def roles(self) -> list[str]:
        return [b.role for b in self.bundles]

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for b in self.bundles:
            for k, v in b.resources.items():
                out[k] = out.get(k, 0.0) + v
        return out

    def ray_bundles(self) -> list[dict[str, float]]:
        """The bundles as `ray.util.placement_group` takes them (zero entries left out)."""
        return [{k: v for k, v in b.resources.items() if v > 0} for b in self.bundles]


def worker_role(index: int) -> str:
    return f"rollout/{index}"


def plan_placement(
    config: DistributedConfig, backend: str = "vllm", base_urls: tuple[str, ...] = ()
) -> Placement:
    """One bundle per rollout worker, then one for the learner when it runs as an actor."""
    config.validate(backend, base_urls)
    bundles = []
    gpus = config.gpus_per_engine if backend != "remote" else 0.0
    for i in range(config.ray_workers):
        bundles.append(Bundle(worker_role(i), {"CPU": config.ray_worker_cpus, "GPU": gpus}))
    if config.ray_learner_actor:
        resources = {"CPU": config.ray_learner_cpus, "GPU": config.ray_learner_gpus}
        bundles.append(Bundle(LEARNER_ROLE, resources))
    return Placement(tuple(bundles), config.ray_strategy)


def share_cpus(placement: Placement, cpus: float) -> Placement:
    """The placement shrunk to fit a local cluster of `cpus` CPUs that the run starts itself:
    when the roles ask for more CPUs than it has, each role gets its ask times cpus / asked
    (Ray's fractional CPUs, rounded down to its precision). A placement that fits is returned
    as it is; GPUs are never shared out this way (`fit` says when they do not fit)."""
    asked = placement.totals().get("CPU", 0.0)
    if asked <= cpus + 1e-9:
        return placement
    scale = cpus / asked
    bundles = tuple(
        Bundle(b.role, {**b.resources, "CPU": _cpu_share(b.resources.get("CPU", 0.0), scale)})
        for b in placement.bundles
    )
    return Placement(bundles, placement.strategy)


def _cpu_share(ask: float, scale: float) -> float:
    if ask <= 0:
        return ask
    return max(CPU_STEP, round(math.floor(ask * scale / CPU_STEP + 1e-6) * CPU_STEP, 4))


class PlacementError(ValueError):
    """The cluster cannot hold the roles; the message says what is missing and what to change."""


def _fits(free: Mapping[str, float], need: Mapping[str, float]) -> bool:
    return all(free.get(k, 0.0) + 1e-9 >= v for k, v in need.items() if v > 0)


@dataclass
class NodeFit:
    """Predicted node (index into the given nodes) of every bundle, in bundle order."""

    nodes: list[int]
    free: list[dict[str, float]] = field(default_factory=list)


def fit(placement: Placement, nodes: Sequence[Mapping[str, float]]) -> NodeFit:
    """Place every bundle on a node (first fit; SPREAD strategies start each bundle on the next
    node), or raise `PlacementError` saying what does not fit, what the cluster has, what is
    missing and which settings to change.

    `nodes`: each node's resources, e.g. `{"CPU": 16, "GPU": 4}` (`ray.nodes()[i]["Resources"]`).
    A fractional-GPU bundle must fit inside one GPU's remaining share, as Ray requires.
    """
    if not nodes:
        raise PlacementError("the cluster has no nodes")
    free = [dict(n) for n in nodes]
    # Per node, the free share of each whole GPU (Ray packs fractional GPUs within one device).
    gpu_slots = [[1.0] * math.floor(n.get("GPU", 0.0) + 1e-9) for n in nodes]
    spread = placement.strategy in ("SPREAD", "STRICT_SPREAD")
    strict_pack = placement.strategy == "STRICT_PACK"
    used_nodes: set[int] = set()
    chosen: list[int] = []
    order = sorted(
        range(len(placement.bundles)),
        key=lambda i: -placement.bundles[i].resources.get("GPU", 0.0),
    )  # biggest GPU bundles first (first-fit decreasing)
    slots_of: dict[int, int] = {}
    for i in order:
        bundle = placement.bundles[i]
        need = bundle.resources
        candidates = list(range(len(nodes)))
        if spread:
            candidates.sort(key=lambda n: (n in used_nodes, n))
            if placement.strategy == "STRICT_SPREAD":
                candidates = [n for n in candidates if n not in used_nodes]
        if strict_pack and chosen:
            candidates = [slots_of[order[0]]]
        placed = None
        for n in candidates:
            if not _fits(free[n], need):
                continue
            gpu = need.get("GPU", 0.0)
            if 0 < gpu < 1:
                slot = next((s for s, left in enumerate(gpu_slots[n]) if left + 1e-9 >= gpu), None)
                if slot is None:
                    continue
                gpu_slots[n][slot] -= gpu
            elif gpu >= 1:
                whole = [s for s, left in enumerate(gpu_slots[n]) if left >= 1 - 1e-9]
                if len(whole) < int(gpu):
                    continue
                for s in whole[: int(gpu)]:
                    gpu_slots[n][s] = 0.0
            for k, v in need.items():
                free[n][k] = free[n].get(k, 0.0) - v
            placed = n
            break
        if placed is None:
            raise PlacementError(_refusal(placement, bundle, nodes, chosen))
        slots_of[i] = placed
        chosen.append(i)
        used_nodes.add(placed)
    return NodeFit([slots_of[i] for i in range(len(placement.bundles))], free)


#: The settings that lower each resource's demand (raise ray_engines_per_gpu lowers GPUs too).
_KNOBS = {
    "CPU": "ray_workers, ray_worker_cpus or ray_learner_cpus",
    "GPU": "ray_workers, ray_tensor_parallel_size or ray_learner_gpus (or raise "
    "ray_engines_per_gpu)",
}


def _refusal(
    placement: Placement, bundle: Bundle, nodes: Sequence[Mapping[str, float]], chosen: list[int]
) -> str:
    """Why `bundle` fits nowhere: what it needs, what the nodes have (the plan's resource kinds
    only), what the roles placed before it took, what the plan lacks in all, what to change."""
    kinds = sorted({k for b in placement.bundles for k, v in b.resources.items() if v > 0})
    have = ", ".join(_fmt({k: node.get(k, 0.0) for k in kinds}, zeros=True) for node in nodes)
    asked = placement.totals()
    lacking = {k: asked.get(k, 0.0) - sum(node.get(k, 0.0) for node in nodes) for k in kinds}
    lacking = {k: v for k, v in lacking.items() if v > 1e-9}
    if lacking:
        missing = (
            f"in all the roles ask for {_fmt(asked)}: {_fmt(lacking)} more than the cluster has"
        )
    else:
        missing = "the cluster has enough in all, but not on one node where this role can go"
    short = [k for k in kinds if k in lacking] or [k for k in kinds if bundle.resources.get(k)]
    knobs = "; ".join(f"for {k}: lower {_KNOBS.get(k, k)}" for k in short)
    taken = (
        f" and the roles placed before it took {_fmt(_taken(placement, chosen))}" if chosen else ""
    )
    return (
        f"{bundle.role} needs {_fmt(bundle.resources)} on one node ({placement.strategy}); the "
        f"cluster's nodes have {have}{taken}; {missing}. Change the plan ({knobs}) or give the "
        "cluster more (nodes, or `ray start --num-cpus`/`--num-gpus`)"
    )


def _taken(placement: Placement, chosen: list[int]) -> dict[str, float]:
    out: dict[str, float] = {}
    for i in chosen:
        for k, v in placement.bundles[i].resources.items():
            out[k] = out.get(k, 0.0) + v
    return out


def _fmt(resources: Mapping[str, float], zeros: bool = False) -> str:
    shown = {k: v for k, v in resources.items() if v > 0 or zeros}
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in sorted(shown.items())) + "}" if shown else "{}"


def describe(placement: Placement, node_of_bundle: Sequence[str]) -> list[str]:
    """One log line per role: what it reserved and on which node."""
    return [
        f"{b.role}: {_fmt(b.resources)} on node {node}"
        for b, node in zip(placement.bundles, node_of_bundle, strict=True)
    ]
