"""Kuhn poker's exact exploitability for a population (`--population N`, N > 1).

`mode_eval.KuhnExploitability` measures the single learner `main`. With a population the figures
are each member's last iterate (`eval/exploitability/<member>`) and the population's
meta-strategy (`eval/exploitability/population_meta`): the mixture of the members' current
policies and their snapshots, weighted by the meta-solver (`Population.meta_strategy`: the
zero-sum Nash of the league's empirical game, alpha-rank where there are more sides), its
exploitability exact (`envs.kuhn_poker.theory.mixture_exploitability`).

A served version's policy at the 12 information sets is read from the learner once, when it is
published (`observe`, after every publish), and kept, keyed by the league's id for that version
(`main0@v3`, a snapshot's id), in the checkpoint; a snapshot's policy is the one read when its
version was the member's current one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["PopulationExploitability", "version_id"]

#: The `trainers.selfplay.SelfPlayTrainer` (not imported: the trainer imports this module).
Trainer = Any
META = "population_meta"


def version_id(member: str, version: int) -> str:
    """The league's id of a member's version, as `League.add_snapshot` names a snapshot."""
    return f"{member}@v{version}"


class PopulationExploitability:
    """Exact exploitability of every member's last iterate and of the population's
    meta-strategy."""

    def __init__(self) -> None:
        #: League id of a version ("main0@v3") -> that version's policy table.
        self.tables: dict[str, dict[str, dict[str, float]]] = {}

    def current(self, trainer: Trainer) -> dict[str, str]:
        """member -> the id of its version served now."""
        league = trainer.league
        return {m: version_id(m, league.get(m).version) for m in trainer.population.names}

    def observe(self, trainer: Trainer) -> None:
        """Read every member's newly published version (the learner holds its weights); keep
        only the versions the league still holds."""
        from trainers.learn.probe import kuhn_policy_table

        learner, families = trainer.learner, trainer.population.families
        current = self.current(trainer)
        for member, key in current.items():
            if key not in self.tables:
                adapter = families[member].names[0]
                self.tables[key] = kuhn_policy_table(learner, adapter, learner.tokenizer)
        keep = {p.id for p in trainer.league.snapshots()} | set(current.values())
        self.tables = {k: t for k, t in self.tables.items() if k in keep}

    def measure(self, trainer: Trainer, games: int) -> dict[str, float]:
        from envs.kuhn_poker.theory import exploitability, mixture_exploitability

        self.observe(trainer)
        current = self.current(trainer)
        out = {
            f"eval/exploitability/{member}": float(exploitability(self.tables[key]))
            for member, key in current.items()
        }
        meta = trainer.population.meta_strategy(trainer.league).as_dict()
        # a member's weight goes to its current version; a snapshot's id is its version's
        ids = {player: current.get(player, player) for player in meta}
        weights = {ids[p]: w for p, w in meta.items() if ids[p] in self.tables}
        if not sum(weights.values()) > 0:  # no mass on a version read: the members, evenly
            weights = dict.fromkeys(current.values(), 1.0)
        tables = [self.tables[k] for k in weights]
        out[f"eval/exploitability/{META}"] = float(
            mixture_exploitability(tables, list(weights.values()))
        )
        return out

    def figures(self, agents: Sequence[str]) -> list[tuple[str, str]]:
        return [("exploitability", META)]

    def state_dict(self) -> dict[str, Any]:
        return {"tables": dict(self.tables)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.tables = dict(state.get("tables") or {})
