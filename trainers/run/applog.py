"""Append-only logs (metrics.jsonl, matches.csv) that a SIGKILL cannot leave unreadable.

Lines are appended and flushed one write at a time, so a killed writer loses at most the line it
was writing; `AppendLog` drops such a torn last line when it opens the file, and
`truncate_after(step)` cuts the log back to a checkpoint on resume so no row is counted twice.
`rows_per_step` reads a log without opening it for writing, so a resume can check that a
checkpoint's rows are all there before it picks that checkpoint.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from trainers.run.atomic import PathLike, atomic_write_text, fsync_dir
from trainers.run.jsonable import to_jsonable

__all__ = ["AppendLog", "rows_per_step"]

logger = logging.getLogger(__name__)


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


def _step_parser(columns: Sequence[str] | None, step_key: str) -> Callable[[str], int]:
    """A function from one line of a log to its row's step."""
    if columns is None:
        return lambda line: int(json.loads(line)[step_key])
    if step_key not in columns:
        raise ValueError(f"a log with columns {tuple(columns)} has no {step_key!r} column")
    index = list(columns).index(step_key)
    return lambda line: int(float(next(csv.reader([line]))[index]))


#: What a line that is not a row of its log raises when its step is read.
_UNREADABLE = (ValueError, KeyError, TypeError, IndexError, StopIteration)


def _body_lines(path: Path, header: bool) -> list[str]:
    """The log's lines with their newlines (a torn last line has none), the header left out."""
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().splitlines(keepends=True)
    return lines[1:] if header and lines else lines


def rows_per_step(
    path: PathLike, columns: Sequence[str] | None = None, step_key: str = "step"
) -> Counter[int]:
    """{step: whole rows} of a log as it is on disk, read without changing the file.

    A torn last line and lines whose step cannot be read are not rows; a missing file has none.
    """
    path = Path(path)
    step_of = _step_parser(columns, step_key)
    counts: Counter[int] = Counter()
    if not path.exists():
        return counts
    for line in _body_lines(path, header=columns is not None):
        if not line.endswith("\n"):
            continue
        try:
            counts[step_of(line)] += 1
        except _UNREADABLE:
            continue
    return counts


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
    `truncate_after` uses to cut the log back to a checkpoint; `rows` counts them, so a
    checkpoint can record how many rows it stands on.
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
        self._rows = self._count_rows()
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

    def _count_rows(self) -> int:
        """Rows already in the file (its tail repaired: every line is whole)."""
        if not self.path.exists():
            return 0
        newlines = 0
        with open(self.path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                newlines += block.count(b"\n")
        return max(0, newlines - (1 if self._header else 0))

    def _open(self) -> None:
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._file = open(self.path, "a", encoding="utf-8", newline="")  # noqa: SIM115
        if new:
            if self._header:
                self._file.write(self._header)
                self._file.flush()
            os.fsync(self._file.fileno())
            fsync_dir(self.path.parent)

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
            self._rows += len(lines)
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

    @property
    def rows(self) -> int:
        """Rows in the log: those it held when opened, plus those appended since."""
        return self._rows

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
        step_of = _step_parser(self.columns, self.step_key)
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
            lines = _body_lines(self.path, self._header != "") if self.path.exists() else []
            kept: list[str] = []
            unreadable = 0
            for line in lines:
                if not line.endswith("\n"):
                    unreadable += 1  # torn by a kill mid-write
                    continue
                try:
                    row_step = step_of(line)
                except _UNREADABLE:
                    unreadable += 1
                    continue
                if row_step <= step:
                    kept.append(line)
            if unreadable:
                logger.warning("%s: dropped %d unreadable rows", self.path, unreadable)
            dropped = len(lines) - len(kept)
            atomic_write_text(self.path, self._header + "".join(kept))
            self._unsynced = 0
            self._rows = len(kept)
            self._open()
        if dropped:
            logger.info("%s: dropped %d rows after step %d", self.path.name, dropped, step)
        return dropped
