"""Mixed motives: two adapters play the iterated prisoner's dilemma (`prisoners_dilemma_v0`) with a
message before each move; the payoff mix l anneals from selfish (1.0) towards shared (0.5)."""

from __future__ import annotations

from pathlib import Path

from experiments import cli
from trainers.config import TrainerConfig

DEFAULT = TrainerConfig.build(
    experiment="mixed", env_id="prisoners_dilemma_v0", env_kwargs={"rounds": 3}, mode="mixed",
    share="agent", mix_start=1.0, mix_end=0.5, bots=(), eval_every=5, eval_games=16,
    final_eval_games=100,
)  # fmt: skip

PRESETS = {
    "default": DEFAULT,
    "smoke": DEFAULT.replace(
        model="tiny", iterations=2, games_per_iteration=4, max_new_tokens=8, checkpoint_every=1,
        env_kwargs={"rounds": 1}, max_model_len=1024, eval_every=2, eval_games=2,
        final_eval_games=2,
    ),
    "gpu": DEFAULT.replace(
        model="Qwen/Qwen2.5-1.5B-Instruct", games_per_iteration=64, iterations=200,
        learner_dtype="bfloat16", micro_batch_size=16, env_kwargs={"rounds": 5},
    ),
}  # fmt: skip


def main(cfg: TrainerConfig) -> Path:
    return cli.run(cfg)


if __name__ == "__main__":
    main(cli.parse(PRESETS, __doc__, prog="python -m experiments.mixed"))
