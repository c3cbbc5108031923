"""Checkpoint payload of a self-play run, and resuming from it.

`checkpoints/step_N/` holds: `learner/` (`adapters/<name>/` as peft safetensors, `optimizer/`
states as safetensors), `snapshots/<name>@v<K>/` (the frozen league versions the server still
serves),
`league.json`, `trainer_state.json` (counters, adaptive controllers, baselines, RNG of matchmaking),
`config.json`, `performance_metrics.json`, and the RNG states. The folder appears atomically and is
complete only with its COMPLETE marker, so a run killed at any moment resumes from the last one.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.serving.types import AdapterRef
from trainers.league.modes import adapter_name
from trainers.league.population import League

if TYPE_CHECKING:
    from trainers.selfplay import SelfPlayTrainer

log = logging.getLogger(__name__)

TRAINER_STATE = "trainer_state.json"
LEAGUE = "league.json"
PERFORMANCE = "performance_metrics.json"
CONFIG = "config.json"


def _snapshot_refs(trainer: SelfPlayTrainer) -> list[AdapterRef]:
    return [
        AdapterRef(adapter_name(p.adapter, key), int(p.version))
        for p in trainer.league.snapshots()
        for key in trainer.keys
    ]


def write_checkpoint(trainer: SelfPlayTrainer) -> Path:
    def write(folder: Path) -> None:
        trainer.learner.save(folder / "learner")
        snaps = folder / "snapshots"
        snaps.mkdir()
        for ref in _snapshot_refs(trainer):
            shutil.copytree(trainer.server.store.get(ref).path, snaps / ref.lora_name)

    state = {
        "step": trainer.step,
        "episodes_done": trainer.episodes_done,
        "weight_updates": trainer.weight_updates,
        "version": trainer.league.get("main").version,
        "controllers": {n: c.state_dict() for n, c in trainer.controllers.items()},
        "baselines": None if trainer.baselines is None else trainer.baselines.state_dict(),
    }
    path = trainer.checkpoints.save(
        trainer.step,
        write,
        json_files={
            TRAINER_STATE: state,
            LEAGUE: json.loads(trainer.league.to_json()),
            CONFIG: trainer.config.to_dict(),
            PERFORMANCE: trainer.report()["performance"],
        },
        generators={"matchmaking": trainer.rng},
    )
    trainer.monitor.flush()  # rows up to this checkpoint now survive a kill
    return path


def restore_checkpoint(trainer: SelfPlayTrainer, folder: Path) -> None:
    from trainers.run.checkpoint import load_json, restore_rng

    state = load_json(folder, TRAINER_STATE)
    trainer.learner.load(folder / "learner")
    trainer.league = League.from_json(json.dumps(load_json(folder, LEAGUE)))
    # The server is new: publish the frozen versions first (in order, under their old numbers,
    # held as the league holds them), then the learner's current weights.
    snaps = sorted(
        (AdapterRef.parse(p.name), p) for p in (folder / "snapshots").iterdir() if p.is_dir()
    )
    for ref, path in snaps:
        trainer.server.publish(ref.name, path, version=ref.version)
        trainer.server.hold(ref)
    version = int(state["version"])
    for name in trainer.adapters:
        weights, lora = trainer.learner.adapter_weights(name)
        trainer.server.publish(name, weights, lora, version=version)
    trainer.step = int(state["step"])
    trainer.episodes_done = int(state["episodes_done"])
    trainer.weight_updates = int(state["weight_updates"])
    for name, ctrl_state in state["controllers"].items():
        if name in trainer.controllers:
            trainer.controllers[name].load_state_dict(ctrl_state)
    if trainer.baselines is not None and state.get("baselines") is not None:
        trainer.baselines.load_state_dict(state["baselines"])
    restore_rng(folder, {"matchmaking": trainer.rng})
    trainer.checkpoints.discard_after(trainer.step)
    log.info("resumed from %s (step %d)", folder, trainer.step)


def checkpoint_summary(folder: Path) -> dict[str, Any]:
    """What a checkpoint holds, for `experiments.evaluate` and users."""
    state = json.loads((folder / TRAINER_STATE).read_text())
    learner = folder / "learner"
    return {
        "step": state["step"],
        "version": state["version"],
        "adapters": sorted(p.name for p in (learner / "adapters").iterdir() if p.is_dir()),
        "snapshots": sorted(p.name for p in (folder / "snapshots").iterdir()),
    }
