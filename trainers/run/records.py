"""A checkpoint's rows in the run's logs: counted when it is saved, checked before a resume uses it.

metrics.jsonl and matches.csv grow as a run goes and are cut back to the checkpoint's step on
resume. A killed writer or a damaged disk can leave them short of rows a checkpoint stands on
(a torn last line, a file cut short): resuming from that checkpoint would leave its steps with
part of their rows for good, since they are never played again. So a checkpoint records how
many rows each log held when it was saved (every row of its steps, none later), and a resume
takes the newest checkpoint whose rows are all still there; the steps after it are played again.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from trainers.run import layout as rf
from trainers.run.applog import AppendLog, rows_per_step
from trainers.run.checkpoint import load_json

__all__ = ["KEY", "LOGS", "RowCheck", "row_counts"]

#: The `trainer_state.json` entry with {log file name: rows it held at the checkpoint}.
KEY = "log_rows"
#: The logs whose rows are checked, each with its CSV columns (None: JSON lines).
LOGS: Mapping[str, tuple[str, ...] | None] = {rf.METRICS: None, rf.MATCHES: rf.MATCH_COLUMNS}


def row_counts(logs: Mapping[str, AppendLog]) -> dict[str, int]:
    """{log file name: its rows now}, for the checkpoint being saved."""
    return {name: log.rows for name, log in logs.items()}


class RowCheck:
    """`check(step_dir)`: why the logs no longer hold a checkpoint's rows (empty: they do).

    The logs are read once, on the first call, and never changed. A checkpoint that recorded no
    counts passes: there is nothing to compare.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self._per_step: dict[str, Counter[int]] | None = None

    def _counts(self) -> dict[str, Counter[int]]:
        if self._per_step is None:
            self._per_step = {
                name: rows_per_step(self.run_dir / name, columns) for name, columns in LOGS.items()
            }
        return self._per_step

    def __call__(self, step_dir: str | os.PathLike[str]) -> list[str]:
        state = load_json(step_dir, rf.TRAINER_STATE)
        recorded = state.get(KEY) if isinstance(state, Mapping) else None
        if not isinstance(recorded, Mapping):
            return []
        step = int(state["step"])
        problems = []
        for name, per_step in self._counts().items():
            if name not in recorded:
                continue
            held = sum(n for s, n in per_step.items() if s <= step)
            if held != recorded[name]:
                problems.append(
                    f"{name} holds {held} rows of steps up to {step}, "
                    f"{recorded[name]} when the checkpoint was saved"
                )
        return problems
