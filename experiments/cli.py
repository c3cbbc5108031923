"""Shared command-line plumbing of the experiments: presets, logging, the run and its summary.

Each experiment module holds only its config dataclass (defaults for its mode), its presets and
`main(cfg)`; this module turns those into a CLI:

    python -m experiments.team_battle                  # the default preset
    python -m experiments.team_battle --preset smoke   # about a minute
    python -m experiments.team_battle --preset gpu --model Qwen/Qwen2.5-1.5B-Instruct
    python -m experiments.team_battle --help           # every field, with its docstring
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from trainers.config import TrainerConfig

T = TypeVar("T", bound=TrainerConfig)


def split_preset(args: Sequence[str], presets: Mapping[str, object]) -> tuple[str, list[str]]:
    """Take `--preset NAME` (or `--preset=NAME`) out of the arguments."""
    rest, preset = [], "default"
    it = iter(args)
    for arg in it:
        if arg == "--preset":
            preset = next(it, "")
        elif arg.startswith("--preset="):
            preset = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    if preset not in presets:
        raise SystemExit(f"unknown preset {preset!r}; choose one of {', '.join(presets)}")
    return preset, rest


def parse(
    presets: Mapping[str, T], description: str, prog: str, args: Sequence[str] | None = None
) -> T:
    import tyro

    args = list(sys.argv[1:] if args is None else args)
    preset, rest = split_preset(args, presets)
    base = presets[preset]
    text = (
        f"{description}\n\nPresets (--preset NAME, then override any field): "
        + ", ".join(presets)
        + f". Using: {preset}."
    )
    return tyro.cli(type(base), default=base, args=rest, description=text, prog=prog)


def run(cfg: TrainerConfig) -> Path:
    """Train with `cfg`, print the summary table, return the run directory."""
    from trainers.selfplay import SelfPlayTrainer, format_summary

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "vllm", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    trainer = SelfPlayTrainer(cfg)
    try:
        trainer.setup()
        run_dir = trainer.run()
        print(format_summary(trainer.report()))
        print(f"watch: tensorboard --logdir {Path(cfg.runs_dir)}")
        print(f"figures: python -m experiments.report {run_dir}")
        return run_dir
    finally:
        trainer.close()
