"""Seconds per self-play iteration, phase by phase, for the old code path and the new one.

    python benchmarks/iteration.py                         # kuhn and team_battle, default model
    python benchmarks/iteration.py --configs kuhn --iterations 2 --paths old
    python benchmarks/iteration.py --model tiny --iterations 1      # a quick plumbing check

Configurations: `kuhn` is `benchmarks/learning.py kuhn` with its defaults (32 games an iteration),
`team_battle` the default preset of `experiments/team_battle.py` (16 games). Each configuration
starts one trainer (engine + learner); after one warm-up iteration it plays `--iterations`
iterations per path, paths interleaved (old, new, old, new...) so that machine load and the
state of the league hit both alike. A path is a set of learner switches (`PATHS`): `old` turns
every saving off, `new` is the defaults.

Phases are exclusive wall time (`trainers.run.timing.PhaseTimer`), hooked onto the trainer's
methods from outside: generate (engine calls), bots (scripted seats), rollout (the rest of play:
env steps, chats, bookkeeping), learn_prep (advantages, samples), q_targets, learner
(forward + backward), kl_ref (the reference pass), optimizer, publish, league (match records,
ratings, league.json), monitor (TensorBoard, metrics.jsonl), eval and checkpoint. Evaluation and
checkpoints do not run every iteration: each is timed once after the loop and charged per
iteration as its time / eval_every (checkpoint_every). Updates per hour = 3600 / seconds per
iteration (every iteration is one weight update of every learning adapter).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's packages win

from trainers.run.timing import TOTAL, PhaseTimer, format_split

log = logging.getLogger("benchmarks.iteration")

CONFIGS = ("kuhn", "team_battle")
#: Learner switches per path; a key that this checkout's LearnerConfig lacks is skipped.
PATHS: dict[str, dict[str, Any]] = {
    "old": {"shared_prefix": False, "kl_every": 1},
    "new": {},
}
AMORTISED = ("eval", "checkpoint")


def trainer_config(name: str, args: argparse.Namespace, runs_dir: Path):
    """The configuration as a user runs it, with the model, seed and run folder of this run."""
    common = dict(model=args.model, seed=args.seed, runs_dir=str(runs_dir), progress=False)
    if name == "kuhn":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import learning

        scenario = learning.parser().parse_args(["kuhn", "--model", args.model])
        scenario.out = runs_dir
        return replace(learning.scenario_config("kuhn", scenario), **common)
    from experiments.team_battle import PRESETS

    return replace(PRESETS["default"], **common)


def hook(trainer: Any, timer: PhaseTimer) -> None:
    """Time the trainer's parts from outside (instance attributes shadow the methods)."""
    import trainers.rollout as rollout_module

    timer.wrap(trainer.rollout, "play", "rollout")
    timer.wrap(trainer.server, "generate", "generate")
    make_bot = rollout_module.make_bot

    def timed_bot(*a: Any, **k: Any) -> Any:
        bot = make_bot(*a, **k)
        timer.wrap(bot, "act", "bots")
        return bot

    rollout_module.make_bot = timed_bot
    for method, phase in (
        ("_learn", "learn_prep"),
        ("_target_samples", "q_targets"),
        ("_publish_and_snapshot", "publish"),
        ("_record", "league"),
        ("_ratings", "league"),
        ("_write_league", "league"),
        ("_metrics", "monitor"),
    ):
        timer.wrap(trainer, method, phase)
    timer.wrap(trainer, "_evaluate", "eval", absorb=True)
    timer.wrap(trainer, "save_checkpoint", "checkpoint", absorb=True)
    for method in ("log_scalars", "log_text", "log_matches"):
        timer.wrap(trainer.monitor, method, "monitor")
    learner = trainer.learner
    timer.wrap(learner, "update", "learner")
    timer.wrap(learner, "_step", "optimizer")
    if hasattr(learner, "_reference"):
        timer.wrap(learner, "_reference", "kl_ref")


def set_path(trainer: Any, path: str) -> dict[str, Any]:
    """Switch the learner to a path's settings; returns the switches this checkout has."""
    learner = trainer.learner
    known = {f.name for f in fields(learner.config)}
    switches = {k: v for k, v in PATHS[path].items() if k in known}
    base = getattr(trainer, "_benchmark_base_config", None)
    if base is None:
        base = trainer._benchmark_base_config = learner.config
    learner.config = replace(base, **switches)
    return switches


def bench_config(name: str, args: argparse.Namespace) -> dict[str, Any]:
    from trainers.selfplay import SelfPlayTrainer

    with tempfile.TemporaryDirectory(prefix="bench_iteration_") as tmp:
        cfg = trainer_config(name, args, Path(tmp))
        print(
            f"\n== {name}: {cfg.env_id}, {cfg.games_per_iteration} games/iteration, "
            f"model {cfg.model}, micro-batch {cfg.micro_batch_size}, learner {cfg.learner_dtype}",
            flush=True,
        )
        trainer = SelfPlayTrainer(cfg)
        start = time.perf_counter()
        trainer.setup()
        print(f"setup (engine + learner): {time.perf_counter() - start:.1f} s", flush=True)
        eval_every = cfg.eval_every  # timed once below, not inside a timed lap
        trainer.config.eval_every = 0
        timer = PhaseTimer()
        hook(trainer, timer)
        laps: dict[str, list[dict[str, float]]] = {p: [] for p in args.paths}
        try:
            set_path(trainer, args.paths[-1])
            trainer.iteration()  # warm-up: first engine calls, caches
            warm = timer.lap()
            print(f"warm-up iteration: {warm[TOTAL]:.1f} s", flush=True)
            for i in range(args.iterations):
                for path in args.paths:
                    set_path(trainer, path)
                    trainer.iteration()
                    lap = timer.lap()
                    laps[path].append(lap)
                    print(f"  {path} iteration {i + 1}: {lap[TOTAL]:.1f} s", flush=True)
            once = {}
            if eval_every and trainer.league.bots():
                trainer.config.eval_every = eval_every
                trainer._evaluate()
                once["eval"] = timer.lap()[TOTAL] / eval_every
            trainer.save_checkpoint()
            once["checkpoint"] = timer.lap()[TOTAL] / cfg.checkpoint_every
        finally:
            trainer.close()
    result: dict[str, Any] = {"config": name, "paths": {}}
    for path in args.paths:
        per_phase = _mean_laps(laps[path])
        for key, value in once.items():
            per_phase[key] = per_phase.get(key, 0.0) + value
            per_phase[TOTAL] += value
        result["paths"][path] = per_phase
        print(f"\n{name} / {path}: switches {PATHS[path] or 'defaults'}")
        print(format_split(per_phase))
        print(f"updates per hour: {3600 / per_phase[TOTAL]:.0f}")
    if {"old", "new"} <= set(args.paths):
        old, new = result["paths"]["old"][TOTAL], result["paths"]["new"][TOTAL]
        result["ratio"] = old / new
        print(f"\n{name}: old {old:.2f} s/iteration, new {new:.2f} s/iteration, {old / new:.2f}x")
    return result


def _mean_laps(laps: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for lap in laps for k in lap})
    return {k: statistics.fmean(lap.get(k, 0.0) for lap in laps) for k in keys}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    p.add_argument("--paths", nargs="+", choices=list(PATHS), default=list(PATHS))
    p.add_argument("--model", default="default")
    p.add_argument("--iterations", type=int, default=2, help="timed iterations per path")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results = [bench_config(name, args) for name in args.configs]
    print("\nseconds per iteration (old -> new, ratio):")
    for r in results:
        paths = r["paths"]
        cells = ", ".join(f"{k} {v[TOTAL]:.2f}" for k, v in paths.items())
        ratio = f", {r['ratio']:.2f}x" if "ratio" in r else ""
        print(f"  {r['config']:<12} {cells}{ratio}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
