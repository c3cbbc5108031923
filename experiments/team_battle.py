"""Team battle: two teams of LoRA agents in `team_quiz_v0`; teammates share an adapter, teams are
zero-sum, and the learning team meets its own snapshots and scripted teams through the league."""

from __future__ import annotations

from pathlib import Path

from experiments import cli
from trainers.config import TrainerConfig

# The quiz scores question by question: turn_ema with gamma 0 credits each answer (and each
# proposal) with its own question's result, not with the other question's noise. A captain's
# answer is seen by nobody before its question resolves, so the rollout values the answer not
# played exactly (move values, `trainers.counterfactual`), and the captain learns from a sharp
# target toward the better answer (q_target_temperature 0.05 on values 0.5 apart: a
# cross-entropy on the right answer) instead of one sampled reward. The captains have an
# adapter of their own (share role): their updates then hold the targets alone, and the
# proposers' sampled policy gradient (whose reward is the captain's answer, not the proposal)
# no longer adds noise to the comparison the captain is learning; with one adapter for both
# seats it had not turned by update 16 (docs/benchmarks.md). Temperature 1 (the learner scores
# under it), lr 2e-3. Evaluation: 100 games a bot at step 0 (the untrained adapters) and at the
# end, where a 95% interval of +-0.1 tells learning from noise; none in between, and the KL
# (logged, not penalised) measured every 8th update, to keep the run within 15 minutes on a
# 2-core CPU (docs/benchmarks.md). Evaluation games play the greedy policy (temperature 0, as
# Stable-Baselines3's evaluate_policy does by default): a quiz question has one right answer,
# so the policy a user would deploy is the greedy one; training still samples at temperature 1.
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
