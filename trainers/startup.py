"""The trainer's two heavy parts, started in this process from the config: the policy server
(vLLM, transformers, or a remote server the user runs) and the learner.

Ray runs start them as actors instead (`trainers.distributed.launch`); the league loop in
`trainers.selfplay` talks to either through the same API.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainers.config import TrainerConfig
from trainers.run.resources import ResourcePlan

__all__ = ["engine_cores", "start_learner", "start_server"]

log = logging.getLogger(__name__)


def start_server(
    cfg: TrainerConfig,
    model_path: str | os.PathLike[str],
    adapters: Sequence[str],
    plan: ResourcePlan,
    store_dir: Path,
):
    """The policy server `cfg.serving.backend` names, serving `model_path` with room for every
    adapter; published versions go to `store_dir`."""
    from agents.serving import make_policy_server

    kwargs: dict[str, Any] = {
        "model": model_path,
        "max_model_len": cfg.serving.max_model_len,
        # Published versions live in the run folder (removed at close, and by the next start
        # in this folder if a kill left them), never in the system temp dir.
        "store_dir": store_dir,
    }
    if cfg.serving.backend == "remote":  # a server the user runs (`python -m agents.serving`)
        server = make_policy_server("remote", base_url=cfg.serving.base_url[0], wait_ready=300)
        if server.model_path.resolve() != Path(model_path).resolve():
            log.warning(
                "the server at %s serves %s, the learner trains %s: log-probs will not agree",
                server.base_url, server.model_path, model_path,
            )  # fmt: skip
        return server
    if cfg.serving.backend == "vllm":
        kwargs.update(
            dtype=cfg.serving.dtype,
            max_loras=max(cfg.serving.max_loras, len(adapters)),
            max_lora_rank=cfg.learn.lora_rank,
            kv_cache_gib=plan.kv_cache_gib,
            seed=cfg.run.seed,
            cpu_cores=engine_cores(plan.device, cfg.rollout.async_rollout),
        )
    return make_policy_server(cfg.serving.backend, **kwargs)


def engine_cores(device: str, async_rollout: bool) -> list[int] | None:
    """Every core this process may use, for the engine on a CPU when the loop is sync: the
    learner and the engine then take turns, so neither needs a core kept from the other
    (vLLM's default keeps one of two for its scheduler: generation 1.4-2x slower). Async
    rollout runs both at once: vLLM's own split."""
    if device != "cpu" or async_rollout:
        return None
    affinity = getattr(os, "sched_getaffinity", None)
    return sorted(affinity(0)) if affinity else None


def start_learner(
    cfg: TrainerConfig, model_path: str | os.PathLike[str], adapters: Sequence[str], device: str
):
    """The learner: one base model, one LoRA adapter per name in `adapters`."""
    from trainers.learn.learner import Learner

    return Learner(
        model_path,
        adapters,
        cfg.learn.lora_settings(),
        cfg.learn.learner_config(cfg.rollout.temperature, device=device),
        seed=cfg.run.seed,
    )
