"""The synthetic run (`conftest.write_synthetic_run`) as a population run would have written it.

`write_population_run(path)` writes the synthetic run, then what `--population` adds: a snapshot
of a member in the league, league.json's "population", "meta" (the real meta-solvers over the
members and the snapshot) and "lineage" (two PBT copies), and the `pbt/lr/<member>`,
`pbt/kl_coef/<member>`, `pbt/copies` scalars and the `pbt/lineage` text in TensorBoard.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tests.analysis.conftest import LEARNERS, STEPS, write_synthetic_run
from trainers.league.members import lineage_markdown
from trainers.league.meta_solver import solve_league
from trainers.league.pbt import Lineage, LineageRecord
from trainers.league.population import League
from trainers.run import layout as rf

MEMBERS = LEARNERS
START = {"lr": 1e-3, "kl_coef": 1e-4}
#: (step, member, copied_from, its new hyperparameters): blue copies red after step 2's update,
#: red copies blue after step 3's.
COPIES = (
    (2, "blue", "red", {"lr": 1.25e-3, "kl_coef": 8e-5}),
    (3, "red", "blue", {"lr": 1e-3, "kl_coef": 1e-4}),
)


@dataclass
class PopulationRun:
    path: Path
    members: tuple[str, ...]
    #: solver -> {player: probability}, as league.json holds it.
    meta: dict[str, dict[str, float]] = field(default_factory=dict)
    records: list[LineageRecord] = field(default_factory=list)
    #: (hyperparameter, member) -> {step: value}, as TensorBoard holds it.
    hyperparameters: dict[tuple[str, str], dict[int, float]] = field(default_factory=dict)


def write_population_run(path: str | Path) -> PopulationRun:
    from torch.utils.tensorboard import SummaryWriter

    base = write_synthetic_run(path)
    run = PopulationRun(base.path, MEMBERS)
    league = League()
    league.load_state_dict(base.league["league"])
    snapshot = league.add_snapshot(MEMBERS[0], step=STEPS - 1).player.id
    players = [*MEMBERS, snapshot]
    meta = {s: solve_league(league, players, solver=s) for s in ("alpharank", "nash")}
    run.meta = {s: m.as_dict() for s, m in meta.items()}

    current = {m: dict(START) for m in MEMBERS}
    writer = SummaryWriter(log_dir=str(run.path))
    for step in range(STEPS):
        for when, member, source, new in COPIES:
            if when == step:
                record = LineageRecord(
                    step, member, source, dict(current[member]), dict(new),
                    {m: {"mu": 25.0, "sigma": 8.0} for m in (member, source)},
                )  # fmt: skip
                current[member] = dict(new)
                run.records.append(record)
                writer.add_text(rf.TEXT_LINEAGE, lineage_markdown([record]), step)
        for member, values in current.items():
            for name, value in values.items():
                writer.add_scalar(f"{rf.TAG_PBT}/{name}/{member}", value, step)
                run.hyperparameters.setdefault((name, member), {})[step] = value
        writer.add_scalar(f"{rf.TAG_PBT}/copies", float(len(run.records)), step)
    writer.close()

    content = dict(base.league)
    content["league"] = league.state_dict()
    content["population"] = {"members": list(MEMBERS), "pbt_every": 1, "hyperparameters": current}
    content["meta"] = {s: m.to_dict() for s, m in meta.items()}
    content["lineage"] = Lineage(run.records).to_dict()
    (run.path / rf.LEAGUE).write_text(json.dumps(content, indent=1))
    return run
