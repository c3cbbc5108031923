"""Ray mode scaling: games per second with 1 and 2 rollout workers, and the learner/rollout split.

    python benchmarks/scaling.py                          # tiny model, workers 1 and 2, CPU
    python benchmarks/scaling.py --workers 1 2 4 --model default --games 32
    python benchmarks/scaling.py --local                  # also the single-process run

Each configuration is a real `SelfPlayTrainer` run in Ray mode (a local cluster started here, one
vLLM engine per rollout worker, the learner as an actor). The first iteration is warm-up; the
others are timed per phase: rollout (games played across the workers), learn (the learner
actor's update), publish (a new version staged on every worker, then switched). Printed:

- games/s of the rollout phase per worker count, and the ratio to one worker;
- the learner/rollout split, and how many workers would carry the run before the learner is
  the bottleneck: with rollout time R(1) for one worker and learner time L per iteration,
  perfect scaling gives R(N) = R(1) / N, so rollout stops dominating at N* = R(1) / L;
- publication: adapter bytes per version and the time to reach every worker.

On a machine with fewer cores than workers x engine threads, expect little: the workers share
the same cores (the figures then show Ray's overhead, not its scaling).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

log = logging.getLogger("scaling")


def timed(phases: dict[str, list[float]], name: str, fn):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            phases[name].append(time.perf_counter() - start)

    return wrapper


def measure(args: argparse.Namespace, workers: int | None, runs_dir: Path) -> dict:
    """One run; `workers=None` is the single-process run."""
    from experiments.team_battle import PRESETS
    from trainers.selfplay import SelfPlayTrainer

    cfg = PRESETS["smoke"].replace(
        model=args.model, iterations=args.iterations, games_per_iteration=args.games,
        eval_every=0, checkpoint_every=args.iterations, runs_dir=str(runs_dir), progress=False,
        kv_cache_gib=1, max_new_tokens=args.max_new_tokens, seed=args.seed, backend=args.backend,
    )  # fmt: skip
    if args.learner_dtype:
        cfg = cfg.replace(learner_dtype=args.learner_dtype)
    if workers is not None:
        cfg = cfg.replace(
            ray=True, ray_workers=workers, ray_worker_cpus=args.worker_cpus,
            ray_learner_cpus=args.worker_cpus, ray_num_cpus=args.num_cpus,
        )  # fmt: skip
    phases: dict[str, list[float]] = defaultdict(list)
    trainer = SelfPlayTrainer(cfg)
    start = time.perf_counter()
    try:
        trainer.setup()
        setup_s = time.perf_counter() - start
        for name in ("play", "learn", "publish"):
            setattr(trainer, name, timed(phases, name, getattr(trainer, name)))
        trainer.run()
        publish = trainer.server.publish_seconds
        store = trainer.server.store
        sizes = [
            sum(f.stat().st_size for f in store.get(ref).path.iterdir()) for ref in store.served()
        ]
    finally:
        trainer.close()
    timed_its = slice(1, None)  # the first iteration warms the engines up
    rollout = phases["play"][timed_its]
    learn = phases["learn"][timed_its]
    pub = phases["publish"][timed_its]
    games = args.games * len(rollout)
    result = {
        "workers": workers,
        "setup_s": setup_s,
        "games_per_s": games / sum(rollout),
        "rollout_s_per_iteration": statistics.mean(rollout),
        "learn_s_per_iteration": statistics.mean(learn),
        "publish_s_per_iteration": statistics.mean(pub),
        "publish_ms_per_adapter_version": 1e3 * statistics.mean(publish[2:] or publish),
        "adapter_bytes": int(statistics.mean(sizes)) if sizes else 0,
    }
    log.info("%s", json.dumps(result))
    return result


def summary(results: list[dict], games: int) -> str:
    """The table, and what the per-phase times of one worker say about more workers (Amdahl:
    only the rollout phase shrinks with workers; learn and publish stay)."""
    one = next((r for r in results if r["workers"] == 1), None)
    lines = [
        f"{'workers':>8}{'games/s':>10}{'ratio':>8}{'rollout s':>11}{'learn s':>9}"
        f"{'publish s':>11}{'publish ms/version':>20}"
    ]
    for r in results:
        ratio = r["games_per_s"] / one["games_per_s"] if one else float("nan")
        label = "local" if r["workers"] is None else str(r["workers"])
        lines.append(
            f"{label:>8}{r['games_per_s']:>10.2f}{ratio:>8.2f}{r['rollout_s_per_iteration']:>11.2f}"
            f"{r['learn_s_per_iteration']:>9.2f}{r['publish_s_per_iteration']:>11.2f}"
            f"{r['publish_ms_per_adapter_version']:>20.1f}"
        )
    if one:
        rollout, learn = one["rollout_s_per_iteration"], one["learn_s_per_iteration"]
        publish = one["publish_s_per_iteration"]
        total = rollout + learn + publish
        lines.append(
            f"one worker, per iteration of {games} games: rollout {rollout:.2f} s "
            f"({100 * rollout / total:.0f}%), learn {learn:.2f} s, publish {publish:.2f} s"
        )
        for n in (2, 4, 8, 16):
            bound = total / (rollout / n + learn + publish)
            lines.append(f"  {n:>2} workers (perfect rollout scaling): at most {bound:.2f}x")
        lines.append(
            f"  rollout time equals learner time at N* = R(1)/L = {rollout / learn:.2f} workers; "
            f"any number of workers gives at most {total / (learn + publish):.2f}x"
        )
        lines.append(f"adapter payload per version: {one['adapter_bytes'] / 1e6:.2f} MB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="tiny")
    p.add_argument("--backend", default="vllm", help="vllm, or hf (transformers, no engine)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--games", type=int, default=16, help="games per iteration")
    p.add_argument("--iterations", type=int, default=4, help="the first one is warm-up")
    p.add_argument("--max-new-tokens", type=int, default=8)
    p.add_argument("--learner-dtype", default=None, help="default: the preset's (bfloat16)")
    p.add_argument("--worker-cpus", type=float, default=0.5)
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local cluster")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--local", action="store_true", help="also the single-process run")
    p.add_argument("--json", type=Path, default=None, help="write the figures here")
    p.add_argument("--summarize", type=Path, default=None, help="print a --json file's summary")
    args = p.parse_args(argv)
    if args.summarize:
        data = json.loads(args.summarize.read_text())
        print(summary(data["results"], data["args"]["games"]))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("httpx", "vllm", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

    results = []
    with tempfile.TemporaryDirectory(prefix="scaling_runs_") as tmp:
        for n in ([None] if args.local else []) + list(args.workers):
            results.append(measure(args, n, Path(tmp) / f"w{n or 0}"))
    print(summary(results, args.games))
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)},
                                         "results": results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
