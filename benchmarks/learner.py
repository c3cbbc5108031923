"""Learner throughput: forward + backward tokens/s, own-positions projection vs full projection.

A learner step runs the transformer body over whole episodes but trains only on the agent's own
tokens (a few per turn). The baseline projects EVERY position onto the vocabulary and takes the
log-softmax there (what a plain `model(input_ids).logits` trainer does); the learner gathers the
hidden states that predict the agent's tokens first and projects only those. Both run in the same
process on the same batch, interleaved, so machine load hits both alike. One timed step is one
`Learner.update()` (no KL reference pass) on `--sequences` sequences of `--seq-len` tokens holding
`--completion` completion tokens each, spread over `--turns` turns.

    python benchmarks/learner.py                          # SmolLM2-135M (converted on first use)
    python benchmarks/learner.py --model tiny             # the tiny test model
    python benchmarks/learner.py --dtype bfloat16 --repeats 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("benchmarks.learner")

PROJECTIONS = ("full", "own")
LABELS = {"full": "every position (baseline)", "own": "own positions (learner)"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="default", help="model name or folder (agents.models)")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    p.add_argument("--sequences", type=int, default=8, help="sequences per step")
    p.add_argument("--seq-len", type=int, default=300, help="tokens per sequence")
    p.add_argument("--completion", type=int, default=30, help="completion tokens per sequence")
    p.add_argument("--turns", type=int, default=3, help="turns the completion is split into")
    p.add_argument("--micro-batch", type=int, default=8, help="sequences per forward pass")
    p.add_argument("--rank", type=int, default=16, help="LoRA rank (q/k/v/o)")
    p.add_argument("--repeats", type=int, default=3, help="timed steps per projection (best)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    if args.completion < args.turns or args.seq_len <= args.completion + args.turns:
        p.error("need --turns <= --completion < --seq-len - --turns")
    return args


def make_samples(args: argparse.Namespace, vocab: int) -> list[Any]:
    """Random-token episodes: `turns` completions evenly spaced, the last ending the sequence."""
    import torch

    from trainers.episode import TurnTokens
    from trainers.learn.samples import TrainSample

    gen = torch.Generator().manual_seed(args.seed)
    per_turn = [args.completion // args.turns] * args.turns
    per_turn[-1] += args.completion - sum(per_turn)
    samples = []
    for _ in range(args.sequences):
        ids = torch.randint(3, vocab, (args.seq_len,), generator=gen).tolist()
        gap = (args.seq_len - args.completion) // args.turns
        turns, start = [], 0
        for n in per_turn:
            start += gap
            turns.append(TurnTokens(start, tuple(ids[start : start + n]), (-1.0,) * n, 1))
            start += n
        samples.append(TrainSample(ids, turns, advantage=1.0))
    return samples


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from trainers.learn.learner import Learner, LearnerConfig, LoRASettings

    config = LearnerConfig(
        learner_dtype=args.dtype, micro_batch_size=args.micro_batch, track_kl=False, lr=1e-6
    )
    learner = Learner(
        args.model, ["bench"], LoRASettings(lora_rank=args.rank, lora_alpha=2 * args.rank), config
    )
    samples = make_samples(args, learner.vocab_size)
    own = learner.logprobs("bench", samples, projection="own")
    full = learner.logprobs("bench", samples, projection="full")
    gap = max(float((a - b).abs().max()) for a, b in zip(own, full, strict=True))
    times: dict[str, list[dict[str, float]]] = {p: [] for p in PROJECTIONS}
    for projection in PROJECTIONS:  # warm-up: allocator, kernels, first-call overheads
        learner.update("bench", samples, projection=projection)
    for _ in range(args.repeats):
        for projection in PROJECTIONS:
            times[projection].append(learner.update("bench", samples, projection=projection))
    rows = {p: summarize(times[p]) for p in PROJECTIONS}
    return {
        "model": args.model,
        "vocab_size": learner.vocab_size,
        "dtype": args.dtype,
        "device": str(learner.device),
        "threads": torch.get_num_threads(),
        "sequences": args.sequences,
        "seq_len": args.seq_len,
        "completion": args.completion,
        "rank": args.rank,
        "repeats": args.repeats,
        "max_logprob_gap": gap,
        "rows": rows,
        "speedup": rows["full"]["seconds"] / rows["own"]["seconds"],
    }


def summarize(steps: list[dict[str, float]]) -> dict[str, float]:
    # The fastest step is the least disturbed by other processes (2 shared cores); the median
    # shows how much they disturbed.
    seconds = min(s["seconds"] for s in steps)
    return {
        "seconds": seconds,
        "median_seconds": statistics.median(s["seconds"] for s in steps),
        "sequence_tokens_per_s": steps[0]["sequence_tokens"] / seconds,
        "tokens_per_s": steps[0]["tokens"] / seconds,
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"model {result['model']} (vocab {result['vocab_size']}), {result['dtype']} on "
        f"{result['device']} ({result['threads']} threads), LoRA r{result['rank']}; "
        f"{result['sequences']} x {result['seq_len']} tokens, {result['completion']} trained each; "
        f"best of {result['repeats']}",
        "",
        "| vocab projection at       | s/step | (median) | seq tokens/s | trained tokens/s |",
        "|---------------------------|-------:|---------:|-------------:|-----------------:|",
    ]
    for projection in PROJECTIONS:
        row = result["rows"][projection]
        lines.append(
            f"| {LABELS[projection]:<25} | {row['seconds']:6.2f} | {row['median_seconds']:8.2f} | "
            f"{row['sequence_tokens_per_s']:12.0f} | {row['tokens_per_s']:16.1f} |"
        )
    lines += [
        "",
        f"speedup own / full: {result['speedup']:.2f}x; "
        f"max |log-prob difference| between them: {result['max_logprob_gap']:.2e}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    result = run(args)
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
