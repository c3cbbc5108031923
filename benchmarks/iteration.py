"""Seconds per self-play iteration, phase by phase, for the old code path and the new one.

    python benchmarks/iteration.py                         # kuhn and team_battle, default model
    python benchmarks/iteration.py --configs kuhn --iterations 2 --paths old
    python benchmarks/iteration.py --model tiny --iterations 1      # a quick plumbing check

Configurations: `kuhn` is `benchmarks/learning.py kuhn` as docs/benchmarks.md's figures measured
it (32 games an iteration; scripted bots in the league, one pass over the samples, no trust
region: the preset before its 4 epochs and trust region, which add their own learner work),
`team_battle` the default preset of `experiments/team_battle.py` (16 games). Each configuration
starts one trainer (engine + learner); after one warm-up iteration it plays `--iterations`
iterations per path, paths interleaved (old, new, old, new...) so that machine load and the
state of the league hit both alike. A path is a set of learner switches (`PATHS`): `old` turns
every saving off, `new` is the defaults.

Phases are the trainer's own `time/<phase>` metrics (exclusive wall time,
`trainers.run.timing.PhaseTimer`): generate (engine calls), bots (scripted seats), rollout (the
rest of play: env steps, chats), learner (advantages, samples, forward + backward), kl_ref (the
reference pass), optimizer, q_targets, publish, league (match records, league.json), ratings,
monitor (metrics, TensorBoard, metrics.jsonl), eval and checkpoint. Evaluation and
checkpoints do not run every iteration: each is timed once after the loop and charged per
iteration as its time / eval_every (checkpoint_every). Updates per hour = 3600 / seconds per
iteration (every iteration is one weight update of every learning adapter).

The learner's floor: each configuration also prints the positions the learner's body ran per
second (padding included, a shared prefix once) and what its linear layers' matmuls did at
that rate (forward and the backward's input gradient: 4 FLOP per weight per position; the
LoRA matmuls and attention are left out, so this is a lower bound), against this CPU's bf16
matmul rate at the model's MLP shape, measured in the same run.

The terminal shows the figures only; the engine's and the libraries' lines go to each
configuration's train.log in its run folder under `--runs-dir` (`--verbose` shows them).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's packages win

from trainers.run.timing import TOTAL, format_split

CONFIGS = ("kuhn", "team_battle")
#: Learner switches per path: `old` turns every saving off, `new` keeps the defaults.
PATHS: dict[str, dict[str, Any]] = {
    "old": dict(
        shared_prefix=False,
        kl_skip_below=0.0,
        reference_cache=False,
        skip_silent=False,
        micro_batch_size=8,
    ),
    "new": {},
}


def trainer_config(name: str, args: argparse.Namespace, runs_dir: Path):
    """The configuration as a user runs it, with the model, seed and run folder of this run."""
    common = dict(
        model=args.model, backend=args.backend, seed=args.seed, runs_dir=str(runs_dir),
        progress=False,
    )  # fmt: skip
    if name == "kuhn":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import learning

        # Pinned to the configuration docs/benchmarks.md's figures were measured with, so that a
        # change of the learning preset does not silently change what this benchmark times.
        measured = dict(
            bots=("random", "strong"), betas=(0.9, 0.999), epochs=1, trust_region_kl=0.0,
            iterations=30,
        )  # fmt: skip
        return learning.SCENARIOS["kuhn"].config.replace(**measured, **common)
    from experiments.team_battle import PRESETS

    return PRESETS["default"].replace(**common)


def set_path(trainer: Any, path: str) -> None:
    """Switch the learner to a path's settings (from the configuration's own)."""
    base = getattr(trainer, "_benchmark_base_config", None)
    if base is None:
        base = trainer._benchmark_base_config = trainer.learner.config
    trainer.learner.config = replace(base, **PATHS[path])


def body_matmul_flops(model: Any) -> int:
    """FLOP a position costs the learner in the body's linear layers: forward (2 per weight)
    plus the backward's input gradient (2 per weight; frozen weights get no weight gradient).
    LoRA factors are left out (rank 16 of 576: about 5% more)."""
    import torch

    layers = model.get_base_model().model.layers
    weights = sum(
        m.weight.numel()
        for name, m in layers.named_modules()
        if isinstance(m, torch.nn.Linear) and "lora_" not in name
    )
    return 4 * weights


def matmul_rate(shape: tuple[int, int, int] = (2048, 576, 1536), repeats: int = 20) -> float:
    """GFLOP/s of a bf16 matmul [m, k] @ [k, n] on this CPU (best of 3 timings)."""
    import torch

    m, k, n = shape
    a, b = torch.randn(m, k, dtype=torch.bfloat16), torch.randn(k, n, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    best = min(_timed(lambda: [a @ b for _ in range(repeats)]) for _ in range(3))
    return 2 * m * k * n * repeats / best / 1e9


def _timed(call: Any) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def bench_config(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Time one configuration. The terminal shows its figures; the engine's and the libraries'
    lines go to the train.log of its run folder (`trainers.run.console`)."""
    from trainers.run import layout as rf
    from trainers.run.console import Console
    from trainers.selfplay import SelfPlayTrainer

    console = Console(verbose=args.verbose)
    console.configure_logging()
    say = console.print
    try:
        cfg = trainer_config(name, args, args.runs_dir)
        say(
            f"\n== {name}: {cfg.game.env_id}, {cfg.rollout.games_per_iteration} games/iteration, "
            f"model {cfg.serving.model}, micro-batch {cfg.learn.micro_batch_size}, "
            f"learner {cfg.learn.learner_dtype}, kl_coef {cfg.learn.kl_coef}"
        )
        trainer = SelfPlayTrainer(cfg, console=console)
        setup_s = _timed(trainer.setup)
        say(f"setup (engine + learner): {setup_s:.1f} s; log {console.log_path}")
        eval_every = cfg.league.eval_every  # timed once below, not inside a timed iteration
        trainer.config.league.eval_every = 0
        laps: dict[str, list[dict[str, float]]] = {p: [] for p in args.paths}
        tokens: dict[str, list[float]] = {p: [] for p in args.paths}
        body: dict[str, list[float]] = {p: [] for p in args.paths}
        flops = body_matmul_flops(trainer.learner.peft)
        try:
            set_path(trainer, args.paths[-1])
            warm = trainer.iteration()  # first engine calls, caches
            say(f"warm-up iteration: {warm[f'{rf.TAG_TIME}/{TOTAL}']:.1f} s")
            for i in range(args.iterations):
                for path in args.paths:
                    set_path(trainer, path)
                    metrics = trainer.iteration()
                    lap = {
                        k.split("/", 1)[1]: v
                        for k, v in metrics.items()
                        if k.startswith(f"{rf.TAG_TIME}/")
                    }
                    laps[path].append(lap)
                    tokens[path].append(metrics.get(rf.TAG_LEARNER_TOKENS_PER_S, 0.0))
                    body[path].append(metrics.get(rf.TAG_LEARNER_BODY_TOKENS_PER_S, 0.0))
                    say(
                        f"  {path} iteration {i + 1}: {lap[TOTAL]:.1f} s, learner "
                        f"{tokens[path][-1]:.0f} sequence tokens/s"
                    )
            once = {}
            if eval_every and trainer.league.bots():
                once["eval"] = _timed(trainer.evaluate) / eval_every
            once["checkpoint"] = _timed(trainer.save_checkpoint) / cfg.run.checkpoint_every
        finally:
            trainer.close()
        peak = matmul_rate()  # after the engine is gone: the learner's cores alone
        result: dict[str, Any] = {
            "config": name, "setup_s": setup_s, "paths": {}, "matmul_gflops": peak,
        }  # fmt: skip
        for path in args.paths:
            per_phase = _mean_laps(laps[path])
            for key, value in once.items():
                per_phase[key] = per_phase.get(key, 0.0) + value
                per_phase[TOTAL] += value
            result["paths"][path] = per_phase
            say(f"\n{name} / {path}: learner switches {PATHS[path] or 'the defaults'}")
            say(format_split(per_phase))
            say(
                f"learner {statistics.fmean(tokens[path]):.0f} sequence tokens/s; "
                f"updates per hour: {3600 / per_phase[TOTAL]:.0f}"
            )
            positions = statistics.fmean(body[path])
            gflops = positions * flops / 1e9
            result["paths"][path]["body_positions_per_s"] = positions
            say(
                f"learner body {positions:.0f} positions/s: its linear layers' matmuls at "
                f"{gflops:.0f} GFLOP/s ({flops / 1e6:.0f} MFLOP a position), "
                f"{gflops / peak:.0%} of this CPU's bf16 matmul rate ({peak:.0f} GFLOP/s)"
            )
        if {"old", "new"} <= set(args.paths):
            old, new = result["paths"]["old"][TOTAL], result["paths"]["new"][TOTAL]
            result["ratio"] = old / new
            say(f"\n{name}: old {old:.2f} s/iteration, new {new:.2f} s/iteration, {old / new:.2f}x")
        return result
    finally:
        console.close()


def _mean_laps(laps: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for lap in laps for k in lap})
    return {k: statistics.fmean(lap.get(k, 0.0) for lap in laps) for k in keys}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    p.add_argument("--paths", nargs="+", choices=list(PATHS), default=list(PATHS))
    p.add_argument("--model", default="default")
    p.add_argument("--backend", default="vllm", help="policy server: vllm or hf (transformers)")
    p.add_argument("--iterations", type=int, default=2, help="timed iterations per path")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument(
        "--runs-dir",
        type=Path,
        default=Path("runs/benchmarks"),
        help="where each configuration's run folder (and its train.log) goes",
    )
    p.add_argument("--verbose", action="store_true", help="show the engine's log lines too")
    args = p.parse_args(argv)
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
