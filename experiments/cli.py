"""Shared command-line plumbing of the experiments: presets, logging, the run and its summary.

Each experiment module holds only its presets (`TrainerConfig`s) and `main(cfg)`; this module
turns them into a CLI whose presets are tyro subcommands, each overridable field by field:

    python -m experiments.team_battle                        # the default preset
    python -m experiments.team_battle smoke                  # about a minute
    python -m experiments.team_battle smoke --iterations 4   # a preset, then any field
    python -m experiments.team_battle gpu --model Qwen/Qwen2.5-1.5B-Instruct
    python -m experiments.team_battle --help                 # every field, with its docstring

`--preset NAME` (the older spelling) still works: it is the same as `NAME`.
"""

from __future__ import annotations

import errno
import signal
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

from trainers.config import ConfigError, TrainerConfig


def preset_args(args: Sequence[str], presets: Mapping[str, object]) -> list[str]:
    """The arguments with the preset subcommand first: `--preset NAME` becomes `NAME`, and the
    default preset is named when none is (so `--help` lists every field)."""
    args = list(args)
    for i, arg in enumerate(args):
        if arg == "--preset" and i + 1 < len(args):
            args = [args[i + 1], *args[:i], *args[i + 2 :]]
            break
        if arg.startswith("--preset="):
            args = [arg.split("=", 1)[1], *args[:i], *args[i + 1 :]]
            break
    if not args or args[0] not in presets:
        if args and not args[0].startswith("-"):
            raise SystemExit(f"unknown preset {args[0]!r}; choose one of {', '.join(presets)}")
        args = ["default", *args]
    return args


def parse(
    presets: Mapping[str, TrainerConfig],
    description: str,
    prog: str,
    args: Sequence[str] | None = None,
) -> TrainerConfig:
    """The config the command line asks for: a preset (subcommand), then any field overridden."""
    import tyro

    names = ", ".join(presets)
    helps = {
        name: f"{description.strip()}\n\nPreset: {name} (presets: {names}; name one first, then "
        f"override any field; `--preset {name}` also works)"
        for name in presets
    }
    kinds = tyro.extras.subcommand_type_from_defaults(dict(presets), helps)
    return tyro.cli(
        tyro.conf.OmitArgPrefixes[tyro.conf.OmitSubcommandPrefixes[kinds]],  # type: ignore[misc]
        args=preset_args(sys.argv[1:] if args is None else args, presets),
        description=f"{description.strip()}\n\nPresets: {names}",
        prog=prog,
    )


def run(cfg: TrainerConfig) -> Path:
    """Train with `cfg`, print the summary table, return the run directory.

    The console stays quiet (see `trainers.run.console`). A failure ends the process with one
    `error:` line on stderr and a non-zero status (2 for the expected ones: a bad config, model,
    run folder, disk or Ray plan, whose line alone goes to the run's log file; 1 for anything
    else, whose traceback goes there too);
    `--debug` raises instead, with the whole traceback.
    """
    from trainers.run.console import Console

    console = Console(verbose=cfg.run.verbose)
    console.configure_logging()
    # SIGTERM (a scheduler, `kill`) unwinds like Ctrl-C: the engine is shut down, the adapter
    # store removed and the lock released by the `finally` blocks, instead of dying mid-write.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return _train(cfg, console)
    except Exception as e:
        if cfg.run.debug:
            raise
        failure = e
    finally:
        console.close()
    expected = _expected(failure)
    run_dir = None if console.log_path is None else console.log_path.parent
    message = _message(failure, expected, run_dir)
    if console.log_path is not None:  # the log keeps the line; a traceback only for a bug
        with open(console.log_path, "a", encoding="utf-8") as f:
            f.write(f"error: {message}\n")
            if not expected:
                traceback.print_exception(failure, file=f)
    where = "" if expected or console.log_path is None else f" (traceback in {console.log_path})"
    print(f"error: {message}{where}", file=sys.stderr)
    raise SystemExit(2 if expected else 1)


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _train(cfg: TrainerConfig, console) -> Path:
    from trainers.league.evaluation import read_evaluation_table
    from trainers.run import layout as rf
    from trainers.selfplay import SelfPlayTrainer, format_summary

    trainer = SelfPlayTrainer(cfg, console=console)
    try:
        trainer.setup()
        run_dir = trainer.run()
        console.print(format_summary(trainer.report()))
        table = read_evaluation_table(Path(run_dir) / rf.METRICS)
        if table:
            console.print(table)
        # The run's own parent: a run resumed by its path may live outside `runs_dir`.
        console.print(f"watch: tensorboard --logdir {Path(run_dir).parent}")
        console.print(f"figures: python -m experiments.report {run_dir}")
        console.print(f"log: {console.log_path}")
        return run_dir
    finally:
        trainer.close()


#: errno values that mean the user's disk, not the program. A missing file is not among them:
#: the missing model and run folder are named by their own errors, and any other missing file
#: is a bug whose traceback the user needs.
_DISK_ERRORS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}


def _expected(e: BaseException) -> bool:
    """A failure the user can fix from its message alone: no traceback needed."""
    from agents.models.errors import ModelNotFoundError
    from trainers.run.guard import RunDirError, is_disk_full

    if isinstance(e, ModelNotFoundError | RunDirError | ConfigError) or is_disk_full(e):
        return True
    return isinstance(e, OSError) and e.errno in _DISK_ERRORS


def _message(e: BaseException, expected: bool, run_dir: Path | None = None) -> str:
    """The `error:` line's text. Our own errors say what to do; a full disk met by a library
    (safetensors, TensorBoard, a log write) is named as one, with the library's words after."""
    from trainers.run.guard import RunDirError, is_disk_full

    if not expected:
        return f"{type(e).__name__}: {e}"
    if is_disk_full(e) and not isinstance(e, RunDirError):
        resume = f"resume with --resume {run_dir}" if run_dir else "resume the run"
        return f"the disk is full ({type(e).__name__}: {e}); free some space, then {resume}"
    return str(e)
