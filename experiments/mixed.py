"""Mixed motives: two adapters play the iterated prisoner's dilemma (`prisoners_dilemma_v0`), a
message before each move, sharing part of their reward with each other (the payoff mix l), and
meet tit-for-tat, always-defect and random players who share nothing."""

from __future__ import annotations

from pathlib import Path

from experiments import cli
from trainers.config import TrainerConfig

# The two adapters share reward with each other (l moves from 0.5 to 0 over the run: below about
# 0.2 cooperation pays whatever the other does), but not with outsiders: half the training games
# put one of the panel's scripted players in a seat (partners), and those games pay each seat its
# own score (`trainers.league.modes`), so what is learned against a defector is to defect. The
# panel's references are played in evaluation, 100 games each at the start and the end: the
# learner's raw score per round beside tit-for-tat's own (`trainers.league.mode_eval`). Messages
# are decoded within the `[say ...]` format (the game's `move_format`). lr 2e-3 and episode
# returns (gamma 1): a move's worth includes the reply it provokes in the next round. An adapter
# per seat: one shared adapter (share all) learned to defect in every seat while l was above 0.2
# (docs/benchmarks.md, "Every mode from its own command", where the pair's cooperation is open).
DEFAULT = TrainerConfig.build(
    experiment="mixed", env_id="prisoners_dilemma_v0", env_kwargs={"rounds": 3}, mode="mixed",
    share="agent", mix_start=0.5, mix_end=0.0, bots=(),
    partners=("tit_for_tat", "always_defect", "random"), partner_share=0.5, lr=2e-3, kl_coef=0.0,
    iterations=16, games_per_iteration=16, eval_every=8, eval_games=16, final_eval_games=100,
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
