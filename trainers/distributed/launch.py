"""Ray mode of `SelfPlayTrainer`: the fleet a trainer's config asks for.

The trainer keeps the league, matchmaking, ratings, monitoring and checkpoints in the driver and
talks to the fleet through the interfaces it uses in a single process: `server` (publish, hold,
release, export), `rollout` (`play(matches)`) and `learner` (the learner's methods).
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.serving.types import SamplingSettings
from trainers.distributed.cluster import Fleet, start_fleet
from trainers.distributed.workers import WorkerSpec

if TYPE_CHECKING:
    from trainers.selfplay import SelfPlayTrainer

log = logging.getLogger(__name__)


def worker_spec(trainer: SelfPlayTrainer) -> WorkerSpec:
    cfg = trainer.config
    serving = cfg.serving
    kwargs: dict[str, Any] = {}
    if serving.backend in ("vllm", "hf"):
        kwargs = {"model": str(trainer.model_path), "max_model_len": serving.max_model_len}
    if serving.backend == "vllm":
        kwargs.update(
            dtype=serving.dtype,
            max_loras=max(serving.max_loras, len(trainer.adapters)),
            max_lora_rank=cfg.learn.lora_rank,
            kv_cache_gib=trainer.plan.kv_cache_gib,
            seed=cfg.run.seed,
        )
        if cfg.distributed.ray_gpus and cfg.distributed.ray_engines_per_gpu > 1:
            kwargs["gpu_memory_utilization"] = 0.85 / cfg.distributed.ray_engines_per_gpu
    if serving.backend == "remote":
        kwargs = {"wait_ready": 300.0}
    return WorkerSpec(
        backend=serving.backend,
        server_kwargs=kwargs,
        env_id=cfg.game.env_id,
        env_kwargs=dict(cfg.game.env_kwargs),
        payoff=trainer.mode.payoff,
        sampling=SamplingSettings(
            temperature=cfg.rollout.temperature, max_tokens=cfg.rollout.max_new_tokens
        ),
        constrained=cfg.rollout.constrained,
        base_urls=tuple(serving.base_url),
        env_vars={k: v for k, v in os.environ.items() if k.startswith("LORA_LEAGUE_")},
    )


def learner_factory(trainer: SelfPlayTrainer) -> functools.partial:
    """Builds the learner inside its actor (on the actor's GPU when it has one)."""
    from trainers.learn.learner import Learner

    cfg = trainer.config
    device = "cuda" if cfg.distributed.ray_learner_gpus > 0 else "cpu"
    return functools.partial(
        Learner,
        trainer.model_path,
        list(trainer.adapters),
        cfg.learn.lora_settings(),
        cfg.learn.learner_config(cfg.rollout.temperature, device=device),
        seed=cfg.run.seed,
    )


def launch(trainer: SelfPlayTrainer, store_dir: Path) -> Fleet:
    """Join or start the cluster, place the roles, start the workers and the learner actor."""
    cfg = trainer.config.distributed
    factory = learner_factory(trainer) if cfg.ray_learner_actor else None
    return start_fleet(cfg, worker_spec(trainer), trainer.model_path, factory, store_dir)
