"""Ray mode of `SelfPlayTrainer`: the fleet a trainer's config asks for.

The trainer keeps the league, matchmaking, ratings, monitoring and checkpoints in the driver and
talks to the fleet through the interfaces it uses in a single process: `server` (publish, hold,
release, export), `rollout` (`play(matches)`) and `learner` (the learner's methods).
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.serving.types import SamplingSettings
from trainers.config import TrainerConfig
from trainers.distributed.cluster import Fleet, start_fleet
from trainers.distributed.workers import WorkerSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunFacts:
    """What the trainer has worked out before the fleet starts."""

    model_path: Path
    adapters: tuple[str, ...]
    payoff: str | None
    kv_cache_gib: float | None


def worker_spec(cfg: TrainerConfig, facts: RunFacts) -> WorkerSpec:
    serving = cfg.serving
    kwargs: dict[str, Any] = {}
    if serving.backend in ("vllm", "hf"):
        kwargs = {"model": str(facts.model_path), "max_model_len": serving.max_model_len}
    if serving.backend == "vllm":
        kwargs.update(
            dtype=serving.dtype,
            max_loras=max(serving.max_loras, len(facts.adapters)),
            max_lora_rank=cfg.learn.lora_rank,
            kv_cache_gib=facts.kv_cache_gib,
            seed=cfg.run.seed,
        )
        if cfg.distributed.ray_gpus and cfg.distributed.ray_engines_per_gpu > 1:
            kwargs["gpu_memory_utilization"] = 0.85 / cfg.distributed.ray_engines_per_gpu
        if cfg.distributed.ray_tensor_parallel_size > 1:
            kwargs["tensor_parallel_size"] = cfg.distributed.ray_tensor_parallel_size
    if serving.backend == "remote":
        kwargs = {"wait_ready": 300.0}
    return WorkerSpec(
        backend=serving.backend,
        server_kwargs=kwargs,
        env_id=cfg.game.env_id,
        env_kwargs=dict(cfg.game.env_kwargs),
        payoff=facts.payoff,
        sampling=SamplingSettings(
            temperature=cfg.rollout.temperature, max_tokens=cfg.rollout.max_new_tokens
        ),
        constrained=cfg.rollout.constrained,
        move_values=cfg.rollout.move_values,
        fresh_replies=cfg.rollout.fresh_replies,
        base_urls=tuple(serving.base_url),
        env_vars={k: v for k, v in os.environ.items() if k.startswith("LORA_LEAGUE_")},
    )


def learner_factory(cfg: TrainerConfig, facts: RunFacts) -> functools.partial:
    """Builds the learner inside its actor (on the actor's GPU when it has one)."""
    from trainers.learn.learner import Learner

    device = "cuda" if cfg.distributed.ray_learner_gpus > 0 else "cpu"
    return functools.partial(
        Learner,
        facts.model_path,
        list(facts.adapters),
        cfg.learn.lora_settings(),
        cfg.learn.learner_config(cfg.rollout.temperature, device=device),
        seed=cfg.run.seed,
    )


def launch(cfg: TrainerConfig, facts: RunFacts, store_dir: Path) -> Fleet:
    """Join or start the cluster, place the roles, start the workers and the learner actor."""
    factory = learner_factory(cfg, facts) if cfg.distributed.ray_learner_actor else None
    spec = worker_spec(cfg, facts)
    return start_fleet(cfg.distributed, spec, facts.model_path, factory, store_dir)
