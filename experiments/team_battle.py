"""Team battle: two teams of LoRA agents in `team_quiz_v0`; teammates share an adapter, teams are
zero-sum, and the learning team meets its own snapshots and scripted teams through the league."""

from __future__ import annotations

from pathlib import Path

from experiments import cli
from trainers.config import TrainerConfig

# Why this recipe (its measured runs: docs/benchmarks.md, "The default run"):
# - turn_ema with gamma 0: the quiz scores question by question, so each answer (and proposal)
#   is credited with its own question's result, not with the other question's noise.
# - move values with sharp targets (q_target_temperature 0.05 on values 0.5 apart): nobody sees
#   a captain's answer before its question resolves, so the answer not played is valued exactly
#   and the captain learns a cross-entropy on the right answer instead of one sampled reward.
# - share role: the captains' adapter holds their targets alone, free of the proposers' noisier
#   policy gradient (a proposer's reward is the captain's answer, not its proposal).
# - evaluation at step 0 and at the end only, 100 games a bot (a 95% interval of +-0.1), played
#   greedily (temperature 0, as Stable-Baselines3's evaluate_policy): a quiz question has one
#   right answer, so the deployed policy is the greedy one; training samples at temperature 1.
#   The KL is logged every 8th update, not penalised. Both keep the run short on a 2-core CPU.
DEFAULT = TrainerConfig.build(
    experiment="team_battle", env_id="team_quiz_v0",
    env_kwargs={"questions": 2, "kinds": ["larger", "smaller"]}, mode="team_battle",
    share="role", temperature=1.0, lr=2e-3, kl_coef=0.0, kl_every=8, advantage="turn_ema",
    gamma=0.0, move_values=True, q_target_coef=1.0, q_target_temperature=0.05,
    games_per_iteration=8, iterations=16, eval_every=16, eval_games=100, final_eval_games=100,
    eval_temperature=0.0,
)  # fmt: skip

PRESETS = {
    "default": DEFAULT,
    "smoke": DEFAULT.replace(
        model="tiny", iterations=2, games_per_iteration=4, max_new_tokens=8, eval_every=2,
        eval_games=2, final_eval_games=2, checkpoint_every=1, env_kwargs={"questions": 1},
        max_model_len=1024,
    ),
    "gpu": DEFAULT.replace(
        model="Qwen/Qwen2.5-1.5B-Instruct", games_per_iteration=64, iterations=200,
        learner_dtype="bfloat16", env_kwargs={"questions": 5}, micro_batch_size=16,
    ),
}  # fmt: skip


def main(cfg: TrainerConfig) -> Path:
    return cli.run(cfg)


if __name__ == "__main__":
    main(cli.parse(PRESETS, __doc__, prog="python -m experiments.team_battle"))
