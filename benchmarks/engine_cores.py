"""Engine speed on a CPU: its worker on every core vs vLLM's own split, in the same run.

    python benchmarks/engine_cores.py                    # default model, 32 and 100 requests
    python benchmarks/engine_cores.py --model tiny --requests 8

vLLM's CPU default (`VLLM_CPU_OMP_THREADS_BIND=auto`) keeps one core for its scheduler process
and runs the model on the others: on a 2-core machine, one. The sync trainer gives the engine
every core (`SelfPlayTrainer._engine_cores`), since the learner waits while the engine works.
Each setting starts its own engine in a fresh process (the binding is fixed at start), publishes
an untrained adapter and times `generate()` on the team quiz's captain decisions (legal-move
constrained, temperature 1), each batch twice after a warm-up call; the figure is the faster.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's packages win

SETTINGS = ("vllm", "all")
LABELS = {"vllm": "vLLM's split (auto)", "all": "every core"}


def measure(model: str, requests: list[int], setting: str, store: Path) -> dict[str, float]:
    """Seconds per generate() of each batch size, with the engine bound as `setting` says."""
    from agents.models import resolve_model
    from agents.serving import make_policy_server
    from agents.serving.types import GenerationRequest, SamplingSettings
    from trainers.learn.learner import Learner
    from trainers.learn.probe import quiz_captain_decisions
    from trainers.learn.settings import LearnerConfig, LoRASettings

    path = resolve_model(model)
    cores = sorted(os.sched_getaffinity(0)) if setting == "all" else None
    server = make_policy_server(
        "vllm", model=path, max_loras=1, max_lora_rank=16, store_dir=store, cpu_cores=cores
    )
    try:
        learner = Learner(path, ["main"], LoRASettings(lora_rank=16), LearnerConfig(), seed=0)
        ref = server.publish("main", *learner.adapter_weights("main"))
        decisions = quiz_captain_decisions(server.tokenizer, max(requests))
        batch = [
            GenerationRequest(tuple(d.prompt), ref, SamplingSettings(), tuple(d.moves))
            for d in decisions
        ]
        server.generate(batch[:4])  # first calls: kernels, caches
        seconds = {}
        for n in requests:
            laps = []
            for _ in range(2):
                start = time.perf_counter()
                server.generate(batch[:n])
                laps.append(time.perf_counter() - start)
            seconds[str(n)] = min(laps)
        return seconds
    finally:
        server.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="default", help="model name or folder (agents.models)")
    p.add_argument("--requests", type=int, nargs="+", default=[32, 100])
    p.add_argument("--store", type=Path, default=Path("runs/benchmarks/engine_cores"))
    p.add_argument("--setting", choices=SETTINGS, help=argparse.SUPPRESS)  # one child process
    args = p.parse_args()
    if args.setting:
        store = args.store / f"{args.setting}-{os.getpid()}"
        print(json.dumps(measure(args.model, args.requests, args.setting, store)))
        return
    if "VLLM_CPU_OMP_THREADS_BIND" in os.environ:
        sys.exit("unset VLLM_CPU_OMP_THREADS_BIND: this benchmark sets the binding itself")
    print(f"model {args.model}, {len(os.sched_getaffinity(0))} cores, quiz captain decisions")
    results = {}
    for setting in SETTINGS:
        cmd = [sys.executable, __file__, "--setting", setting, "--model", args.model,
               "--store", str(args.store), "--requests", *map(str, args.requests)]  # fmt: skip
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results[setting] = json.loads(out.strip().splitlines()[-1])
    for n in map(str, args.requests):
        base, new = results["vllm"][n], results["all"][n]
        print(
            f"{n:>4} requests: {LABELS['vllm']} {base:6.2f} s, {LABELS['all']} {new:6.2f} s, "
            f"{base / new:.2f}x"
        )


if __name__ == "__main__":
    main()
