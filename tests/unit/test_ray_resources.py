"""The per-role resource mapping of Ray mode: bundles from a config, and where they land on a
cluster described by its nodes' resources (no Ray, no GPU needed)."""

from __future__ import annotations

import pytest

from trainers.distributed.resources import (
    CPU_STEP,
    LEARNER_ROLE,
    PlacementError,
    describe,
    fit,
    plan_placement,
    share_cpus,
    worker_role,
)
from trainers.distributed.resources import (
    DistributedConfig as Cfg,
)


def test_cpu_workers_and_learner_get_one_bundle_each():
    placement = plan_placement(Cfg(ray_workers=2, ray_worker_cpus=1.5, ray_learner_cpus=2))
    assert placement.roles == ["rollout/0", "rollout/1", LEARNER_ROLE]
    assert placement.ray_bundles() == [{"CPU": 1.5}, {"CPU": 1.5}, {"CPU": 2}]
    assert placement.totals() == {"CPU": 5.0, "GPU": 0.0}
    assert fit(placement, [{"CPU": 5}]).nodes == [0, 0, 0]
    with pytest.raises(ValueError, match=r"learner needs \{CPU: 2\}.*took \{CPU: 3\}"):
        fit(placement, [{"CPU": 4}])


def test_a_local_cluster_on_two_cpus_holds_two_workers_and_the_learner():
    """The README's one-machine command on the reference 2-core machine: the defaults ask for 3
    CPUs; the local cluster the run starts shares its 2 out in proportion."""
    placement = plan_placement(Cfg(ray_workers=2))
    with pytest.raises(PlacementError):
        fit(placement, [{"CPU": 2}])
    shared = share_cpus(placement, 2)
    assert shared.roles == placement.roles and shared.strategy == placement.strategy
    cpus = [b["CPU"] for b in shared.ray_bundles()]
    assert cpus == [0.6666] * 3  # rounded down to Ray's precision: the sum stays within 2
    assert fit(shared, [{"CPU": 2}]).nodes == [0, 0, 0]
    # Proportions are kept; every share is a whole number of Ray's 0.0001 steps.
    uneven = share_cpus(plan_placement(Cfg(ray_workers=3, ray_worker_cpus=2)), 2)
    cpus = [b["CPU"] for b in uneven.ray_bundles()]
    assert cpus == [0.5714, 0.5714, 0.5714, 0.2857] and sum(cpus) <= 2
    assert all(abs(c / CPU_STEP - round(c / CPU_STEP)) < 1e-6 for c in cpus)
    assert fit(uneven, [{"CPU": 2}]).nodes == [0] * 4


def test_a_plan_that_fits_the_local_cluster_keeps_its_cpus_and_gpus_are_never_shared():
    placement = plan_placement(Cfg(ray_workers=2))
    assert share_cpus(placement, 16) is placement
    gpus = share_cpus(plan_placement(Cfg(ray_workers=2, ray_gpus=True)), 1)
    assert [b["GPU"] for b in gpus.ray_bundles()[:2]] == [1, 1]
    with pytest.raises(PlacementError, match="GPU"):
        fit(gpus, [{"CPU": 1}])  # a machine without GPUs


def test_a_user_cluster_too_small_is_a_config_error_naming_what_is_missing():
    from trainers.config import ConfigError
    from trainers.distributed.cluster import check_fit

    # A node as `ray.nodes()` reports it: only the plan's kinds of resources are named.
    node = {"CPU": 2.0, "memory": 1.5e10, "object_store_memory": 6.6e9, "node:10.0.0.1": 1.0}
    with pytest.raises(ConfigError) as refused:
        check_fit(plan_placement(Cfg(ray_workers=2)), [node])
    message = str(refused.value)
    assert "learner needs {CPU: 1} on one node" in message
    assert "nodes have {CPU: 2}" in message and "memory" not in message
    assert "{CPU: 1} more than the cluster has" in message
    assert "ray_worker_cpus" in message and "ray_learner_gpus" not in message
    with pytest.raises(ConfigError, match=r"\{GPU: 2\} more than the cluster has.*ray_engines_per"):
        check_fit(plan_placement(Cfg(ray_workers=2, ray_gpus=True, ray_worker_cpus=0.5)), [node])
    assert check_fit(plan_placement(Cfg(ray_workers=1)), [node]).nodes == [0, 0]


def test_one_engine_per_gpu_and_the_learner_on_its_own_gpu():
    cfg = Cfg(
        ray_workers=3, ray_gpus=True, ray_learner_gpus=1, ray_worker_cpus=2, ray_learner_cpus=4
    )
    placement = plan_placement(cfg)
    assert [b["GPU"] for b in placement.ray_bundles()] == [1, 1, 1, 1]
    nodes = [{"CPU": 16, "GPU": 4}]
    assert fit(placement, nodes).nodes == [0, 0, 0, 0]
    # Four GPUs hold three engines and the learner; a fourth engine does not fit.
    with pytest.raises(ValueError, match=r"GPU: 1\} on one node.*took \{CPU: \d+, GPU: 4\}"):
        fit(plan_placement(Cfg(ray_workers=4, ray_gpus=True, ray_learner_gpus=1)), nodes)


def test_engines_sharing_a_gpu_get_fractions_that_pack_within_one_device():
    cfg = Cfg(ray_workers=4, ray_gpus=True, ray_engines_per_gpu=2, ray_learner_gpus=1)
    placement = plan_placement(cfg)
    assert [b.resources["GPU"] for b in placement.bundles] == [0.5, 0.5, 0.5, 0.5, 1.0]
    assert fit(placement, [{"CPU": 8, "GPU": 3}]).nodes == [0] * 5
    with pytest.raises(ValueError):  # 4 halves + a whole GPU need 3 GPUs
        fit(placement, [{"CPU": 8, "GPU": 2}])


def test_tensor_parallel_engines_stay_within_one_node():
    cfg = Cfg(ray_workers=2, ray_gpus=True, ray_tensor_parallel_size=4, ray_learner_gpus=1)
    placement = plan_placement(cfg)
    assert [b.resources["GPU"] for b in placement.bundles] == [4, 4, 1]
    two_nodes = [{"CPU": 32, "GPU": 8}, {"CPU": 32, "GPU": 8}]
    result = fit(placement, two_nodes)
    assert result.nodes == [0, 0, 1]  # the learner's GPU does not fit next to two 4-GPU engines
    # Eight GPUs in all but only two per node: a 4-GPU engine fits nowhere.
    with pytest.raises(ValueError, match="rollout/0 needs"):
        fit(placement, [{"CPU": 8, "GPU": 2}] * 4)


def test_spread_puts_each_worker_on_its_own_node():
    cfg = Cfg(ray_workers=3, ray_gpus=True, ray_learner_actor=False, ray_strategy="SPREAD")
    nodes = [{"CPU": 8, "GPU": 1}] * 3
    assert fit(plan_placement(cfg), nodes).nodes == [0, 1, 2]
    strict = Cfg(
        ray_workers=3, ray_gpus=True, ray_learner_actor=False, ray_strategy="STRICT_SPREAD"
    )
    with pytest.raises(ValueError):
        fit(plan_placement(strict), [{"CPU": 8, "GPU": 4}] * 2)


def test_learner_in_the_driver_reserves_no_bundle():
    placement = plan_placement(Cfg(ray_workers=2, ray_learner_actor=False))
    assert placement.roles == [worker_role(0), worker_role(1)]
    with pytest.raises(KeyError):
        placement.index(LEARNER_ROLE)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ray_workers": 0}, "ray_workers must be >= 1"),
        ({"ray_engines_per_gpu": 2}, "need ray_gpus"),
        ({"ray_gpus": True, "ray_engines_per_gpu": 2, "ray_tensor_parallel_size": 2}, "not both"),
        ({"ray_strategy": "ANYWHERE"}, "unknown ray_strategy"),
        ({"ray_learner_gpus": 1.5}, "whole number"),
    ],
)
def test_bad_configs_say_what_to_change(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plan_placement(Cfg(**kwargs))


def test_remote_backend_needs_one_server_per_worker_and_reserves_no_gpu():
    cfg = Cfg(ray_workers=2)
    with pytest.raises(ValueError, match="needs 2 base_url values"):
        plan_placement(cfg, backend="remote", base_urls=("http://a:8000",))
    urls = ("http://a:8000", "http://b:8000")
    assert all("GPU" not in b for b in plan_placement(cfg, "remote", urls).ray_bundles())


def test_describe_names_role_resources_and_node():
    placement = plan_placement(Cfg(ray_workers=1, ray_gpus=True, ray_learner_gpus=1))
    lines = describe(placement, ["n1", "n2"])
    assert lines == [
        "rollout/0: {CPU: 1, GPU: 1} on node n1",
        "learner: {CPU: 1, GPU: 1} on node n2",
    ]


def test_trainer_config_carries_ray_mode_and_remote_backend_flat():
    from trainers.config import ConfigError, TrainerConfig

    cfg = TrainerConfig.build(ray_address="auto", ray_workers=3, ray_gpus=True)
    assert cfg.distributed.enabled and not TrainerConfig().distributed.enabled
    flat = cfg.to_dict()
    assert flat["ray_address"] == "auto" and flat["ray_workers"] == 3 and flat["ray"] is False
    assert TrainerConfig.from_dict(flat).distributed == cfg.distributed
    with pytest.raises(ConfigError, match="ray_workers must be >= 1"):
        TrainerConfig.build(ray=True, ray_workers=0).validate()
    with pytest.raises(ConfigError, match="needs --base-url"):
        TrainerConfig.build(backend="remote").validate()
    with pytest.raises(ConfigError, match="for backend=remote only"):
        TrainerConfig.build(base_url=("http://127.0.0.1:8000",)).validate()
    with pytest.raises(ConfigError, match="needs 2 base_url values"):
        TrainerConfig.build(
            ray=True, backend="remote", base_url=("http://127.0.0.1:8000",)
        ).validate()
    TrainerConfig.build(backend="remote", base_url=("http://127.0.0.1:8000",)).validate()
