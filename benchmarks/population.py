"""Seconds of training per game played, a population of learners against the single learner, and
the memory each added member costs.

    python benchmarks/population.py                               # default model: 1 and 8 members
    python benchmarks/population.py --iterations 5 --population 8 16
    python benchmarks/population.py --model tiny --iterations 2   # a quick plumbing check

Every run is the competitive preset (`experiments.competitive` DEFAULT: Kuhn poker, 32 games per
member and iteration) with only its experiment name, run folder and iterations changed, and
`--population`: first the single learner (1), then each population size asked for (8 by default).
Each run has its own process, so that one run's memory is not left in the next one's; the engine
and learner start afresh in each.

Training time is the trainer's own phase split (`time/<phase>` in each run's metrics.jsonl,
exclusive seconds, `trainers.run.timing`): play (rollout, generate, bots, move_values,
expected_replies), learner (learner, kl_ref, optimizer, q_targets; a PBT round's copies too)
and publish. Evaluation, checkpoints, league bookkeeping and monitoring (where the meta-solvers
run) are not training and are left out. The first iteration warms up (first engine calls,
compilation) and is not counted when more ran. Games played are the training games of the
counted iterations (matches.csv: episodes with a learning seat), all members together; a game
between two members counts once though both sides learn from it. The ratio population/single is
of seconds per game, measured in the same invocation.

Memory per added member, two ways: the trainer process's resident memory at the end of the run
(the learner lives there; the engine runs in child processes and is reported apart), the
population's minus the single learner's, divided by the members added; and computed from the
learner's tensors: one member's LoRA parameters and AdamW state in bytes. Members share the one
base model: there is no second copy of it to count.

The terminal shows the figures only; the engine's and the libraries' lines go to each run's
train.log under `--runs-dir` (`--verbose` shows them).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's packages win

from trainers.run import layout as rf

MIB = 2**20
#: The `time/<phase>` phases that make up training, by part.
TRAINING_PHASES = {
    "play": ("rollout", "generate", "bots", "move_values", "expected_replies"),
    "learner": ("learner", "kl_ref", "optimizer", "q_targets"),
    "publish": ("publish",),
}


def trainer_config(size: int, args: argparse.Namespace):
    """The competitive preset with the benchmark's name, run folder, iterations and population."""
    from experiments.competitive import DEFAULT

    return DEFAULT.replace(
        experiment=f"bench_population{size}", runs_dir=str(args.runs_dir),
        iterations=args.iterations, population=size, model=args.model, seed=args.seed,
        progress=False,
    )  # fmt: skip


def member_bytes(trainer: Any) -> dict[str, int]:
    """One member's adapter parameters and AdamW state, in bytes, from the learner's tensors."""
    import torch

    learner, family = trainer.learner, trainer.family
    params = sum(p.numel() * p.element_size() for n in family.names for p in learner.parameters(n))
    state = [
        value
        for name in family.names
        for fields in learner.optimizer(name).state.values()
        for value in fields.values()
        if isinstance(value, torch.Tensor)
    ]
    return {
        "adapter_bytes": params,
        "optimizer_bytes": sum(t.numel() * t.element_size() for t in state),
    }


def measure(size: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train one run (in this process) and return its run folder and memory figures."""
    import psutil

    from trainers.run.console import Console
    from trainers.selfplay import SelfPlayTrainer

    console = Console(verbose=args.verbose)
    console.configure_logging()
    trainer = SelfPlayTrainer(trainer_config(size, args), console=console)
    try:
        trainer.setup()
        trainer.run()
        me = psutil.Process()
        engine = sum(c.memory_info().rss for c in me.children(recursive=True))
        out = {"size": size, "run_dir": str(trainer.run_dir), "trainer_rss": me.memory_info().rss,
               "engine_rss": engine, **member_bytes(trainer)}  # fmt: skip
    finally:
        trainer.close()
        console.close()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux counts KiB
    return {**out, "trainer_peak_rss": peak_kib * 1024}


def training_per_game(run_dir: str | Path) -> dict[str, Any]:
    """Seconds of training (by part) over the training games of the counted iterations."""
    from experiments.analysis import load_run

    run = load_run(run_dir)
    timed = [c for c in run.metrics.columns if str(c).startswith(f"{rf.TAG_TIME}/")]
    rows = run.metrics[run.metrics[timed].notna().any(axis=1)]
    steps = sorted(int(s) for s in rows["step"])
    counted = steps[1:] if len(steps) > 1 else steps  # the first iteration warms up
    rows = rows[rows["step"].isin(counted)]

    def seconds_of(phase: str) -> float:
        column = f"{rf.TAG_TIME}/{phase}"
        return float(rows[column].fillna(0.0).sum()) if column in rows else 0.0

    parts = {part: sum(seconds_of(p) for p in phases) for part, phases in TRAINING_PHASES.items()}
    matches = run.matches[run.matches["step"].isin(counted)]
    learning = matches.groupby(["step", "episode"])["learning"].max()
    games = int((learning > 0).sum())
    seconds = sum(parts.values())
    return {"iterations": len(counted), "games": games, "seconds": seconds, "parts": parts,
            "per_game": seconds / games if games else float("nan")}  # fmt: skip


def run_child(size: int, args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """`measure(size)` in a fresh process of this script; its result."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, *argv, "--child", str(size), "--child-out", str(out)]
        done = subprocess.run(cmd, check=False)
        if done.returncode != 0 or not out.is_file():
            raise SystemExit(f"the population {size} run failed (status {done.returncode})")
        return json.loads(out.read_text())


def report(results: list[dict[str, Any]]) -> None:
    single = results[0]
    for r in results:
        t = r["training"]
        split = ", ".join(f"{k} {v:.1f}" for k, v in t["parts"].items())
        print(f"population {r['size']}: {t['games']} games in {t['iterations']} counted "
              f"iteration{'s' if t['iterations'] != 1 else ''}, "
              f"training {t['seconds']:.1f} s ({split}): {t['per_game']:.3f} s/game "
              f"[{r['run_dir']}]")  # fmt: skip
    for r in results[1:]:
        ratio = r["training"]["per_game"] / single["training"]["per_game"]
        added = r["size"] - single["size"]
        print(f"\npopulation {r['size']} against the single learner:")
        print(f"ratio population/single: {ratio:.2f}x")
        rss = (r["trainer_rss"] - single["trainer_rss"]) / added / MIB
        peak = (r["trainer_peak_rss"] - single["trainer_peak_rss"]) / added / MIB
        engine = (r["engine_rss"] - single["engine_rss"]) / added / MIB
        adapter, optimizer = r["adapter_bytes"] / MIB, r["optimizer_bytes"] / MIB
        print(f"memory per added member: trainer process resident {rss:+.1f} MiB "
              f"(peak {peak:+.1f} MiB); computed: adapter {adapter:.2f} MiB + AdamW state "
              f"{optimizer:.2f} MiB = {adapter + optimizer:.2f} MiB (the base model is shared); "
              f"engine processes {engine:+.1f} MiB")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--population",
        type=int,
        nargs="+",
        default=[8],
        help="population sizes to compare with the single learner (default 8)",
    )
    p.add_argument("--model", default="default")
    p.add_argument(
        "--iterations",
        type=int,
        default=3,
        help="iterations per run; the first is a warm-up when more than one",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--runs-dir",
        type=Path,
        default=Path("runs/benchmarks"),
        help="where each run's folder (and its train.log) goes",
    )
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--verbose", action="store_true", help="show the engine's log lines too")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)  # fmt: skip
    raw = sys.argv[1:] if argv is None else argv
    args = p.parse_args(raw)
    if args.child is not None:  # one run, in its own process
        args.child_out.write_text(json.dumps(measure(args.child, args)))
        return
    sizes = [1, *(n for n in args.population if n != 1)]
    results = []
    for size in sizes:
        print(f"== population {size}: training {args.iterations} iterations ...", flush=True)
        result = run_child(size, args, raw)
        result["training"] = training_per_game(result["run_dir"])
        results.append(result)
    print()
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
