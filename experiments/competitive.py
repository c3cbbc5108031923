"""Competitive self-play: one adapter learns Kuhn poker (`kuhn_poker_v0`) against itself, its
snapshots and the scripted bots, chosen by prioritised fictitious self-play (zero-sum rewards)."""

from __future__ import annotations

from pathlib import Path

from experiments import cli
from trainers.config import TrainerConfig

DEFAULT = TrainerConfig.build(
    experiment="competitive", env_id="kuhn_poker_v0", mode="competitive", share="all",
    max_new_tokens=8, games_per_iteration=32, temperature=2.0, lr=5e-4,
)  # fmt: skip

PRESETS = {
    "default": DEFAULT,
    "smoke": DEFAULT.replace(
        model="tiny", iterations=2, games_per_iteration=4, eval_every=2, eval_games=2,
        checkpoint_every=1, max_model_len=1024,
    ),
    "gpu": DEFAULT.replace(
        model="Qwen/Qwen2.5-0.5B-Instruct", games_per_iteration=128, iterations=300,
        learner_dtype="bfloat16", micro_batch_size=32,
    ),
}  # fmt: skip


def main(cfg: TrainerConfig) -> Path:
    return cli.run(cfg)


if __name__ == "__main__":
    main(cli.parse(PRESETS, __doc__, prog="python -m experiments.competitive"))
