"""Competitive self-play: one adapter learns Kuhn poker (`kuhn_poker_v0`) against itself and its
snapshots, chosen by prioritised fictitious self-play (zero-sum rewards)."""

from __future__ import annotations

from pathlib import Path

from experiments import cli
from trainers.config import TrainerConfig

# The critic's per-state targets (decision_q + q_target_coef) at lr 2e-3, in pure self-play
# (snapshots, no bots), 4 passes over each update's samples (epochs) in a trust region of mean
# KL 0.1 at the update's decision states, Adam without momentum (betas 0, 0.999: the targets
# move with the opponent). Without the epochs the adapter follows the common part of the targets
# and loses the card; without the trust region one step can swing the whole policy. Temperature
# 2 keeps the chat model exploring both moves. No KL penalty toward the base model (kl_coef 0,
# which the adaptive controller keeps at 0): the base model is card-blind, so a policy that
# plays the card is far from it, and from kl_coef 1e-4 the controller doubled the coefficient
# to 0.8-10 by update 17-25, which pulled the adapter back to card-blind play. The measure is
# exact exploitability, read from the learner every 5 updates (`trainers.league.mode_eval`): of
# the last iterate and of the meta-strategy (the Nash of the restricted game among the kept
# snapshots and the last iterate); with no bots in the league there are no win rates. 62
# iterations fill the mode's 45 minutes on 2 cores (docs/benchmarks.md, "Every mode ...").
DEFAULT = TrainerConfig.build(
    experiment="competitive", env_id="kuhn_poker_v0", mode="competitive", share="all", bots=(),
    matchmaking="pfsp", snapshot_every=5, eval_every=5, advantage="decision_q",
    q_target_coef=1.0, lr=2e-3, betas=(0.0, 0.999), epochs=4, trust_region_kl=0.1,
    iterations=62, games_per_iteration=32, temperature=2.0, learner_dtype="bfloat16",
    kl_coef=0.0, max_new_tokens=8,
)  # fmt: skip

PRESETS = {
    "default": DEFAULT,
    # The bots join so that a two-iteration run meets opponents other than itself and plays the
    # step-0 and final evaluations: the plumbing the recipe's pure self-play leaves unused.
    "smoke": DEFAULT.replace(
        model="tiny", iterations=2, games_per_iteration=4, bots=("random", "strong"),
        eval_every=2, eval_games=2, checkpoint_every=1, max_model_len=1024,
    ),
    "gpu": DEFAULT.replace(
        model="Qwen/Qwen2.5-0.5B-Instruct", games_per_iteration=128, iterations=300,
        micro_batch_size=32,
    ),
}  # fmt: skip


def main(cfg: TrainerConfig) -> Path:
    return cli.run(cfg)


if __name__ == "__main__":
    main(cli.parse(PRESETS, __doc__, prog="python -m experiments.competitive"))
