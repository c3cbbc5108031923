"""What a run tells the outside world while it trains: TensorBoard, metrics.jsonl, matches.csv.

The layout, file names, columns and tags are fixed in `trainers.run.layout`; this module writes
them, crash-safely (`trainers.run.io`):

- `make_run_dir`: `<root>/<experiment>__<seed>__<YYYYmmdd-HHMMSS>`, CleanRL's naming.
- `SystemMonitor`: the `system/` scalars (CPU, memory, disk, GPU via NVML when present).
- `RunMonitor`: one object the trainer logs through. Scalars go both to TensorBoard and to
  metrics.jsonl (so a notebook can read them with pandas without TensorBoard); match rows to
  matches.csv; league and report snapshots to json files replaced atomically.

Resume: `RunMonitor(..., resume_step=N)` cuts metrics.jsonl and matches.csv back to step N and
opens TensorBoard with `purge_step=N + 1`, so the steps replayed after the checkpoint are not
counted twice anywhere. torch (for TensorBoard's writer) and psutil are imported when first used.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainers.run import layout as rf
from trainers.run.io import AppendLog, atomic_write_json, remove_stale_temps

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

__all__ = ["RunMonitor", "SystemMonitor", "hparams_markdown", "make_run_dir", "parse_run_name"]

logger = logging.getLogger(__name__)

#: Bytes per GB in the system/ tags (decimal, as the tag names say).
GB = 1e9


# ---- run directory


def make_run_dir(
    root: str | os.PathLike[str], experiment: str, seed: int, when: datetime | None = None
) -> Path:
    """Create and return `<root>/<experiment>__<seed>__<YYYYmmdd-HHMMSS>` (local time).

    Raises FileExistsError rather than writing two runs into one folder (same experiment, seed
    and second); resume an existing run by passing its folder to `RunMonitor` instead.
    """
    if not experiment or rf.RUN_NAME_SEP in experiment or any(c in experiment for c in "/\\"):
        raise ValueError(
            f"experiment name {experiment!r} must be non-empty, without '/' or "
            f"{rf.RUN_NAME_SEP!r} (the run folder name is split on it)"
        )
    stamp = (when or datetime.now()).strftime(rf.RUN_TIME_FORMAT)
    path = Path(root) / rf.RUN_NAME_SEP.join((experiment, str(int(seed)), stamp))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir()
    return path


def parse_run_name(name: str) -> tuple[str, int, datetime]:
    """(experiment, seed, start time) from a run folder name made by `make_run_dir`."""
    parts = Path(name).name.split(rf.RUN_NAME_SEP)
    if len(parts) != 3:
        raise ValueError(
            f"{name!r} is not <experiment>{rf.RUN_NAME_SEP}<seed>{rf.RUN_NAME_SEP}<time>"
        )
    experiment, seed, stamp = parts
    return experiment, int(seed), datetime.strptime(stamp, rf.RUN_TIME_FORMAT)


# ---- system scalars


class _NvmlReader:
    """GPU utilisation and memory via NVML; switches itself off on the first failure.

    Devices: the ones CUDA_VISIBLE_DEVICES names (indices in NVML's PCI-bus order, or UUIDs),
    all of them when it is unset. pynvml (`nvidia-ml-py`) is optional: without it, without a
    driver, or on any NVML error the reader returns nothing, never raises.
    """

    def __init__(self, devices: Sequence[int] | None = None) -> None:
        self._devices = devices
        self._nvml: Any = None
        self._handles: list[tuple[str, Any]] = []
        self.enabled = True

    def _start(self) -> None:
        import pynvml

        pynvml.nvmlInit()
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if self._devices is not None:
            wanted: list[str] = [str(i) for i in self._devices]
        elif visible is not None:
            wanted = [v.strip() for v in visible.split(",") if v.strip()]
        else:
            wanted = [str(i) for i in range(pynvml.nvmlDeviceGetCount())]
        handles = []
        for key in wanted:
            if key.lstrip("-").isdigit():
                if int(key) < 0:
                    break  # CUDA ignores a negative index and everything after it
                handles.append((key, pynvml.nvmlDeviceGetHandleByIndex(int(key))))
            else:
                handles.append((key, pynvml.nvmlDeviceGetHandleByUUID(key)))
        self._nvml, self._handles = pynvml, handles

    def sample(self) -> dict[str, float]:
        if not self.enabled:
            return {}
        try:
            if self._nvml is None:
                self._start()
            nvml = self._nvml
            util = [float(nvml.nvmlDeviceGetUtilizationRates(h).gpu) for _, h in self._handles]
            used = [nvml.nvmlDeviceGetMemoryInfo(h).used / GB for _, h in self._handles]
        except Exception as exc:  # ImportError, NVMLError, a driver that went away: all optional
            logger.info("GPU metrics off (%s: %s)", type(exc).__name__, exc)
            self.enabled = False
            return {}
        if not self._handles:
            self.enabled = False
            return {}
        out = {rf.TAG_GPU_UTIL: sum(util) / len(util), rf.TAG_GPU_MEM: sum(used)}
        if len(self._handles) > 1:
            for (key, _), u, m in zip(self._handles, util, used, strict=True):
                out[f"{rf.TAG_GPU_UTIL}/{key}"] = u
                out[f"{rf.TAG_GPU_MEM}/{key}"] = m
        return out


class SystemMonitor:
    """Samples the `system/` scalars of this process tree and machine.

    - `system/cpu_percent`: CPU of this process and all its descendants (vLLM runs its engine
      and workers as child processes), psutil's convention: 100 = one core busy, so it can
      exceed 100. Measured since the previous `sample()`; a child born since then counts 0 once.
    - `system/memory_rss_gb`: resident memory of the same process tree, GB (memory shared
      between processes counts once per process, so this is an upper bound).
    - `system/memory_percent`: memory in use on the whole machine, percent.
    - `system/disk_free_gb`: free space on the filesystem holding `path` (the run folder).
    - `system/gpu_util_percent`, `system/gpu_memory_gb`: mean utilisation and total memory used
      over the visible GPUs (per-GPU tags `.../<device>` too when several), only when NVML works.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = ".",
        gpu: bool = True,
        gpus: Sequence[int] | None = None,
    ) -> None:
        import psutil

        self._psutil = psutil
        self.path = Path(path)
        self._root = psutil.Process()
        self._procs: dict[int, Any] = {self._root.pid: self._root}
        self._root.cpu_percent(None)  # the first reading only sets the baseline
        self._gpu = _NvmlReader(gpus) if gpu else None

    def _tree(self) -> list[Any]:
        psutil = self._psutil
        try:
            children = self._root.children(recursive=True)
        except psutil.Error:
            children = []
        procs = {self._root.pid: self._root}
        for child in children:
            known = self._procs.get(child.pid)
            # psutil's equality includes the creation time: a reused pid is a new process.
            procs[child.pid] = known if known is not None and known == child else child
        self._procs = procs
        return list(procs.values())

    def sample(self) -> dict[str, float]:
        """The current values, keyed by tag; never raises for a vanished child or a missing GPU."""
        psutil = self._psutil
        cpu, rss = 0.0, 0
        for proc in self._tree():
            try:
                with proc.oneshot():
                    cpu += proc.cpu_percent(None)
                    rss += proc.memory_info().rss
            except psutil.Error:  # exited between listing and reading, or not ours to read
                continue
        out = {
            rf.TAG_CPU: cpu,
            rf.TAG_RSS: rss / GB,
            rf.TAG_MEM_PERCENT: float(psutil.virtual_memory().percent),
        }
        try:
            out[rf.TAG_DISK_FREE] = psutil.disk_usage(os.fspath(self.path)).free / GB
        except OSError as exc:
            logger.debug("no disk usage for %s: %s", self.path, exc)
        if self._gpu is not None:
            out.update(self._gpu.sample())
        return out


# ---- the run


def _config_dict(config: Any) -> dict[str, Any]:
    """A config mapping or dataclass (a tyro `Args`) as a plain dict."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if isinstance(config, Mapping):
        return dict(config)
    raise TypeError(f"config must be a mapping or a dataclass, got {type(config).__name__}")


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _markdown_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", "<br>")


def hparams_markdown(config: Mapping[str, Any]) -> str:
    """The config as a two-column markdown table (nested keys dotted), as CleanRL logs it."""
    rows = [f"|{_markdown_cell(k)}|{_markdown_cell(v)}|" for k, v in _flatten(config).items()]
    return "|param|value|\n|-|-|\n" + "\n".join(rows)


def _wait_for_a_later_event_file_name(run_dir: Path, max_wait_s: float = 2.0) -> None:
    """Make the next event file sort after the existing ones.

    TensorBoard reads a folder's event files in name order, and the name starts with the
    creation second (`events.out.tfevents.<seconds>.<host>.<pid>...`). The resumed writer's purge
    marker only hides the old events if its file is read after theirs, which a resume within the
    same second as the killed writer's start (a crash loop, a test) would not guarantee.
    """
    stamps = []
    for path in run_dir.glob("events.out.tfevents.*"):
        field = path.name.split(".")[3]
        if field.isdigit():
            stamps.append(int(field))
    if not stamps:
        return
    deadline = time.monotonic() + max_wait_s
    while int(time.time()) <= max(stamps) and time.monotonic() < deadline:
        time.sleep(0.05)
    if int(time.time()) <= max(stamps):
        logger.warning("%s has event files from the future: check the clock", run_dir)


class RunMonitor:
    """TensorBoard + metrics.jsonl + matches.csv + league/report json for one run folder.

    `resume_step=None` starts a fresh run and refuses a folder whose logs already hold rows
    (that would mix two runs); `resume_step=N` continues a run from its step-N checkpoint,
    dropping every logged row and TensorBoard event after N (-1 drops them all). config.json
    is (re)written with `config` (a mapping, or a dataclass such as the experiment's `Args`)
    either way.

    Call `flush()` right after saving a checkpoint: rows up to the checkpoint then survive a
    kill, and TensorBoard's own buffer (flushed every `flush_secs`) is on disk too.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        config: Any,
        resume_step: int | None = None,
        flush_secs: int = 30,
        fsync_every: int = 64,
        system: bool = True,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.run_dir)
        self.config = _config_dict(config)
        self.resume_step = resume_step
        self.metrics = AppendLog(self.run_dir / rf.METRICS, fsync_every=fsync_every)
        self.matches = AppendLog(
            self.run_dir / rf.MATCHES, columns=rf.MATCH_COLUMNS, fsync_every=fsync_every
        )
        if resume_step is None:
            if self.metrics.has_rows() or self.matches.has_rows():
                self.metrics.close()
                self.matches.close()
                raise FileExistsError(
                    f"{self.run_dir} already holds logged rows: pass resume_step=<checkpoint "
                    "step> to continue that run (-1 to start it over), or use a new run folder"
                )
        else:
            self.metrics.truncate_after(resume_step)
            self.matches.truncate_after(resume_step)
        atomic_write_json(self.run_dir / rf.CONFIG, self.config)

        from torch.utils.tensorboard import SummaryWriter

        purge = None if resume_step is None else resume_step + 1
        if purge is not None:
            _wait_for_a_later_event_file_name(self.run_dir)
        self.writer: SummaryWriter = SummaryWriter(
            log_dir=os.fspath(self.run_dir), purge_step=purge, flush_secs=flush_secs
        )
        self.system = SystemMonitor(self.run_dir) if system else None
        self._closed = False
        if resume_step is not None:
            logger.info("resuming %s after step %d", self.run_dir, resume_step)

    def __repr__(self) -> str:
        return f"RunMonitor({str(self.run_dir)!r}, resume_step={self.resume_step})"

    # ---- scalars and text

    def log_scalars(self, step: int, scalars: Mapping[str, Any]) -> dict[str, float]:
        """Log scalars at `step` to TensorBoard and as one metrics.jsonl line; return those logged.

        None, NaN and infinite values are skipped (a metric with no data this step, e.g. a win
        rate before any game); anything that is not a number raises TypeError.
        """
        step = int(step)
        clean: dict[str, float] = {}
        for tag, value in scalars.items():
            if tag == self.metrics.step_key:
                raise ValueError(f"{tag!r} is the step column, not a tag")
            if value is None:
                logger.debug("step %d: %s is None, not logged", step, tag)
                continue
            if isinstance(value, str | bytes):
                raise TypeError(f"scalar {tag!r} must be a number, got {value!r}")
            try:
                number = float(value)
            except (TypeError, ValueError, RuntimeError) as exc:
                raise TypeError(
                    f"scalar {tag!r} must be a number, got {type(value).__name__}"
                ) from exc
            if not math.isfinite(number):
                logger.debug("step %d: %s is %s, not logged", step, tag, number)
                continue
            clean[tag] = number
        for tag, number in clean.items():
            self.writer.add_scalar(tag, number, step)
        if clean:
            self.metrics.append({self.metrics.step_key: step, **clean})
        return clean

    def log_system(self, step: int) -> dict[str, float]:
        """Sample and log the `system/` scalars (nothing when built with `system=False`)."""
        return self.log_scalars(step, self.system.sample()) if self.system else {}

    def log_text(self, step: int, tag: str, text: str) -> None:
        """Text for TensorBoard's text tab (markdown), e.g. a sample transcript."""
        self.writer.add_text(tag, text, int(step))

    def log_hparams(self, config: Mapping[str, Any] | None = None) -> None:
        """The config (default: this run's) as a markdown table under `hyperparameters`.

        Call it once per fresh run: a resumed run already has it.
        """
        self.writer.add_text(
            rf.TEXT_CONFIG, hparams_markdown(self.config if config is None else config)
        )

    def log_layout(self, layout: Mapping[str, Any]) -> None:
        """TensorBoard's Custom Scalars layout (`league.evaluation.custom_scalar_layout`)."""
        self.writer.add_custom_scalars(dict(layout))

    # ---- tables and snapshots

    def log_matches(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Append rows to matches.csv (keys from MATCH_COLUMNS; missing ones stay empty)."""
        return self.matches.append_many(rows)

    def write_league(
        self,
        league_json: str | Mapping[str, Any],
        ratings: Mapping[str, Any],
        payoff: Any,
        extra: Mapping[str, Any] | None = None,
    ) -> Path:
        """Replace league.json with {"league", "ratings", "payoff"} and the `extra` keys (a
        population's "population", "meta" and "lineage"); `league_json` as `League.to_json()`
        returns it (or already parsed)."""
        league = json.loads(league_json) if isinstance(league_json, str | bytes) else league_json
        path = self.run_dir / rf.LEAGUE
        content = {"league": league, "ratings": ratings, "payoff": payoff, **(extra or {})}
        atomic_write_json(path, content)
        return path

    def write_report(self, report: Mapping[str, Any]) -> Path:
        """Replace run_report.json."""
        return atomic_write_json(self.run_dir / rf.RUN_REPORT, report)

    # ---- lifetime

    def flush(self) -> None:
        """Push TensorBoard events and log rows to disk (fsync)."""
        self.writer.flush()
        self.metrics.flush()
        self.matches.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.writer.close()
        self.metrics.close()
        self.matches.close()

    def __enter__(self) -> RunMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
