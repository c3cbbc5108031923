"""Learning benchmarks: does the trainer really learn? Each prints its curve and the change from
the untrained adapter measured in the same run.

    python benchmarks/learning.py rps            # RPS vs a rock-biased bot: return -> best exploit
    python benchmarks/learning.py kuhn           # Kuhn self-play league: exploitability falls
    python benchmarks/learning.py team_battle    # team quiz: win rate vs the scripted teams rises
    python benchmarks/learning.py rps --model tiny --iterations 3    # a quick plumbing check

Defaults use the embedded SmolLM2-135M-Instruct on the CPU. Curves go to `--out` (CSV + PNG).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from pathlib import Path

from agents.scripted.rps import BiasedBot
from envs.kuhn_poker.theory import UNIFORM_EXPLOITABILITY
from trainers.config import TrainerConfig
from trainers.run import layout as rf

# Always paper against the biased bot earns P(rock) - P(scissors) = p_rock per round.
BEST_RPS_EXPLOIT = BiasedBot.p_rock
UNIFORM_KUHN_EXPLOITABILITY = float(UNIFORM_EXPLOITABILITY)
TABLES: list[dict] = []  # kuhn: the adapter's policy at every info set, at every probe


def scenario_config(name: str, args: argparse.Namespace) -> TrainerConfig:
    common = dict(
        model=args.model, iterations=args.iterations, seed=args.seed, runs_dir=str(args.out),
        checkpoint_every=min(10, max(args.iterations, 1)), progress=False,
        games_per_iteration=args.games, temperature=args.temperature,
        learner_dtype=args.learner_dtype, advantage=args.advantage,
        entropy_coef=args.entropy_coef, resume=args.resume, q_target_coef=args.q_target_coef,
        q_target_temperature=args.q_target_temperature,
    )  # fmt: skip
    if name == "rps":
        return TrainerConfig(
            experiment="bench_rps", env_id="rps_v0", env_kwargs={"rounds": args.rounds},
            mode="competitive", share="all", bots=("rock_biased",), matchmaking="uniform",
            snapshot_every=0, eval_every=0, max_new_tokens=8, lr=args.lr, kl_coef=1e-4,
            **common,
        )  # fmt: skip
    if name == "kuhn":
        return TrainerConfig(
            experiment="bench_kuhn", env_id="kuhn_poker_v0", mode="competitive", share="all",
            bots=tuple(args.bots), matchmaking=args.matchmaking, snapshot_every=5, eval_every=0,
            max_new_tokens=8, lr=args.lr, kl_coef=1e-4, **common,
        )  # fmt: skip
    if name == "team_battle":
        return TrainerConfig(
            experiment="bench_team_battle", env_id="team_quiz_v0",
            env_kwargs={"questions": 2, "kinds": ["larger", "smaller"]}, mode="team_battle",
            share="team", bots=("random", "strong"), matchmaking="pfsp", snapshot_every=5,
            eval_every=args.eval_every, eval_games=args.eval_games, max_new_tokens=12,
            lr=args.lr, kl_coef=1e-4, **common,
        )  # fmt: skip
    raise SystemExit(f"unknown scenario {name!r}")


def measure(name: str, trainer, metrics: dict[str, float] | None) -> dict[str, float]:
    """The scenario's figure of merit at this point of training."""
    if name == "rps":
        if metrics is None:
            return {}
        per_round = metrics[f"{rf.TAG_RETURN}/main"] / trainer.config.env_kwargs["rounds"]
        return {"return_per_round": per_round}
    if name == "kuhn":
        from envs.kuhn_poker.theory import exploitability
        from trainers.learn.probe import kuhn_policy_table

        table = kuhn_policy_table(trainer.learner, trainer.adapters[0], trainer.learner.tokenizer)
        TABLES.append({"step": trainer.step, "policy": table})
        print("  P(bet | fold):", _compact(table), flush=True)
        return {"exploitability": float(exploitability(table))}
    if metrics is None:  # the untrained adapters against the bots, as the baseline
        metrics = trainer._evaluate()
    out = {}
    for key, value in metrics.items():
        if key.startswith(f"{rf.TAG_WIN_RATE}_eval/"):
            out["eval_win_rate_vs_" + key.rsplit("/", 1)[1]] = value
    return out


def parser() -> argparse.ArgumentParser:
    """The command line (also what `benchmarks/iteration.py` takes its scenario defaults from)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("scenario", choices=["rps", "kuhn", "team_battle"])
    p.add_argument("--model", default="default")
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--games", type=int, default=32, help="games per iteration")
    p.add_argument("--rounds", type=int, default=1, help="rps rounds per game")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument(
        "--temperature",
        type=float,
        default=2.0,
        help="sampling temperature: a chat model puts ~99%% on one move at T=1 (no exploration)",
    )
    p.add_argument("--learner-dtype", default="bfloat16")
    p.add_argument(
        "--advantage",
        default="role_ema",
        help="role_ema | decision_ema (per information set: kuhn) | decision_q | group",
    )
    p.add_argument("--entropy-coef", type=float, default=0.0, help="entropy bonus on the moves")
    p.add_argument(
        "--q-target-coef",
        type=float,
        default=0.0,
        help="with --advantage decision_q: cross-entropy toward softmax(Q / T)",
    )
    p.add_argument("--q-target-temperature", type=float, default=0.2)
    p.add_argument("--eval-every", type=int, default=4)
    p.add_argument("--eval-games", type=int, default=16)
    p.add_argument("--probe-every", type=int, default=2, help="kuhn: exploitability every K")
    p.add_argument("--matchmaking", default="pfsp", help="kuhn: league matchmaking")
    p.add_argument("--bots", nargs="*", default=["random", "strong"], help="kuhn: league bots")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--resume",
        default=None,
        help="a benchmark run directory to continue from its last checkpoint up to --iterations "
        "(the curve so far is kept)",
    )
    p.add_argument("--out", type=Path, default=Path("runs/benchmarks"))
    return p


def main() -> None:
    args = parser().parse_args()
    logging.basicConfig(level=logging.WARNING)
    from trainers.selfplay import SelfPlayTrainer

    cfg = scenario_config(args.scenario, args)
    trainer = SelfPlayTrainer(cfg)
    trainer.setup()
    rows = []
    start = time.time()
    try:
        before = measure(args.scenario, trainer, None)
        if before:
            rows.append({"step": trainer.step, "seconds": 0.0, **before})
            print(f"step {trainer.step:3d}  {before}", flush=True)
        while trainer.step < cfg.iterations:
            metrics = trainer.iteration()
            due = args.scenario != "kuhn" or trainer.step % args.probe_every == 0
            figures = measure(args.scenario, trainer, metrics) if due else {}
            if figures:
                row = {"step": trainer.step, "seconds": round(time.time() - start, 1), **figures}
                rows.append(row)
                print(f"step {trainer.step:3d}  {row}", flush=True)
            if trainer.step % cfg.checkpoint_every == 0 or trainer.step == cfg.iterations:
                trainer.save_checkpoint()  # what --resume continues from
    finally:
        trainer.close()
    report(args, rows, trainer.run_dir)


def _compact(table: dict[str, dict[str, float]]) -> str:
    """Each info set's probability of bet (or of fold when facing a bet), on one line."""
    return " ".join(f"{k}={p.get('[bet]', p.get('[fold]', 0.0)):.2f}" for k, p in table.items())


def _earlier(out: Path, rows: list[dict]) -> list[dict]:
    """The rows a resumed run's curve already holds, before the first new one."""
    if not out.exists():
        return []
    with open(out, newline="") as f:
        old = [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(f)]
    return [r for r in old if r["step"] < rows[0]["step"]]


def report(args: argparse.Namespace, rows: list[dict], run_dir: Path) -> None:
    if not rows:
        return
    keys = [k for k in rows[-1] if k not in ("step", "seconds")]
    out = Path(run_dir) / f"learning_{args.scenario}.csv"
    rows = _earlier(out, rows) + rows
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=sorted({k for r in rows for k in r}))
        writer.writeheader()
        writer.writerows(rows)
    first, last = rows[0], rows[-1]
    print(f"\n{args.scenario}: {len(rows)} points, curve in {out}")
    for key in keys:
        if key in first and key in last:
            print(
                f"  {key}: {first[key]:.3f} (step {first['step']}) -> {last[key]:.3f} "
                f"(step {last['step']}), change {last[key] - first[key]:+.3f}"
            )
    if args.scenario == "rps":
        best = last.get("return_per_round", 0) / BEST_RPS_EXPLOIT
        print(f"  final return per round / best exploit ({BEST_RPS_EXPLOIT}): {best:.2f}")
    if args.scenario == "kuhn":
        ratio = last["exploitability"] / UNIFORM_KUHN_EXPLOITABILITY
        print(f"  final exploitability / uniform play's 11/24: {ratio:.2f}")
        best = min(rows, key=lambda r: r["exploitability"])
        print(f"  lowest exploitability {best['exploitability']:.3f} at step {best['step']:.0f}")
        tables = Path(run_dir) / "kuhn_policies.json"
        earlier = json.loads(tables.read_text()) if tables.exists() else []
        first = TABLES[0]["step"] if TABLES else 0
        tables.write_text(json.dumps([t for t in earlier if t["step"] < first] + TABLES, indent=1))
        print("  policy at the last probe (probability of bet, or of fold when facing a bet):")
        for key, probs in TABLES[-1]["policy"].items():
            move = "[bet]" if "[bet]" in probs else "[fold]"
            print(f"    {key:5s} {probs[move]:.2f}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        for key in keys:
            xs = [r["step"] for r in rows if key in r]
            ax.plot(xs, [r[key] for r in rows if key in r], marker="o", label=key)
        ax.set_xlabel("training iteration")
        ax.set_title(f"Learning benchmark: {args.scenario}")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out.with_suffix(".png"), dpi=110)
        print(f"  figure: {out.with_suffix('.png')}")
    except ImportError:
        pass


if __name__ == "__main__":
    main()
