"""Mixed motives: two adapters play the iterated prisoner's dilemma (`prisoners_dilemma_v0`) with a
message before each move; the payoff mix l anneals from selfish (1.0) towards shared (0.5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments import cli
from trainers.config import TrainerConfig


@dataclass
class MixedConfig(TrainerConfig):
    """Mixed-motive training with a schedule over the payoff mix."""

    experiment: str = "mixed"
    env_id: str = "prisoners_dilemma_v0"
    env_kwargs: dict[str, Any] = field(default_factory=lambda: {"rounds": 3})
    mode: str = "mixed"
    share: str = "agent"
    mix_start: float = 1.0
    mix_end: float = 0.5
    bots: tuple[str, ...] = ()
    eval_every: int = 0


PRESETS = {
    "default": MixedConfig(),
    "smoke": MixedConfig(
        model="tiny", iterations=2, games_per_iteration=4, max_new_tokens=8, checkpoint_every=1,
        env_kwargs={"rounds": 1}, max_model_len=1024,
    ),
    "gpu": MixedConfig(
        model="Qwen/Qwen2.5-1.5B-Instruct", games_per_iteration=64, iterations=200,
        learner_dtype="bfloat16", micro_batch_size=16, env_kwargs={"rounds": 5},
    ),
}  # fmt: skip


def main(cfg: MixedConfig) -> Path:
    return cli.run(cfg)


if __name__ == "__main__":
    main(cli.parse(PRESETS, __doc__, prog="python -m experiments.mixed"))
