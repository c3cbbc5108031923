"""Competitive self-play: one adapter learns Kuhn poker (`kuhn_poker_v0`) against itself, its
snapshots and the scripted bots, chosen by prioritised fictitious self-play (zero-sum rewards)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from experiments import cli
from trainers.config import TrainerConfig


@dataclass
class CompetitiveConfig(TrainerConfig):
    """Competitive self-play in a league."""

    experiment: str = "competitive"
    env_id: str = "kuhn_poker_v0"
    mode: str = "competitive"
    share: str = "all"
    max_new_tokens: int = 8
    games_per_iteration: int = 32
    temperature: float = 2.0
    lr: float = 5e-4


PRESETS = {
    "default": CompetitiveConfig(),
    "smoke": CompetitiveConfig(
        model="tiny", iterations=2, games_per_iteration=4, eval_every=2, eval_games=2,
        checkpoint_every=1, max_model_len=1024,
    ),
    "gpu": CompetitiveConfig(
        model="Qwen/Qwen2.5-0.5B-Instruct", games_per_iteration=128, iterations=300,
        learner_dtype="bfloat16", micro_batch_size=32,
    ),
}  # fmt: skip


def main(cfg: CompetitiveConfig) -> Path:
    return cli.run(cfg)


if __name__ == "__main__":
    main(cli.parse(PRESETS, __doc__, prog="python -m experiments.competitive"))
