"""Learning benchmarks: does the trainer really learn? Each prints its curve and the change from
the untrained adapter measured in the same run.

    python benchmarks/learning.py rps            # RPS vs a rock-biased bot: return -> best exploit
    python benchmarks/learning.py kuhn           # Kuhn self-play league: exploitability falls
    python benchmarks/learning.py team_battle    # team quiz: win rate vs the scripted teams rises
    python benchmarks/learning.py signal         # speaker + listener: success rate rises
    python benchmarks/learning.py dilemma        # prisoner's dilemma: panel score vs tit-for-tat
    python benchmarks/learning.py rps --model tiny --iterations 3    # a quick plumbing check

A scenario is a `TrainerConfig` preset: every trainer field can be overridden (`--help`), e.g.
`--advantage decision_ema`, `--games-per-iteration 16`, `--rounds 3` (rps), `--resume RUN_DIR`
(continue a benchmark run up to `--iterations`, its curve so far kept). Defaults use the embedded
SmolLM2-135M-Instruct on the CPU. Curves go to the run directory under `--runs-dir` (CSV + PNG).
"""

from __future__ import annotations

import csv
import logging
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import tyro

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's packages win

from agents.scripted.rps import BiasedBot
from envs.kuhn_poker.theory import UNIFORM_EXPLOITABILITY
from experiments.competitive import DEFAULT as COMPETITIVE
from experiments.cooperative import DEFAULT as COOPERATIVE
from experiments.mixed import DEFAULT as MIXED
from experiments.team_battle import DEFAULT as TEAM_BATTLE
from trainers.config import TrainerConfig
from trainers.intervals import WinRate
from trainers.run import layout as rf

# Always paper against the biased bot earns P(rock) - P(scissors) = p_rock per round.
BEST_RPS_EXPLOIT = BiasedBot.p_rock
UNIFORM_KUHN_EXPLOITABILITY = float(UNIFORM_EXPLOITABILITY)
CAPTAIN_PROBE = 64  # team_battle: held-out captain decisions read from the learner


@dataclass
class Benchmark:
    """A learning benchmark: a scenario's trainer config plus how it is measured."""

    scenario: tyro.conf.Suppress[str]
    config: TrainerConfig
    """The trainer (every field can be overridden)."""


#: Settings a benchmark may change from its experiment's preset: where and how often the run is
#: kept and shown. Everything else is the preset's, so the benchmark measures the recipe that
#: `python -m experiments.<mode>` runs (a unit test holds them equal).
MEASUREMENT_ONLY = ("experiment", "runs_dir", "checkpoint_every", "progress")


def _measured(preset: TrainerConfig, scenario: str) -> TrainerConfig:
    return preset.replace(
        experiment=f"bench_{scenario}", runs_dir="runs/benchmarks", checkpoint_every=10,
        progress=False,
    )  # fmt: skip


SCENARIOS = {
    # No experiment runs RPS: the benchmark's own config, a check that an exploit is learned.
    "rps": Benchmark("rps", TrainerConfig.build(
        experiment="bench_rps", runs_dir="runs/benchmarks", iterations=20, checkpoint_every=10,
        progress=False, games_per_iteration=32, temperature=2.0, learner_dtype="bfloat16",
        lr=5e-4, kl_coef=1e-4, max_new_tokens=8, env_id="rps_v0", env_kwargs={"rounds": 1},
        mode="competitive", share="all", bots=("rock_biased",), matchmaking="uniform",
        snapshot_every=0, eval_every=0,
    )),
    # experiments/competitive.py's default: its exact exploitability where the preset evaluates.
    "kuhn": Benchmark("kuhn", _measured(COMPETITIVE, "kuhn")),
    # experiments/team_battle.py's default: the win rates and the captain where the preset
    # evaluates (step 0 and the last).
    "team_battle": Benchmark("team_battle", _measured(TEAM_BATTLE, "team_battle")),
    # experiments/cooperative.py's default: the pair alone and beside the partner.
    "signal": Benchmark("signal", _measured(COOPERATIVE, "signal")),
    # experiments/mixed.py's default: the dilemma panel, the learner beside tit-for-tat.
    "dilemma": Benchmark("dilemma", _measured(MIXED, "dilemma")),
}  # fmt: skip
DESCRIPTIONS = {
    "rps": "RPS vs a rock-biased bot: return per round -> the best exploit",
    "kuhn": "Kuhn poker self-play league: exploitability falls",
    "team_battle": "team quiz: win rate vs the scripted teams rises",
    "signal": "speaker and listener (cooperative): success rate rises",
    "dilemma": "iterated prisoner's dilemma (mixed): panel score vs tit-for-tat's",
}


def measure(name: str, trainer, metrics: dict[str, float] | None) -> dict[str, float]:
    """The scenario's figures at this point of training: the trainer's own evaluation (each
    mode's `eval/` figures, `trainers.league.mode_eval`), with the captain read from the learner
    in team battle; RPS, which no experiment runs, its return per round."""
    if name == "rps":
        if metrics is None:
            return {}
        per_round = metrics[f"{rf.TAG_RETURN}/main"] / trainer.config.game.env_kwargs["rounds"]
        return {"return_per_round": per_round}
    if metrics is None:  # the untrained adapters: the trainer's step-0 evaluation
        metrics = trainer.evaluate(trainer.config.league.final_eval_games or None)
    out = {
        key.replace("/", "_", 1).replace("/", "_vs_" if "win_rate" in key else "_"): value
        for key, value in metrics.items()
        if key.startswith("eval/") and not key.startswith("eval/games/")
    }
    if name == "team_battle":  # what the captain learned, read from the learner
        out.update(captain_figures(trainer))
    return out


def evaluated(metrics: dict[str, float] | None) -> bool:
    return metrics is not None and any(k.startswith("eval/") for k in metrics)


def evaluate_once_at_start(trainer) -> None:
    """The baseline's evaluation is the one the trainer plays before its first update: played
    once, by whichever asks first, with the trainer's game count, and the same result handed
    to the other, so that the league and the learning-rate controller see what a run of the
    experiment shows them."""
    evaluate, first = trainer.evaluate, {}

    def once(games: int | None = None) -> dict[str, float]:
        if trainer.step:
            return evaluate(games)
        if "result" not in first:
            first["result"] = evaluate(games)
        return first["result"]

    trainer.evaluate = once


def captain_figures(trainer) -> dict[str, float]:
    """The learning adapter as quiz captain on `CAPTAIN_PROBE` held-out first-question
    decisions with random teammate proposals: mean probability of the right answer, greedy
    accuracy with its interval, and the probability of copying the teammate."""
    from trainers.learn.probe import quiz_captain_score

    tokenizer = trainer.learner.tokenizer
    decisions = _captain_decisions(tokenizer)
    score = quiz_captain_score(trainer.learner, trainer.adapters[0], tokenizer, decisions)
    greedy = WinRate(score.greedy, len(decisions))
    low, high = greedy.interval
    return {"captain_p_right": score.p_right, "captain_greedy": greedy.rate,
            "captain_greedy_low": low, "captain_greedy_high": high,
            "captain_p_copy": score.p_copy}  # fmt: skip


@cache
def _captain_decisions(tokenizer) -> list:
    """The probe's held-out decisions, built once a run (the same at every probe)."""
    from trainers.learn.probe import quiz_captain_decisions

    return quiz_captain_decisions(tokenizer, CAPTAIN_PROBE)


def main() -> None:
    bench = tyro.cli(
        tyro.conf.OmitArgPrefixes[  # type: ignore[misc]
            tyro.conf.OmitSubcommandPrefixes[
                tyro.extras.subcommand_type_from_defaults(SCENARIOS, DESCRIPTIONS)
            ]
        ],
        description=__doc__,
    )
    logging.basicConfig(level=logging.WARNING)
    from trainers.selfplay import SelfPlayTrainer

    cfg = bench.config  # validated once, by the trainer
    trainer = SelfPlayTrainer(cfg)
    trainer.setup()
    evaluate_once_at_start(trainer)
    rows = []
    start = time.time()

    def record(metrics: dict[str, float] | None) -> None:
        due = metrics is None or bench.scenario == "rps" or evaluated(metrics)
        figures = measure(bench.scenario, trainer, metrics) if due else {}
        if figures:
            row = {"step": trainer.step, "seconds": round(time.time() - start, 1), **figures}
            rows.append(row)
            print(f"step {trainer.step:3d}  {row}", flush=True)

    try:
        record(None)  # the untrained adapters, as the baseline
        trainer.run(on_iteration=record)
    finally:
        trainer.close()
    report(bench.scenario, rows, trainer.run_dir)


def _earlier(out: Path, rows: list[dict]) -> list[dict]:
    """The rows a resumed run's curve already holds, before the first new one."""
    if not out.exists():
        return []
    with open(out, newline="") as f:
        old = [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(f)]
    return [r for r in old if r["step"] < rows[0]["step"]]


def report(scenario: str, rows: list[dict], run_dir: Path) -> None:
    if not rows:
        return
    keys = [k for k in rows[-1] if k not in ("step", "seconds")]
    out = Path(run_dir) / f"learning_{scenario}.csv"
    rows = _earlier(out, rows) + rows
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=sorted({k for r in rows for k in r}))
        writer.writeheader()
        writer.writerows(rows)
    first, last = rows[0], rows[-1]
    print(f"\n{scenario}: {len(rows)} points, curve in {out}")
    for key in keys:
        if key in first and key in last:
            print(
                f"  {key}: {first[key]:.3f} (step {first['step']}) -> {last[key]:.3f} "
                f"(step {last['step']}), change {last[key] - first[key]:+.3f}"
            )
    if scenario == "rps":
        best = last.get("return_per_round", 0) / BEST_RPS_EXPLOIT
        print(f"  final return per round / best exploit ({BEST_RPS_EXPLOIT}): {best:.2f}")
    if scenario == "kuhn":
        for which in ("last", "meta"):
            ratio = last[f"eval_exploitability_{which}"] / UNIFORM_KUHN_EXPLOITABILITY
            print(f"  final exploitability ({which}) / uniform play's 11/24: {ratio:.2f}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        for key in keys:
            xs = [r["step"] for r in rows if key in r]
            ax.plot(xs, [r[key] for r in rows if key in r], marker="o", label=key)
        ax.set_xlabel("training iteration")
        ax.set_title(f"Learning benchmark: {scenario}")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out.with_suffix(".png"), dpi=110)
        print(f"  figure: {out.with_suffix('.png')}")
    except ImportError:
        pass


if __name__ == "__main__":
    main()
