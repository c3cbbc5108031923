"""Checkpoints a killed run can resume from: `checkpoints/step_N/`, complete or absent.

A step folder is assembled under a temp name and renamed into place (`atomic_directory`), and
its `COMPLETE` marker is written last, so `latest()` never returns a half-written checkpoint:
a kill mid-save leaves a temp folder that the next `CheckpointManager` removes. The payload
(adapters, optimizer state) comes from the caller's `write_fn(folder)`; this module adds the
JSON files it is given and the RNG states (`rng.json`, `rng_torch.safetensors`), so a resumed
run draws the same random numbers the uninterrupted one would have. No pickle anywhere: the
states go through JSON and safetensors, which a user can be handed safely.

The marker is also the checkpoint's manifest: the size and sha256 of every file in the folder,
taken at write time. `verify()` checks them (and parses every JSON file and safetensors header,
which also covers checkpoints written before manifests existed), and `latest_verified()` returns
the newest checkpoint that passes (and the caller's own check, such as the run's logs still
holding its rows), logging each newer one it skipped and why: a disk that truncated a file or a
user who edited one costs one checkpoint, not the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trainers.run import layout as rf
from trainers.run.guard import RunDirError, is_disk_full
from trainers.run.io import (
    atomic_directory,
    atomic_write_json,
    load_tensors,
    remove_directory,
    remove_stale_temps,
    save_tensors,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "CheckpointManager",
    "capture_rng",
    "load_json",
    "manifest",
    "restore_rng",
    "seed_everything",
    "verify",
    "write_rng",
]

logger = logging.getLogger(__name__)

_STEP_RE = re.compile(rf"{re.escape(rf.STEP_PREFIX)}(\d+)")
_RNG_FORMAT = 1

#: Why a checkpoint folder cannot be resumed from, beyond `verify` (empty: it can).
Check = Callable[[Path], list[str]]

#: name -> numpy Generator whose state travels with the checkpoint (a lone one is "default").
Generators = Mapping[str, np.random.Generator] | np.random.Generator


def _named(generators: Generators | None) -> Mapping[str, np.random.Generator]:
    if generators is None:
        return {}
    if isinstance(generators, np.random.Generator):
        return {"default": generators}
    return generators


# ---- RNG state


def seed_everything(seed: int) -> None:
    """Seed python's `random`, numpy's global RNG and torch."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def capture_rng(
    generators: Generators | None = None,
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(JSON state, tensors) of every RNG a run draws from.

    JSON: python's `random`, numpy's global RandomState, and each named `np.random.Generator`'s
    `bit_generator.state`. Tensors: torch's CPU generator ("cpu") and, when CUDA is initialised,
    one state per device ("cuda_<i>"); an uninitialised CUDA has drawn nothing, and asking for
    its state would start it.
    """
    import torch

    version, internal, gauss_next = random.getstate()
    name, key, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state = {
        "format": _RNG_FORMAT,
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
        "numpy": {
            "bit_generator": name,
            "key": np.asarray(key).tolist(),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "generators": {n: g.bit_generator.state for n, g in _named(generators).items()},
    }
    tensors = {"cpu": torch.get_rng_state().clone()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda_{i}"] = cuda_state.cpu()
    return state, tensors


def write_rng(folder: str | os.PathLike[str], generators: Generators | None = None) -> None:
    """Write `rng.json` and `rng_torch.safetensors` into `folder`."""
    state, tensors = capture_rng(generators)
    atomic_write_json(Path(folder) / rf.RNG, state)
    save_tensors(Path(folder) / rf.RNG_TORCH, tensors, metadata={"format": str(_RNG_FORMAT)})


def restore_rng(folder: str | os.PathLike[str], generators: Generators | None = None) -> None:
    """Put back the RNG states `write_rng` saved in `folder`; `generators` are set in place.

    Every generator named here must be in the checkpoint (KeyError otherwise: a silently fresh
    stream would make the resumed run diverge unnoticed). CUDA states are restored for the
    devices present; a mismatch in device count is logged.
    """
    import torch

    folder = Path(folder)
    state = load_json(folder, rf.RNG)
    if state.get("format") != _RNG_FORMAT:
        raise ValueError(f"{folder / rf.RNG}: unsupported format {state.get('format')!r}")
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))
    npg = state["numpy"]
    np.random.set_state(
        (
            npg["bit_generator"],
            np.asarray(npg["key"], dtype=np.uint32),
            npg["pos"],
            npg["has_gauss"],
            npg["cached_gaussian"],
        )
    )
    saved = state["generators"]
    for name, generator in _named(generators).items():
        if name not in saved:
            raise KeyError(f"{folder} has no state for generator {name!r}; it has {list(saved)}")
        generator.bit_generator.state = saved[name]

    tensors = load_tensors(folder / rf.RNG_TORCH)
    torch.set_rng_state(tensors["cpu"])
    cuda = sorted((k for k in tensors if k.startswith("cuda_")), key=lambda k: int(k[5:]))
    if not cuda:
        return
    if not torch.cuda.is_available():
        logger.warning("%s holds CUDA RNG states but CUDA is unavailable: not restored", folder)
        return
    count = torch.cuda.device_count()
    if count != len(cuda):
        logger.warning("%s holds %d CUDA RNG states for %d devices", folder, len(cuda), count)
    for key in cuda[:count]:
        torch.cuda.set_rng_state(tensors[key], int(key[5:]))


# ---- files


def load_json(step_dir: str | os.PathLike[str], name: str) -> Any:
    """Read a JSON file from a checkpoint folder."""
    return json.loads((Path(step_dir) / name).read_text(encoding="utf-8"))


def _is_complete(folder: Path) -> bool:
    return (folder / rf.COMPLETE).is_file()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    """Every regular file below `folder` but the marker, sorted (symlinks are not followed)."""
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and not p.is_symlink() and p.name != rf.COMPLETE
    )


def manifest(folder: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """{relative path: {"size", "sha256"}} of every file in a checkpoint folder."""
    folder = Path(folder)
    return {
        p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": _sha256(p)}
        for p in _files(folder)
    }


def _check_payload(path: Path) -> str | None:
    """Why a JSON or safetensors file cannot be read, or None (reads headers, not tensors)."""
    try:
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(os.fspath(path), framework="pt") as f:
                list(f.keys())
    except Exception as e:  # any parse error of any library means the same: unusable
        return f"{type(e).__name__}: {str(e)[:120]}"
    return None


def verify(folder: str | os.PathLike[str]) -> list[str]:
    """Problems that make a checkpoint unusable; an empty list means it verifies.

    The marker must parse; a file the manifest lists must exist with its size and hash; every JSON
    file must parse and every safetensors header must read. A checkpoint written before
    manifests existed is checked by the parsing alone.
    """
    folder = Path(folder)
    try:
        marker = json.loads((folder / rf.COMPLETE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return [f"{rf.COMPLETE}: {e}"]
    problems = []
    listed = marker.get("files", {}) if isinstance(marker, dict) else {}
    for name, want in sorted(listed.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif path.stat().st_size != want.get("size"):
            problems.append(f"{name}: {path.stat().st_size} bytes, {want.get('size')} written")
        elif _sha256(path) != want.get("sha256"):
            problems.append(f"{name}: content changed since it was written (sha256)")
    if problems:
        return problems
    for path in _files(folder):
        problem = _check_payload(path)
        if problem is not None:
            problems.append(f"{path.relative_to(folder).as_posix()}: {problem}")
    return problems


class CheckpointManager:
    """Saves `checkpoints/step_N/` folders in a run folder, keeps the last `keep_last`.

    Creating one clears the temp folders a killed save left behind. `keep_last=None` keeps all.
    """

    def __init__(self, run_dir: str | os.PathLike[str], keep_last: int | None = 3) -> None:
        if keep_last is not None and keep_last < 1:
            raise ValueError(f"keep_last must be >= 1 (or None to keep all), got {keep_last}")
        self.root = Path(run_dir) / rf.CHECKPOINTS
        self.root.mkdir(parents=True, exist_ok=True)
        self.keep_last = keep_last
        remove_stale_temps(self.root)
        for _step, folder in self._step_dirs():
            if not _is_complete(folder):
                logger.warning("%s lacks its %s marker: not a checkpoint", folder, rf.COMPLETE)

    def __repr__(self) -> str:
        return f"CheckpointManager({str(self.root)!r}, keep_last={self.keep_last})"

    # ---- finding

    def path(self, step: int) -> Path:
        """Where the checkpoint of `step` lives (whether or not it exists)."""
        return self.root / f"{rf.STEP_PREFIX}{int(step)}"

    @staticmethod
    def step_of(step_dir: str | os.PathLike[str]) -> int:
        """N from a `step_N` folder."""
        match = _STEP_RE.fullmatch(Path(step_dir).name)
        if match is None:
            raise ValueError(f"{step_dir} is not a {rf.STEP_PREFIX}<N> checkpoint folder")
        return int(match[1])

    def _step_dirs(self) -> list[tuple[int, Path]]:
        found = []
        for entry in self.root.iterdir():
            match = _STEP_RE.fullmatch(entry.name)
            if match is not None and entry.is_dir():
                found.append((int(match[1]), entry))
        return sorted(found)

    def steps(self) -> list[int]:
        """Steps of the complete checkpoints, ascending."""
        return [step for step, folder in self._step_dirs() if _is_complete(folder)]

    def latest(self) -> Path | None:
        """The complete checkpoint with the highest step, or None."""
        steps = self.steps()
        return self.path(steps[-1]) if steps else None

    def resume_point(self, check: Check | None = None) -> Path | None:
        """The checkpoint to resume from: the newest usable one (see `latest_verified`), or None
        when there is no checkpoint.

        Raises `RunDirError` when checkpoints exist but none is usable: starting over would
        silently throw the run away, so the user decides.
        """
        chosen, skipped = self.latest_verified(check)
        if chosen is None and skipped:
            details = "; ".join(f"step {s}: {', '.join(p)}" for s, p in skipped.items())
            raise RunDirError(f"no checkpoint in {self.root} can be resumed ({details})")
        return chosen

    def latest_verified(
        self, check: Check | None = None
    ) -> tuple[Path | None, dict[int, list[str]]]:
        """(newest checkpoint that verifies and passes `check`, or None; {skipped step: why}).

        `check(step_dir)` lists what else makes a checkpoint unusable (the run's logs no longer
        holding its rows, `trainers.run.records`); it is asked only of checkpoints that verify.
        Each skipped checkpoint is logged as one warning naming it, why, and which checkpoint
        the run goes on from instead.
        """
        skipped: dict[int, list[str]] = {}
        chosen = None
        for step in reversed(self.steps()):
            problems = verify(self.path(step))
            if not problems and check is not None:
                problems = check(self.path(step))
            if not problems:
                chosen = self.path(step)
                break
            skipped[step] = problems
        instead = f"resuming from {chosen.name}" if chosen else "no older checkpoint to resume"
        for step, problems in skipped.items():
            logger.warning(
                "checkpoint %s skipped (%s): %s", self.path(step), "; ".join(problems), instead
            )
        return chosen, skipped

    load_json = staticmethod(load_json)

    # ---- writing

    def save(
        self,
        step: int,
        write_fn: Callable[[Path], None] | None = None,
        json_files: Mapping[str, Any] | None = None,
        generators: Generators | None = None,
    ) -> Path:
        """Write `checkpoints/step_<step>/` and return it; then prune to `keep_last`.

        `write_fn(folder)` writes the payload into the (temp) folder, e.g. the learner's adapters
        and optimizer state; `json_files` maps file names to objects written as JSON
        (`trainer_state.json`, `league.json`, `config.json`, ...); the RNG states, with
        `generators`, are added, and the COMPLETE marker last. An existing checkpoint of the same
        step is replaced. A full disk, however the writer words it, raises `RunDirError` saying
        so; nothing of the new checkpoint is left behind.
        """
        step = int(step)
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        final = self.path(step)
        started = time.perf_counter()
        try:
            with atomic_directory(final, overwrite=True) as folder:
                if write_fn is not None:
                    write_fn(folder)
                for name, obj in (json_files or {}).items():
                    atomic_write_json(folder / name, obj)
                write_rng(folder, generators)
                atomic_write_json(
                    folder / rf.COMPLETE,
                    {"step": step, "saved_at": time.time(), "files": manifest(folder)},
                )
        except Exception as e:
            if is_disk_full(e):
                raise RunDirError(
                    f"cannot save checkpoint {final}: the disk is full; free some space, then "
                    f"resume with --resume {self.root.parent}"
                ) from e
            raise
        logger.info("checkpoint %s saved in %.2fs", final, time.perf_counter() - started)
        self.prune()
        return final

    def prune(self) -> list[int]:
        """Delete all but the newest `keep_last` complete checkpoints; return the steps deleted."""
        if self.keep_last is None:
            return []
        doomed = self.steps()[: -self.keep_last]
        for step in doomed:
            remove_directory(self.path(step))
        if doomed:
            logger.debug("pruned checkpoints %s", doomed)
        return doomed

    def discard_after(self, step: int) -> list[int]:
        """Delete checkpoints newer than `step`; return their steps.

        Call it when resuming from an older checkpoint than the latest: the newer ones belong to
        a future that will be replayed differently, and `latest()` must not pick them after the
        next kill.
        """
        doomed = [s for s, _ in self._step_dirs() if s > step]
        for s in doomed:
            remove_directory(self.path(s))
        return doomed
