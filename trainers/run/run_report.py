"""`report.json`: what a run was (experiment, game, model, device) and how fast it went."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

__all__ = ["run_report"]

#: The `trainers.selfplay.SelfPlayTrainer` (not imported: the trainer imports this module).
Trainer = Any


def run_report(trainer: Trainer) -> dict[str, Any]:
    from agents.models import describe_model

    cfg = trainer.config
    stats = trainer.rollout.stats
    publish = trainer.server.publish_seconds
    timer = trainer.timer
    return {
        "experiment": cfg.game.experiment,
        "env_id": cfg.game.env_id,
        "mode": cfg.game.mode,
        "seed": cfg.run.seed,
        "model": str(trainer.model_path),
        "model_info": describe_model(trainer.model_path),
        "device": trainer.plan.device,
        "run_dir": str(trainer.run_dir),
        "iterations": trainer.step,
        "episodes": trainer.fixtures.episodes_done,
        "weight_updates": trainer.weight_updates,
        "players": trainer.league.standings(),
        "performance": {
            "rollout_tokens_per_s": stats.tokens_per_s,
            "games_per_s": stats.games / stats.seconds if stats.seconds else 0.0,
            "mean_llm_batch": float(np.mean(stats.per_call_batch or [0])),
            "publish_latency_ms_mean": 1e3 * float(np.mean(publish)) if publish else None,
            "wall_seconds": time.time() - trainer.started,
            "seconds_per_iteration": {
                k: v / max(timer.laps, 1) for k, v in timer.summary().items()
            },
        },
    }
