"""What a `SelfPlayTrainer` checkpoint holds, and how a resume picks one and puts it back.

`checkpoints/step_N/` (see `trainers.run.layout`) is the union of the parts' state dicts: the
learner's weights and optimizer, the frozen versions the server still serves, the league, the
loop's counters (`trainer_state.json`, with the rows each log held: `trainers.run.records`), the
config and the RNG states. A resume takes the newest checkpoint that verifies and whose rows
the logs still hold, so every step is in metrics.jsonl and matches.csv exactly once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from trainers.league.publishing import export_versions, import_versions
from trainers.run import layout as rf
from trainers.run import records
from trainers.run.checkpoint import CheckpointManager, load_json, restore_rng

__all__ = ["restore", "resume_point", "save"]

#: A `trainers.selfplay.SelfPlayTrainer` (not imported: the trainer imports this module).
Trainer = Any

log = logging.getLogger(__name__)


def save(trainer: Trainer) -> Path:
    """Write `checkpoints/step_<trainer.step>/` and return it."""
    league, family, server = trainer.league, trainer.family, trainer.server
    snapshots = [ref for p in league.snapshots() for ref in family.refs(p.version, p.adapter)]

    def write(folder: Path) -> None:
        trainer.learner.save(folder / rf.LEARNER)
        export_versions(server, snapshots, folder / rf.SNAPSHOTS)

    # The rows a checkpoint stands on reach the disk before it does, and it records them.
    monitor = trainer.monitor
    monitor.flush()
    rows = records.row_counts({rf.METRICS: monitor.metrics, rf.MATCHES: monitor.matches})
    return trainer.checkpoints.save(
        trainer.step,
        write,
        json_files={
            rf.TRAINER_STATE: {**trainer.state_dict(), records.KEY: rows},
            rf.LEAGUE: league.state_dict(),
            rf.CONFIG: trainer.config.to_dict(),
            rf.PERFORMANCE: trainer.report()["performance"],
        },
        generators={"matchmaking": trainer.fixtures.rng},
    )


def resume_point(checkpoints: CheckpointManager, run_dir: Path) -> Path | None:
    """The newest checkpoint that verifies and whose rows the run's logs still hold whole."""
    return checkpoints.resume_point(records.RowCheck(run_dir))


def restore(trainer: Trainer, folder: Path) -> None:
    """Put the trainer back at the checkpoint in `folder`; newer checkpoints are deleted, since
    the steps after it are played again."""
    trainer.learner.load(folder / rf.LEARNER)
    trainer.league.load_state_dict(load_json(folder, rf.LEAGUE))
    # The server is new: publish the frozen versions first (in order, under their old
    # numbers, held as the league holds them), then each learner's current weights under the
    # version the league holds (`trainer_state.json`'s "version", the lead member's).
    import_versions(trainer.server, folder / rf.SNAPSHOTS)
    state = load_json(folder, rf.TRAINER_STATE)
    trainer.population.publish(
        trainer.server, trainer.league, trainer.learner.adapter_weights, again=True
    )
    trainer.load_state_dict(state)
    restore_rng(folder, {"matchmaking": trainer.fixtures.rng})
    trainer.checkpoints.discard_after(trainer.step)
    log.info("resumed from %s (step %d)", folder, trainer.step)
