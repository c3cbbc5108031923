"""Where an iteration's seconds go: a `PhaseTimer` with one context manager per phase.

    timer = PhaseTimer()
    with timer.phase("rollout"):
        with timer.phase("generate"):     # nested: its time is taken out of "rollout"
            ...
    totals = timer.lap()                  # {"rollout": s, "generate": s, "total": s}; resets

Phases nest, and each second is charged to the innermost open phase only (exclusive time), so the
phases of one iteration add up to its wall time and none is counted twice. `lap()` returns the
per-iteration totals and starts the next iteration; `summary()` holds the totals over every lap,
for a run's closing summary. `wrap(obj, "method", "phase")` times an existing method without
editing its code (benchmarks use it).
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["TOTAL", "PhaseTimer", "format_split"]

TOTAL = "total"
"""The key of a lap's wall time (from the previous lap, or the timer's start, to this one)."""


class PhaseTimer:
    """Exclusive wall time per named phase, per iteration (lap) and over the run."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._stack: list[str] = []
        self._absorbing = False
        self._mark = clock()  # when the innermost open phase was last charged
        self._lap_start = self._mark
        self._current: dict[str, float] = defaultdict(float)
        self._run: dict[str, float] = defaultdict(float)
        self.laps = 0

    def _charge(self) -> None:
        now = self._clock()
        if self._stack:
            self._current[self._stack[-1]] += now - self._mark
        self._mark = now

    @contextmanager
    def phase(self, name: str, absorb: bool = False) -> Iterator[None]:
        """Time the block as `name`; an open outer phase pauses until the block ends. With
        `absorb`, phases opened inside the block count as this one (e.g. an evaluation's
        rollout is evaluation time, not rollout time)."""
        if self._absorbing:
            yield
            return
        self._charge()
        self._stack.append(name)
        self._absorbing = absorb
        try:
            yield
        finally:
            self._charge()
            self._stack.pop()
            self._absorbing = False

    def wrap(self, obj: Any, method: str, name: str, absorb: bool = False) -> None:
        """Replace `obj.method` by a version timed as phase `name` (an instance attribute)."""
        inner = getattr(obj, method)

        @functools.wraps(inner)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.phase(name, absorb):
                return inner(*args, **kwargs)

        setattr(obj, method, timed)

    def lap(self) -> dict[str, float]:
        """This iteration's seconds per phase plus `total` (its wall time); starts the next."""
        self._charge()
        now = self._mark
        out = dict(self._current)
        out[TOTAL] = now - self._lap_start
        for key, value in out.items():
            self._run[key] += value
        self._current = defaultdict(float)
        self._lap_start = now
        self.laps += 1
        return out

    def summary(self) -> dict[str, float]:
        """Seconds per phase summed over every lap so far (and `total`)."""
        return dict(self._run)


def format_split(seconds: dict[str, float], laps: int = 1) -> str:
    """One line per phase, largest first: seconds per iteration and share of the total."""
    laps = max(laps, 1)
    total = seconds.get(TOTAL) or sum(v for k, v in seconds.items() if k != TOTAL)
    rows = sorted(((k, v) for k, v in seconds.items() if k != TOTAL), key=lambda kv: -kv[1])
    untimed = total - sum(v for _, v in rows)
    if untimed > 1e-3 * total:
        rows.append(("(untimed)", untimed))
    lines = [f"{'phase':<18}{'s/iter':>9}{'share':>8}"]
    for key, value in rows:
        share = value / total if total else 0.0
        lines.append(f"{key:<18}{value / laps:>9.2f}{share:>8.1%}")
    lines.append(f"{TOTAL:<18}{total / laps:>9.2f}")
    return "\n".join(lines)
