"""Whole files and folders that appear whole or not at all, and the temp entries that do it.

A file (json, safetensors) or a folder (a checkpoint) is written under a temp name in the same
folder, fsync'ed, then renamed over its target with `os.replace`, which is atomic on POSIX: a
reader sees the old version or the new one, never a mix. Temp entries are named
`.tmp-<name>-<pid>[.<random>]`; one left by a killed process is removed by the next run's
`remove_stale_temps`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from trainers.run.jsonable import to_jsonable

__all__ = [
    "TEMP_PREFIX",
    "atomic_directory",
    "atomic_open",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "fsync_dir",
    "remove_directory",
    "remove_stale_temps",
]

logger = logging.getLogger(__name__)

#: Every temp file or folder starts with this; nothing else in a run directory does.
TEMP_PREFIX = ".tmp-"
_TEMP_RE = re.compile(rf"{re.escape(TEMP_PREFIX)}(?P<name>.+)-(?P<pid>\d+)(?:\.[A-Za-z0-9_]+)?")

PathLike = str | os.PathLike[str]


# ---- temp names and fsync


def _temp_sibling(path: Path, tag: str | None = None) -> Path:
    """`.tmp-<name>-<pid>[.<tag>]` next to `path`: the pid tells cleanup whose it is."""
    suffix = f".{tag}" if tag else ""
    return path.parent / f"{TEMP_PREFIX}{path.name}-{os.getpid()}{suffix}"


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable; a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_tree(root: Path) -> None:
    """fsync every file and folder under `root`: what a writer put there may still be cached."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            _fsync_file(Path(folder) / name)
        fsync_dir(Path(folder))


def _pid_alive(pid: int) -> bool:
    try:
        import psutil
    except ImportError:
        if os.name != "posix":
            return False  # os.kill(pid, 0) would terminate the process on Windows
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return psutil.pid_exists(pid)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def remove_stale_temps(folder: PathLike) -> list[Path]:
    """Delete the temp files and folders a killed process left in `folder`; return them.

    Call it when a run (re)starts, before writing. An entry is stale when the process that made
    it is gone, or when it carries our own pid (a container restart often reuses the pid, and we
    have written nothing yet). Entries of another live process are left alone.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed: list[Path] = []
    for entry in sorted(folder.iterdir()):
        match = _TEMP_RE.fullmatch(entry.name)
        if match is None:
            continue
        pid = int(match["pid"])
        if pid != os.getpid() and _pid_alive(pid):
            logger.debug("leaving %s: process %d is alive", entry, pid)
            continue
        _remove(entry)
        removed.append(entry)
    if removed:
        logger.info("removed %d temp entries left by a killed run in %s", len(removed), folder)
    return removed


# ---- whole files


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temp path to write `path`'s content to; on success it replaces `path` atomically.

    For writers that want a file name (safetensors, peft). If the block raises, the temp file is
    deleted and `path` keeps its old content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(path, secrets.token_hex(4))
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temp file for {path}")
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w", encoding: str = "utf-8") -> Iterator[IO[Any]]:
    """Open `path` for writing ("w" or "wb") so that it appears only once fully written.

    Text mode writes newlines as given (no translation), so files read the same everywhere.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w' or 'wb', not {mode!r}")
    with atomic_path(path) as tmp:
        if mode == "wb":
            with open(tmp, "xb") as f:
                yield f
        else:
            with open(tmp, "x", encoding=encoding, newline="") as f:
                yield f


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically; return the path."""
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically; return the path."""
    with atomic_open(path, "w", encoding=encoding) as f:
        f.write(text)
    return Path(path)


def atomic_write_json(path: PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Write `obj` as JSON (sorted keys, NaN -> null, see `to_jsonable`) atomically."""
    text = json.dumps(to_jsonable(obj), sort_keys=True, indent=indent, allow_nan=False)
    return atomic_write_text(path, text + "\n")


# ---- folders


@contextlib.contextmanager
def atomic_directory(final: PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temp folder (`.tmp-<name>-<pid>`); on success it is renamed to `final`.

    Whatever is written inside need not be atomic itself (peft's save_pretrained is not): the
    folder appears whole or not at all. If the block raises, the temp folder is removed and an
    existing `final` is untouched. With `overwrite`, an existing `final` is replaced (moved
    aside, the new one renamed in, the old one deleted); without it, FileExistsError.
    One writer per `final` at a time.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and not overwrite:
        raise FileExistsError(f"{final} exists; pass overwrite=True to replace it")
    tmp = _temp_sibling(final)
    old = _temp_sibling(final, "old")
    for leftover in (tmp, old):
        if leftover.exists():
            _remove(leftover)
    tmp.mkdir()
    try:
        yield tmp
        _fsync_tree(tmp)
        if final.exists():
            if not overwrite:
                raise FileExistsError(f"{final} appeared while it was being written")
            os.replace(final, old)
        os.replace(tmp, final)
    except BaseException:
        if old.exists() and not final.exists():
            os.replace(old, final)  # put the previous version back
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(final.parent)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def remove_directory(path: PathLike) -> None:
    """Delete a folder so that a kill midway never leaves a partial copy under its own name.

    The folder is first renamed to a temp name (atomic), then deleted; a kill during the delete
    leaves only a temp folder, which `remove_stale_temps` clears.
    """
    path = Path(path)
    if not path.exists():
        return
    doomed = _temp_sibling(path, "del")
    if doomed.exists():
        _remove(doomed)
    os.replace(path, doomed)
    fsync_dir(path.parent)
    shutil.rmtree(doomed)
