"""Crash-safe file writing for run directories: a killed run never leaves a half-written file.

A training run is killed sooner or later (SIGKILL from a scheduler, OOM killer, a preempted
node), and a notebook or a resumed run then reads what it left. Two kinds of file survive that:

- Whole files and folders (json, safetensors, checkpoint folders) appear whole or not at all:
  `trainers.run.atomic` writes them under a temp name and renames them into place;
  `trainers.run.tensors` puts tensors through safetensors the same way.
- Append-only logs (metrics.jsonl, matches.csv) lose at most the line being written:
  `trainers.run.applog.AppendLog` drops a torn last line and cuts a log back to a checkpoint.

This module is the one import for all of it. No pickle anywhere: tensors go through
safetensors, everything else through JSON (`trainers.run.jsonable.to_jsonable`).
"""

from __future__ import annotations

from trainers.run.applog import AppendLog
from trainers.run.atomic import (
    TEMP_PREFIX,
    atomic_directory,
    atomic_open,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    remove_directory,
    remove_stale_temps,
)
from trainers.run.jsonable import to_jsonable
from trainers.run.tensors import load_tensors, read_tensor_metadata, save_tensors

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
