"""Cooperative: a speaker and a listener (`signal_v0`) learn to communicate; each role has its own
adapter, and both get the group's reward."""

from __future__ import annotations

from pathlib import Path

from experiments import cli
from trainers.config import TrainerConfig

DEFAULT = TrainerConfig.build(
    experiment="cooperative", env_id="signal_v0", mode="cooperative", share="agent", bots=(),
    eval_every=0,
)  # fmt: skip

PRESETS = {
    "default": DEFAULT,
    "smoke": DEFAULT.replace(
        model="tiny", iterations=2, games_per_iteration=4, max_new_tokens=8, checkpoint_every=1,
        max_model_len=1024,
    ),
    "gpu": DEFAULT.replace(
        model="Qwen/Qwen2.5-1.5B-Instruct", games_per_iteration=64, iterations=200,
        learner_dtype="bfloat16", micro_batch_size=16,
    ),
}  # fmt: skip


def main(cfg: TrainerConfig) -> Path:
    return cli.run(cfg)


if __name__ == "__main__":
    main(cli.parse(PRESETS, __doc__, prog="python -m experiments.cooperative"))
