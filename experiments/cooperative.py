"""Cooperative: a speaker and a listener (`signal_v0`) learn to communicate; each role has its own
adapter, both get the group's reward, and each learns beside a partner bot that plays the game's
convention."""

from __future__ import annotations

from pathlib import Path

from experiments import cli
from trainers.config import TrainerConfig

# The speaker clues one of 4 words, the listener picks it. Free-text clues teach nothing here:
# the untrained speaker rarely writes a `[clue word]`, and a batch of equal (forfeited) returns
# has no signal. With clue_choices the speaker picks among the candidates' categories. The
# listener's pick ends the game, so the rollout values each of its picks exactly (move_values)
# and it learns from those targets (q_target_coef). The listener reads the clue, so a replay
# that repeated its real pick would value every clue the same: with fresh_replies each other
# clue is valued by the listener's own answer to it in a copy of the game, and the speaker
# learns from targets too, not from one sampled reward. Alone the two roles are a chicken and
# egg (a listener that ignores clues makes every clue worth the same; a speaker whose clues say
# nothing teaches the listener nothing), so in every training game one seat, drawn at random,
# is a partner bot playing the convention (the category speaker or listener; partner_share 1).
# The measure is the success rate of the two adapters playing each other, without partners, and
# of each beside the partner (`trainers.league.mode_eval`): 100 games at the start and the end,
# 32 every 5 updates between.
DEFAULT = TrainerConfig.build(
    experiment="cooperative", env_id="signal_v0", env_kwargs={"clue_choices": True},
    mode="cooperative", share="agent", bots=(), eval_every=5, eval_games=32, final_eval_games=100,
    partners=("strong",),
    partner_share=1.0, move_values=True, fresh_replies=True, q_target_coef=1.0, temperature=1.0,
    lr=2e-3, kl_coef=0.0, iterations=20, games_per_iteration=32, learner_dtype="bfloat16",
    max_new_tokens=8,
)  # fmt: skip

PRESETS = {
    "default": DEFAULT,
    "smoke": DEFAULT.replace(
        model="tiny", iterations=2, games_per_iteration=4, checkpoint_every=1, max_model_len=1024,
        eval_every=2, eval_games=2, final_eval_games=2,
    ),
    "gpu": DEFAULT.replace(
        model="Qwen/Qwen2.5-1.5B-Instruct", games_per_iteration=64, iterations=200,
        micro_batch_size=16,
    ),
}  # fmt: skip


def main(cfg: TrainerConfig) -> Path:
    return cli.run(cfg)


if __name__ == "__main__":
    main(cli.parse(PRESETS, __doc__, prog="python -m experiments.cooperative"))
