"""What a run shows its user, and where everything else goes.

A training run starts a vLLM engine whose processes print hundreds of INFO lines, progress bars
and C++ warnings straight to the inherited stdout/stderr. By default (quiet) the console keeps
only what is meant for the user: warnings of this project, errors, the progress bar and the
closing summary. Everything else goes to the run's log file (`layout.LOG`):

- `Console.attach(run_dir)` points file descriptors 1 and 2 at the log file, so the engine's child
  processes, C libraries and Python `warnings` write there, and keeps a duplicate of the
  terminal as `Console.stream` for the bar and the summary;
- log records of this process go to the log file at INFO; the console shows this project's
  WARNINGs and everyone's ERRORs; records logged before the run folder exists are buffered and
  written to the log file once it does.

`verbose=True` leaves stdout/stderr alone and shows every INFO line, as before; the log file is
written either way.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import TextIO

from trainers.run import layout as rf

__all__ = ["PROJECT_LOGGERS", "Console"]

#: Top-level packages whose warnings the quiet console shows.
PROJECT_LOGGERS = ("envs", "agents", "trainers", "experiments")
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _ConsoleFilter(logging.Filter):
    """Quiet console: this project's WARNINGs and anything at ERROR or above."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        own = record.name.split(".", 1)[0] in PROJECT_LOGGERS
        return own and record.levelno >= logging.WARNING


class Console:
    """The user's terminal for one run (see the module docstring)."""

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose
        self.stream: TextIO = sys.stdout
        self.log_path: Path | None = None
        self._saved_fds: tuple[int, int] | None = None
        self._buffer = logging.handlers.BufferingHandler(capacity=10_000)
        self._handlers: list[logging.Handler] = []

    # ---- logging

    def configure_logging(self) -> None:
        """Route log records: console (filtered unless verbose) now, the log file once attached."""
        root = logging.getLogger()
        root.setLevel(logging.INFO)
        for noisy in ("httpx", "urllib3", "filelock"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        console = logging.StreamHandler(self.stream)
        console.setFormatter(logging.Formatter(_FORMAT if self.verbose else "%(message)s"))
        if not self.verbose:
            console.addFilter(_ConsoleFilter())
        self._buffer.setLevel(logging.INFO)
        for handler in (console, self._buffer):
            root.addHandler(handler)
            self._handlers.append(handler)

    # ---- the run folder

    def attach(self, run_dir: str | os.PathLike[str]) -> Path:
        """Open `<run_dir>/<layout.LOG>` (append) and send what is not for the user there."""
        self.log_path = Path(run_dir) / rf.LOG
        file_handler = logging.FileHandler(self.log_path, mode="a", encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(_FORMAT))
        file_handler.setLevel(logging.INFO)
        root = logging.getLogger()
        root.addHandler(file_handler)
        self._handlers.append(file_handler)
        for record in self._buffer.buffer:  # what was said before the folder existed
            file_handler.handle(record)
        root.removeHandler(self._buffer)
        self._buffer.close()
        if not self.verbose:
            self._redirect_fds(self.log_path)
        return self.log_path

    def _redirect_fds(self, log_path: Path) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        saved = (os.dup(1), os.dup(2))
        terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1, encoding="utf-8")
        for handler in self._handlers:  # the console handler keeps writing to the terminal
            if isinstance(handler, logging.StreamHandler) and handler.stream is self.stream:
                handler.setStream(terminal)
        self.stream = terminal
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        self._saved_fds = saved

    def close(self) -> None:
        """Give stdout/stderr back to the terminal and remove this console's log handlers."""
        root = logging.getLogger()
        for handler in self._handlers:
            root.removeHandler(handler)
            if isinstance(handler, logging.FileHandler):
                handler.close()
        self._handlers.clear()
        if self._saved_fds is not None:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            out, err = self._saved_fds
            os.dup2(out, 1)
            os.dup2(err, 2)
            os.close(out)
            os.close(err)
            self._saved_fds = None
            with contextlib.suppress(Exception):
                self.stream.close()
            self.stream = sys.stdout

    def print(self, text: str = "") -> None:
        """A line for the user (the summary, where to look next)."""
        print(text, file=self.stream, flush=True)

    def __enter__(self) -> Console:
        self.configure_logging()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(total: int, initial: int, enabled: bool, stream=None):
    """The iterations bar (tqdm), on `stream`; disabled with `--no-progress`."""
    from tqdm.auto import tqdm

    # ncols 80: the bar and its postfix fit an 80-column terminal
    return tqdm(total=total, initial=initial, desc="iterations", unit="it", file=stream, ncols=80,
                disable=not enabled)  # fmt: skip
