"""Learning on a foreign game: OpenSpiel's own exploitability of the trained adapter over
iterations, on an OpenSpiel two-player zero-sum game (`openspiel/kuhn_poker` by default).

    python benchmarks/foreign_learning.py                       # default model, Kuhn (long run)
    python benchmarks/foreign_learning.py --model tiny --iterations 1    # plumbing check

The adapter's policy is read exactly from the learner (no sampling noise): at every information
state of the game (`envs.openspiel.exploitability.decision_points`), the env is replayed to that
state (forced chance outcomes, then the moves before it) and the chat the rollout would build is
scored for each legal move (`trainers.learn.probe.move_probabilities`). OpenSpiel's
`exploitability` of that policy is printed at every probe, with uniform play's as the
yardstick, and written to `learning_foreign.csv` in the run directory.
"""

from __future__ import annotations

import argparse
import csv
import logging
import time
from pathlib import Path
from typing import Any

import envs
from agents.conversation import Conversation, user_turn_text
from envs.openspiel.exploitability import decision_points, exploitability, uniform_policy
from trainers.config import TrainerConfig
from trainers.learn.probe import completion_ids, move_probabilities


def prompt_at(env_id: str, point, tokenizer: Any) -> list[int]:
    """The prompt of `point.agent` at `point`, its chat built as the rollout builds it."""
    env = envs.make(env_id, forced_chance=point.chance)
    env.reset(seed=0)
    chats: dict[str, Conversation] = {}
    moves = iter(point.moves_before)
    for agent in env.agent_iter():
        _, _, term, trunc, info = env.last()
        if term or trunc:
            break
        chat = chats.setdefault(agent, Conversation(tokenizer))
        prompt = chat.add_user(user_turn_text(info, first=not chat.turns))
        move = next(moves, None)
        if move is None:
            reached = info["view"]["info_set"]
            if reached != point.key:
                raise RuntimeError(f"replay reached {reached!r}, not {point.key!r}")
            return prompt
        ids = completion_ids(tokenizer, move)
        chat.add_completion(ids, (0.0,) * len(ids), move)
        env.step(move)
    raise RuntimeError(f"replay of {point.key!r} ended the game")


def policy_table(learner: Any, adapter: str, tokenizer: Any, game: str) -> dict:
    env_id = f"openspiel/{game}"
    return {
        p.key: move_probabilities(
            learner, adapter, prompt_at(env_id, p, tokenizer), list(p.legal_moves), tokenizer
        )
        for p in decision_points(game, text=False)
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--game", default="kuhn_poker", help="a two-player zero-sum OpenSpiel game")
    p.add_argument("--model", default="default")
    p.add_argument("--iterations", type=int, default=60)
    p.add_argument("--games", type=int, default=32, help="games per iteration")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--temperature", type=float, default=2.0)
    p.add_argument("--probe-every", type=int, default=2)
    p.add_argument("--learner-dtype", default="bfloat16")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/benchmarks"))
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from trainers.selfplay import SelfPlayTrainer

    fields = dict(
        experiment="bench_foreign", env_id=f"openspiel/{args.game}", mode="competitive",
        share="all", bots=("random",), matchmaking="pfsp", snapshot_every=5, eval_every=0,
        max_new_tokens=8, lr=args.lr, kl_coef=1e-4, model=args.model,
        iterations=args.iterations, seed=args.seed, runs_dir=str(args.out),
        checkpoint_every=max(args.iterations, 1), progress=False,
        games_per_iteration=args.games, temperature=args.temperature,
        learner_dtype=args.learner_dtype,
    )  # fmt: skip
    cfg = TrainerConfig.build(**fields)
    iterations = args.iterations
    uniform = exploitability(args.game, uniform_policy(args.game))
    trainer = SelfPlayTrainer(cfg)
    trainer.setup()
    rows: list[dict] = []
    start = time.time()

    def probe() -> None:
        table = policy_table(trainer.learner, trainer.adapters[0], trainer.learner.tokenizer,
                             args.game)  # fmt: skip
        value = exploitability(args.game, table)
        row = {"step": trainer.step, "seconds": round(time.time() - start, 1),
               "exploitability": value}  # fmt: skip
        rows.append(row)
        print(f"step {trainer.step:3d}  exploitability {value:.4f}  "
              f"(uniform play {uniform:.4f})", flush=True)  # fmt: skip

    def after_iteration(_metrics: object = None) -> None:
        if trainer.step % args.probe_every == 0 or trainer.step == iterations:
            probe()

    try:
        probe()
        trainer.run(on_iteration=after_iteration)  # checkpoints on the config's schedule
    finally:
        trainer.close()
    out = Path(trainer.run_dir) / "learning_foreign.csv"
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["step", "seconds", "exploitability"])
        writer.writeheader()
        writer.writerows(rows)
    first, last = rows[0], rows[-1]
    print(f"\nopenspiel/{args.game}: exploitability {first['exploitability']:.4f} (step "
          f"{first['step']}) -> {last['exploitability']:.4f} (step {last['step']}); uniform "
          f"{uniform:.4f}; curve in {out}")  # fmt: skip


if __name__ == "__main__":
    main()
