"""Guards around a run directory: what makes a folder a run, who may write it, what may resume it.

- A run folder carries a marker file (`layout.RUN_MARKER`) written when the trainer creates it;
  a folder without one is not a run, and `--resume` refuses it before writing anything
  (`--resume auto` passes over it to the newest folder that is a run). Runs made before the
  marker existed are recognised by their own files (config.json naming the run's identity next
  to checkpoints/ or matches.csv) and get the marker on their first resume.
- The marker records the run's identity (`IDENTITY_FIELDS`): what a checkpoint's adapters and logs
  only make sense under. Resuming with a different env, mode, model, rank or sharing stops with a
  message that names each difference: the adapters would not load, or the logs would mix games.
- `RunLock` holds an exclusive `flock` on `<run>/.lock` for the trainer's life, so a second
  trainer on the same folder stops at once instead of writing the same steps twice. The kernel
  drops the lock when the process dies (SIGKILL included): there is no stale lock to clean.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainers.run import layout as rf
from trainers.run.io import atomic_write_json

__all__ = [
    "ADAPTER_STORE_PREFIX",
    "IDENTITY_FIELDS",
    "OpenRun",
    "RunDirError",
    "RunLock",
    "check_identity",
    "check_writable",
    "identity_of",
    "is_disk_full",
    "mark_run",
    "newest_run",
    "open_run",
    "read_identity",
    "remove_dead_stores",
]

logger = logging.getLogger(__name__)

#: Config fields a run cannot change on resume (its adapters and logs depend on them).
IDENTITY_FIELDS = ("experiment", "env_id", "env_kwargs", "mode", "share", "model", "lora_rank")
_MARKER_FORMAT = 1
_LOCK = ".lock"
#: Prefix of the folder of adapter versions a trainer publishes (`<prefix><pid>`).
ADAPTER_STORE_PREFIX = ".adapters-"


class RunDirError(RuntimeError):
    """A run folder cannot be used as asked; the message says why and what to do instead."""


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
#: How libraries that do their own io word a full disk (safetensors' Rust writer: "I/O error:
#: No space left on device (os error 28)") when they raise their own error, not an OSError.
_DISK_FULL_WORDS = ("No space left on device", "Disk quota exceeded", f"(os error {errno.ENOSPC})")


def is_disk_full(e: BaseException) -> bool:
    """Whether `e`, or an error it was raised from or while handling, says the disk is full."""
    seen: set[int] = set()
    err: BaseException | None = e
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in _DISK_FULL:
            return True
        if any(words in str(err) for words in _DISK_FULL_WORDS):
            return True
        err = err.__cause__ or err.__context__
    return False


_MISSING = object()


def _find(config: Mapping[str, Any], field: str) -> Any:
    """`field` from a flat or nested config dict (the first match, depth first)."""
    if field in config:
        return config[field]
    for value in config.values():
        if isinstance(value, Mapping):
            found = _find(value, field)
            if found is not _MISSING:
                return found
    return _MISSING


def identity_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The identity fields of a config dict (nested or flat); absent fields are left out."""
    out = {}
    for field in IDENTITY_FIELDS:
        value = _find(config, field)
        if value is not _MISSING:
            out[field] = value
    return out


def mark_run(run_dir: str | os.PathLike[str], config: Mapping[str, Any]) -> None:
    """Write the run marker (format and identity) into a run folder the trainer owns."""
    atomic_write_json(
        Path(run_dir) / rf.RUN_MARKER,
        {"format": _MARKER_FORMAT, "identity": identity_of(config)},
    )


def _legacy_identity(run_dir: Path) -> dict[str, Any] | None:
    """Identity of a run written before markers existed, or None if the folder is no run."""
    config_path = run_dir / rf.CONFIG
    has_run_files = (run_dir / rf.CHECKPOINTS).is_dir() or (run_dir / rf.MATCHES).is_file()
    if not (config_path.is_file() and has_run_files):
        return None
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, Mapping):
        return None
    identity = identity_of(config)
    return identity if {"env_id", "mode", "model"} <= identity.keys() else None


def read_identity(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The identity a run folder records; RunDirError if the folder is not a LoRA League run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"no run directory {run_dir}")
    marker = run_dir / rf.RUN_MARKER
    if marker.is_file():
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
            return dict(data["identity"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RunDirError(f"{marker} is unreadable ({e}): not resuming {run_dir}") from e
    legacy = _legacy_identity(run_dir)
    if legacy is None:
        raise RunDirError(
            f"{run_dir} is not a LoRA League run (no {rf.RUN_MARKER}, no run files): "
            "refusing to write into it; give --resume a folder the trainer created"
        )
    return legacy


def check_identity(run_dir: str | os.PathLike[str], config: Mapping[str, Any]) -> None:
    """Raise RunDirError naming every identity field where `config` differs from the run's."""
    recorded = read_identity(run_dir)
    wanted = identity_of(config)
    shared = [f for f in IDENTITY_FIELDS if f in recorded and f in wanted]
    diffs = [
        f"{field}: run has {recorded[field]!r}, this config {wanted[field]!r}"
        for field in shared
        if _normal(recorded[field]) != _normal(wanted[field])
    ]
    if diffs:
        raise RunDirError(
            f"cannot resume {run_dir} with a different setup ({'; '.join(diffs)}); "
            "resume with the run's own settings or start a new run"
        )


def _normal(value: Any) -> Any:
    """JSON round trip, so a tuple in the config equals the list the run's JSON holds."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def check_writable(path: str | os.PathLike[str]) -> None:
    """Raise RunDirError unless a file can be created in `path` (read-only or full disks)."""
    path = Path(path)
    probe = path / f".tmp-write-probe-{os.getpid()}"
    try:
        with open(probe, "wb") as f:
            f.write(b"0" * 4096)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        reason = "the disk is full" if e.errno in _DISK_FULL else e.strerror or str(e)
        raise RunDirError(f"cannot write in {path}: {reason}") from e
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


class RunLock:
    """An exclusive lock on a run folder for as long as this object is open.

    `acquire()` raises RunDirError at once (no waiting) if another process holds it, naming that
    process when it wrote its pid. The lock file stays; only the kernel lock matters.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.path = Path(run_dir) / _LOCK
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunDirError(
                f"{self.path.parent} is in use by a running trainer (pid {holder}): "
                "wait for it to finish or stop it before resuming"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class OpenRun:
    """A run folder this process now owns: its path, its lock, and whether it is resumed."""

    path: Path
    lock: RunLock
    resumed: bool


def _is_run(path: Path) -> bool:
    try:
        read_identity(path)
    except RunDirError:
        return False
    return True


def newest_run(runs_dir: str | os.PathLike[str], experiment: str, seed: int) -> Path | None:
    """The newest run folder of `experiment` and `seed` in `runs_dir` (`--resume auto`), or None.

    Folders named like a run that are not one (a trainer killed between creating the folder and
    writing its marker leaves one, empty) are passed over; the choice and every folder passed
    over are logged.
    """
    pattern = f"{experiment}{rf.RUN_NAME_SEP}{seed}{rf.RUN_NAME_SEP}*"
    named = sorted((p for p in Path(runs_dir).glob(pattern) if p.is_dir()), reverse=True)
    passed = []
    for path in named:
        if _is_run(path):
            if passed:
                logger.warning(
                    "--resume auto: passing over %s (not a LoRA League run: no %s); resuming %s",
                    ", ".join(p.name for p in passed), rf.RUN_MARKER, path,
                )  # fmt: skip
            else:
                logger.info("--resume auto: resuming %s", path)
            return path
        passed.append(path)
    if passed:
        logger.warning(
            "--resume auto: no run of %s, seed %d, in %s (%s not runs): starting a new one",
            experiment, seed, runs_dir, ", ".join(p.name for p in passed),
        )  # fmt: skip
    return None


def open_run(
    config: Mapping[str, Any],
    runs_dir: str | os.PathLike[str],
    experiment: str,
    seed: int,
    resume: str | None = None,
) -> OpenRun:
    """Create a new run folder, or open `resume` ('auto': the newest run of this experiment and
    seed, `newest_run`; a new one if there is none) after checking it is a run of the same
    identity.

    Everything that can refuse does so here, before a model or an engine is started: a folder
    that is not a run, a different identity, a second trainer, a folder that cannot be written.
    """
    from trainers.run.monitoring import make_run_dir

    path: Path | None = None
    if resume == "auto":
        path = newest_run(runs_dir, experiment, seed)
    elif resume:
        path = Path(resume)
    if path is not None:
        check_identity(path, config)
        lock = RunLock(path).acquire()
        try:
            check_writable(path)
            if not (path / rf.RUN_MARKER).is_file():  # a run from before markers: mark it now
                mark_run(path, config)
        except BaseException:
            lock.release()
            raise
        remove_dead_stores(path)
        return OpenRun(path, lock, resumed=True)
    try:
        Path(runs_dir).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunDirError(f"cannot create {runs_dir}: {e.strerror or e}") from e
    check_writable(runs_dir)
    path = make_run_dir(Path(runs_dir), experiment, seed)
    lock = RunLock(path).acquire()
    mark_run(path, config)
    return OpenRun(path, lock, resumed=False)


def remove_dead_stores(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Delete adapter stores a killed trainer left in `run_dir`; call it holding the run's lock.

    Under the lock no other trainer writes this run, so every store but this process's own is
    a dead one's.
    """
    import shutil

    mine = f"{ADAPTER_STORE_PREFIX}{os.getpid()}"
    removed = []
    for entry in Path(run_dir).glob(f"{ADAPTER_STORE_PREFIX}*"):
        if entry.name != mine and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed
