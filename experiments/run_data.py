"""Read back the files a training run wrote: `load_run(run_dir) -> RunData`.

The run directory layout, the `matches.csv` columns and the TensorBoard tags are fixed by
`trainers.run.layout`; this module only reads them. A folder is a run when it holds the run
marker (`layout.RUN_MARKER`, written before the engine starts) or, for runs made before the
marker existed, config.json, matches.csv and an event file. A run that stopped early is read as
far as it got: every file it has not written yet reads as empty and is named in
`RunData.missing`, so the figures show what exists and say what does not.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainers.run import layout as rf

__all__ = [
    "EVENT_GLOB",
    "NotARunDirectoryError",
    "RunData",
    "find_event_files",
    "latest_run",
    "load_run",
    "load_scalars",
    "read_matches",
]

logger = logging.getLogger(__name__)

EVENT_GLOB = "events.out.tfevents.*"
SCALAR_COLUMNS = ("step", "tag", "value", "wall_time")
TEXT_COLUMNS = ("step", "tag", "text", "wall_time")
_NUMERIC_MATCH_COLUMNS = (
    "step",
    "episode",
    "seed",
    "mix",
    "learning",
    "return",
    "raw_score",
    "invalid_moves",
    "moves",
    "won",
    "truncated",
)
_TEXT_SUFFIX = "/text_summary"  # torch's SummaryWriter.add_text appends it to the tag
# Without the marker, these files are what makes a folder a run (runs from before the marker).
_REQUIRED = {
    rf.CONFIG: "the run's config",
    rf.MATCHES: "one row per agent per episode",
}
_OPTIONAL = {
    rf.LEAGUE: "league, ratings and payoff",
    rf.RUN_REPORT: "run summary",
}


class NotARunDirectoryError(FileNotFoundError):
    """The folder is not a run: no run marker, nor the files every run writes."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of a traceback: the message is all a reader needs.
        return [f"{type(self).__name__}: {self}"]


@dataclass
class RunData:
    """Everything a run wrote, as pandas frames and plain dicts."""

    path: Path
    #: Long frame (step, tag, value, wall_time) from the TensorBoard event files.
    scalars: pd.DataFrame
    #: `matches.csv`: one row per agent per episode (columns `layout.MATCH_COLUMNS`).
    matches: pd.DataFrame
    #: `league.json`: {"league": ..., "ratings": ..., "payoff": ...}; {} when not written yet.
    league: dict[str, Any]
    #: `run_report.json`; {} when not written yet.
    report: dict[str, Any]
    #: `config.json`; {} when not written yet.
    config: dict[str, Any]
    #: TensorBoard text (transcripts, hyperparameters): step, tag, text, wall_time.
    texts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TEXT_COLUMNS))
    #: `metrics.jsonl` as a wide frame (one row per iteration); empty when absent.
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: The run's identity from its marker (env_id, mode, model, ...); {} without one.
    identity: dict[str, Any] = field(default_factory=dict)
    #: Files the run has not written (yet): file name -> what it would hold.
    missing: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def players(self) -> list[str]:
        """Players that took part in a recorded episode, sorted."""
        if self.matches.empty:
            return []
        return sorted(self.matches["player"].dropna().unique())

    def describe_missing(self) -> str:
        """One line naming what the run has not written, or "" when nothing is missing."""
        if not self.missing:
            return ""
        names = ", ".join(f"{name} ({what})" for name, what in self.missing.items())
        log = self.path / rf.LOG
        where = f"; its log: {log}" if log.is_file() else ""
        return f"{self.path} has no {names} yet: showing what exists{where}"


def find_event_files(run_dir: str | Path) -> list[Path]:
    """The run's TensorBoard event files (top level only), in name order."""
    return sorted(p for p in Path(run_dir).glob(EVENT_GLOB) if p.is_file())


def load_run(run_dir: str | Path) -> RunData:
    """Read a run directory as far as it was written; `NotARunDirectoryError` (naming what is
    missing) for a folder that is not a run."""
    path = Path(run_dir)
    if not path.is_dir():
        raise NotARunDirectoryError(f"{path} is not a directory (expected a run directory)")
    events = find_event_files(path)
    expected = {**_REQUIRED, EVENT_GLOB: "TensorBoard event file", **_OPTIONAL}
    missing = {name: what for name, what in expected.items() if not _has(path, name, events)}
    if not (path / rf.RUN_MARKER).is_file():
        absent = [
            f"{name} ({missing[name]})" for name in (*_REQUIRED, EVENT_GLOB) if name in missing
        ]
        if absent:
            raise NotARunDirectoryError(
                f"{path} is not a LoRA League run directory: no {rf.RUN_MARKER}, and missing "
                f"{', '.join(absent)} (layout: trainers/run/layout.py)"
            )
    scalars, texts = load_scalars(events)
    return RunData(
        path=path,
        scalars=scalars,
        matches=read_matches(path / rf.MATCHES),
        league=_read_json(path / rf.LEAGUE),
        report=_read_json(path / rf.RUN_REPORT),
        config=_read_json(path / rf.CONFIG),
        texts=texts,
        metrics=_read_metrics(path / rf.METRICS),
        identity=_read_identity(path / rf.RUN_MARKER),
        missing=missing,
    )


def _has(path: Path, name: str, events: list[Path]) -> bool:
    return bool(events) if name == EVENT_GLOB else (path / name).is_file()


def _read_identity(marker: Path) -> dict[str, Any]:
    """The identity the run marker records; {} when absent or cut short."""
    try:
        identity = json.loads(marker.read_text(encoding="utf-8"))["identity"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return dict(identity) if isinstance(identity, dict) else {}


def load_scalars(event_files: Iterable[str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scalars, texts) read with TensorBoard's own EventAccumulator, all events kept.

    Files are merged in the order of their first event (a resumed run appends a new file):
    where several files hold a tag at the same step, the later file wins, and a file that
    starts with a restart marker (`SummaryWriter(purge_step=N)`) drops what earlier files
    logged at steps >= N, as TensorBoard does. Scalars written either way (`simple_value`, or
    as tensors with the `scalars` plugin) are read.
    """
    loaded = sorted((_load_event_file(Path(f)) for f in event_files), key=lambda f: f.sort_key)
    scalar_parts: list[pd.DataFrame] = []
    text_parts: list[pd.DataFrame] = []
    for order, part in enumerate(loaded):
        if part.restart_step is not None:
            scalar_parts = [p[p["step"] < part.restart_step] for p in scalar_parts]
            text_parts = [p[p["step"] < part.restart_step] for p in text_parts]
        scalar_parts.append(part.scalars.assign(_order=order))
        text_parts.append(part.texts.assign(_order=order))
    return _merge(scalar_parts, SCALAR_COLUMNS), _merge(text_parts, TEXT_COLUMNS)


@dataclass
class _EventFile:
    path: Path
    first_event: float
    #: Step of the first restart marker (SessionLog START) in the file, if any.
    restart_step: int | None
    scalars: pd.DataFrame
    texts: pd.DataFrame

    @property
    def sort_key(self) -> tuple[float, str]:
        return (self.first_event, self.path.name)


def _load_event_file(path: Path) -> _EventFile:
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.util import tensor_util

    acc = ea.EventAccumulator(str(path), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
    acc.Reload()
    try:
        first = acc.FirstEventTimestamp()
    except ValueError:  # an empty file
        first = math.inf
    tags = acc.Tags()
    scalars = [
        (e.step, tag, float(e.value), e.wall_time)
        for tag in tags.get(ea.SCALARS, [])
        for e in acc.Scalars(tag)
    ]
    texts = []
    for tag in tags.get(ea.TENSORS, []):
        plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
        for e in acc.Tensors(tag):
            array = tensor_util.make_ndarray(e.tensor_proto)
            if plugin == "scalars":
                scalars.append((e.step, tag, float(array.reshape(())), e.wall_time))
            elif plugin == "text":
                text = "\n".join(_decode(x) for x in np.atleast_1d(array).ravel())
                texts.append((e.step, tag.removesuffix(_TEXT_SUFFIX), text, e.wall_time))
    return _EventFile(
        path,
        first,
        _restart_step(path),
        pd.DataFrame(scalars, columns=SCALAR_COLUMNS),
        pd.DataFrame(texts, columns=TEXT_COLUMNS),
    )


def _restart_step(path: Path) -> int | None:
    """The step of the first SessionLog START event (a resumed writer's purge marker)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.compat.proto.event_pb2 import SessionLog

    for event in EventFileLoader(str(path)).Load():
        if event.HasField("session_log") and event.session_log.status == SessionLog.START:
            return int(event.step)
    return None


def _decode(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _merge(parts: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=list(columns))
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.sort_values(["_order", "wall_time"], kind="stable")
    frame = frame.drop_duplicates(["tag", "step"], keep="last")
    frame = frame.sort_values(["tag", "step"], kind="stable").reset_index(drop=True)
    frame["step"] = frame["step"].astype("int64")
    return frame[list(columns)]


def read_matches(path: str | Path) -> pd.DataFrame:
    """`matches.csv` with numeric columns as numbers and ids as strings (never NaN); no rows
    when the file is absent or has no header yet."""
    if not Path(path).is_file() or Path(path).stat().st_size == 0:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in rf.MATCH_COLUMNS})
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    absent = [c for c in rf.MATCH_COLUMNS if c not in frame.columns]
    if absent:
        logger.warning("%s lacks columns %s (see layout.MATCH_COLUMNS)", path, absent)
        for column in absent:
            frame[column] = "" if column not in _NUMERIC_MATCH_COLUMNS else np.nan
    booleans = {"true": 1.0, "false": 0.0}
    for column in _NUMERIC_MATCH_COLUMNS:
        values = frame[column].astype(str).str.strip()
        values = values.map(lambda v: booleans.get(v.lower(), v))
        frame[column] = pd.to_numeric(values, errors="coerce")
    return frame


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path} should hold a JSON object, got {type(data).__name__}")
    return data


def _read_metrics(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame()
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a kill
            logger.warning("%s line %d is not JSON; skipped", path, number)
    return pd.DataFrame(rows)


def latest_run(root: str | Path = "runs") -> Path:
    """The most recently modified run directory under `root` (one with the run marker, or a
    config.json from before the marker existed)."""
    root = Path(root)
    runs = [p for p in root.iterdir() if _looks_like_a_run(p)] if root.is_dir() else []
    if not runs:
        raise NotARunDirectoryError(
            f"no run folder under {root}: set LORA_LEAGUE_RUN_DIR to a run directory"
        )
    return max(runs, key=lambda p: (p.stat().st_mtime, p.name))


def _looks_like_a_run(path: Path) -> bool:
    return (path / rf.RUN_MARKER).is_file() or (path / rf.CONFIG).is_file()
