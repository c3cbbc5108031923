"""Crash-safe file writing for run directories: a killed run never leaves a half-written file.

A training run is killed sooner or later (SIGKILL from a scheduler, OOM killer, a preempted
node), and a notebook or a resumed run then reads what it left. Two kinds of file survive that:

- Whole files (json, safetensors, checkpoint folders) are written to a temp name in the same
  folder, fsync'ed, then renamed over the target with `os.replace`, which is atomic on POSIX: a
  reader sees the old file or the new one, never a mix. Temp entries are named
  `.tmp-<name>-<pid>[.<random>]`; one left by a killed process is removed by the next run's
  `remove_stale_temps`.
- Append-only logs (metrics.jsonl, matches.csv) are appended line by line and flushed, so a
  SIGKILL loses at most the line being written; `AppendLog` drops such a torn last line when it
  opens the file, and `truncate_after(step)` cuts the log back to a checkpoint on resume so no
  row is counted twice.

No pickle anywhere: tensors go through safetensors, everything else through JSON. torch and
safetensors are imported only by the tensor helpers.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import logging
import math
import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "TEMP_PREFIX",
    "AppendLog",
    "atomic_directory",
    "atomic_open",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "load_tensors",
    "read_tensor_metadata",
    "remove_directory",
    "remove_stale_temps",
    "save_tensors",
    "to_jsonable",
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


def _fsync_dir(folder: Path) -> None:
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
        _fsync_dir(Path(folder))


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
    _fsync_dir(path.parent)


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


def to_jsonable(obj: Any) -> Any:
    """`obj` as plain JSON values: NaN and infinities become null, numpy and tensors become lists.

    Python's json writes NaN as a bare `NaN`, which is not JSON: pandas, jq and browsers reject
    the file. Dataclasses become dicts, objects with `to_dict()` (league players, match records)
    use it, paths become strings, and mapping keys become strings.
    """
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, set | frozenset):
        return [to_jsonable(v) for v in sorted(obj, key=repr)]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if callable(getattr(obj, "to_dict", None)):
        return to_jsonable(obj.to_dict())
    if callable(getattr(obj, "tolist", None)):  # numpy arrays, torch tensors
        return to_jsonable(obj.tolist())
    raise TypeError(f"cannot write a {type(obj).__name__} as JSON: {obj!r:.80}")


def atomic_write_json(path: PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Write `obj` as JSON (sorted keys, NaN -> null, see `to_jsonable`) atomically."""
    text = json.dumps(to_jsonable(obj), sort_keys=True, indent=indent, allow_nan=False)
    return atomic_write_text(path, text + "\n")


# ---- tensors (safetensors: no pickle)


def save_tensors(
    path: PathLike,
    tensors: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Save a dict of CPU tensors as safetensors, atomically.

    Tensors must be on the CPU (move them first: a device copy here would hide a sync point) and
    must not share memory with each other (safetensors refuses aliases).
    """
    import torch
    from safetensors.torch import save_file

    flat: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name!r} is a {type(tensor).__name__}, not a torch.Tensor")
        if tensor.device.type != "cpu":
            raise ValueError(f"{name!r} is on {tensor.device}; move it to the CPU before saving")
        flat[name] = tensor.detach().contiguous()
    with atomic_path(path) as tmp:
        save_file(flat, os.fspath(tmp), metadata=dict(metadata) if metadata else None)
    return Path(path)


def load_tensors(path: PathLike) -> dict[str, torch.Tensor]:
    """Load a safetensors file onto the CPU."""
    from safetensors.torch import load_file

    return load_file(os.fspath(path), device="cpu")


def read_tensor_metadata(path: PathLike) -> dict[str, str]:
    """The string metadata stored with `save_tensors`, without loading the tensors."""
    from safetensors import safe_open

    with safe_open(os.fspath(path), framework="pt") as f:
        return dict(f.metadata() or {})


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
    _fsync_dir(final.parent)
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
    _fsync_dir(path.parent)
    shutil.rmtree(doomed)


# ---- append-only logs


def _tail_start(path: Path, size: int) -> int:
    """Offset just past the last newline of a non-empty file (0 if it has none)."""
    chunk = 1 << 16
    with open(path, "rb") as f:
        end = size
        while end > 0:
            start = max(0, end - chunk)
            f.seek(start)
            found = f.read(end - start).rfind(b"\n")
            if found >= 0:
                return start + found + 1
            end = start
    return 0


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, str):
        # One row per line: truncation and torn-line repair work line by line.
        return value.replace("\r", " ").replace("\n", " ")
    return value


class AppendLog:
    """An append-only JSON-lines (default) or CSV (`columns` given) log, safe to SIGKILL.

    Every `append` is one `write` followed by a flush, so a killed process loses at most the line
    being written; every `fsync_every` lines (and on `flush`/`close`) the file is fsync'ed, which
    bounds what a machine crash can lose. Opening an existing file drops a torn last line (one
    without its newline) so the next append does not glue onto it, and checks a CSV header
    against `columns`. Rows are records (mappings) carrying a `step_key` entry, which
    `truncate_after` uses to cut the log back to a checkpoint.
    """

    def __init__(
        self,
        path: PathLike,
        columns: Sequence[str] | None = None,
        step_key: str = "step",
        fsync_every: int = 64,
    ) -> None:
        self.path = Path(path)
        self.columns = tuple(columns) if columns is not None else None
        self.step_key = step_key
        self.fsync_every = fsync_every
        self._lock = threading.Lock()
        self._unsynced = 0
        self._header = self._format_csv(self.columns) if self.columns is not None else ""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        self._check_header()
        self._file: IO[str] | None = None
        self._open()

    def __repr__(self) -> str:
        kind = "csv" if self.columns is not None else "jsonl"
        return f"AppendLog({str(self.path)!r}, {kind})"

    # ---- opening

    def _repair_tail(self) -> None:
        size = self.path.stat().st_size if self.path.exists() else 0
        if size == 0:
            return
        start = _tail_start(self.path, size)
        if start == size:
            return
        logger.warning(
            "%s: dropping a torn last line (%d bytes, a killed writer)", self.path, size - start
        )
        os.truncate(self.path, start)

    def _check_header(self) -> None:
        if self.columns is None or not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, encoding="utf-8", newline="") as f:
            first = f.readline()
        if first != self._header:
            raise ValueError(
                f"{self.path} has columns {first.strip()!r}, expected {self._header.strip()!r}; "
                "write this run to a new file or folder"
            )

    def _open(self) -> None:
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._file = open(self.path, "a", encoding="utf-8", newline="")  # noqa: SIM115
        if new:
            if self._header:
                self._file.write(self._header)
                self._file.flush()
            os.fsync(self._file.fileno())
            _fsync_dir(self.path.parent)

    # ---- formatting

    @staticmethod
    def _format_csv(cells: Iterable[Any]) -> str:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(cells)
        return buf.getvalue()

    def format(self, record: Mapping[str, Any]) -> str:
        """One record as its line (with the newline)."""
        if self.step_key not in record:
            raise ValueError(f"a {self.path.name} row needs {self.step_key!r}; got {list(record)}")
        if self.columns is None:
            line = json.dumps(to_jsonable(record), allow_nan=False, ensure_ascii=False)
            return line + "\n"
        unknown = [k for k in record if k not in self.columns]
        if unknown:
            raise ValueError(f"{self.path.name} has no columns {unknown}; columns: {self.columns}")
        return self._format_csv(_csv_cell(record.get(c)) for c in self.columns)

    # ---- writing

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record and flush it to the OS."""
        self.append_many([record])

    def append_many(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Append records in one write; return how many."""
        lines = [self.format(r) for r in records]
        if not lines:
            return 0
        with self._lock:
            if self._file is None:
                raise ValueError(f"{self!r} is closed")
            self._file.write("".join(lines))
            self._file.flush()
            self._unsynced += len(lines)
            if self.fsync_every and self._unsynced >= self.fsync_every:
                os.fsync(self._file.fileno())
                self._unsynced = 0
        return len(lines)

    def flush(self, fsync: bool = True) -> None:
        with self._lock:
            if self._file is None:
                return
            self._file.flush()
            if fsync:
                os.fsync(self._file.fileno())
                self._unsynced = 0

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> AppendLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- reading and resume

    def _step_parser(self) -> Callable[[str], int]:
        if self.columns is None:
            return lambda line: int(json.loads(line)[self.step_key])
        if self.step_key not in self.columns:
            raise ValueError(f"{self.path.name} has no {self.step_key!r} column to truncate on")
        index = self.columns.index(self.step_key)
        return lambda line: int(float(next(csv.reader([line]))[index]))

    def _body_lines(self) -> list[str]:
        with open(self.path, encoding="utf-8", newline="") as f:
            lines = f.read().splitlines(keepends=True)
        if self.columns is not None and lines:
            lines = lines[1:]
        return lines

    def has_rows(self) -> bool:
        """True when the log holds at least one row (a CSV header alone does not count)."""
        self.flush(fsync=False)
        size = self.path.stat().st_size if self.path.exists() else 0
        return size > len(self._header.encode("utf-8"))

    def truncate_after(self, step: int) -> int:
        """Keep only rows with step <= `step` (atomic rewrite); return how many were dropped.

        For resume: the rows after the checkpoint will be produced again. A torn last line and
        rows whose step cannot be read are dropped too, with a warning.
        """
        step_of = self._step_parser()
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
            lines = self._body_lines() if self.path.exists() else []
            kept: list[str] = []
            unreadable = 0
            for line in lines:
                if not line.endswith("\n"):
                    unreadable += 1  # torn by a kill mid-write
                    continue
                try:
                    row_step = step_of(line)
                except (ValueError, KeyError, TypeError, IndexError, StopIteration):
                    unreadable += 1
                    continue
                if row_step <= step:
                    kept.append(line)
            if unreadable:
                logger.warning("%s: dropped %d unreadable rows", self.path, unreadable)
            dropped = len(lines) - len(kept)
            atomic_write_text(self.path, self._header + "".join(kept))
            self._unsynced = 0
            self._open()
        if dropped:
            logger.info("%s: dropped %d rows after step %d", self.path.name, dropped, step)
        return dropped
