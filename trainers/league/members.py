"""A population of learners trained at once (`--population N`): N learner families in one
learner, served by one engine, playing each other, their snapshots and the bots.

    population = Population(3, keys=["all"], pbt_every=5, seed=0)
    population.join(league, server, learner.adapter_weights)    # every member, first version
    matches = population.matches(fixtures, league, n)           # n games for each member
    population.evolve(trainer)                                  # a PBT round, when one is due
    population.snapshot(server, league, step)                   # each member's, when due
    population.publish(server, league, learner.adapter_weights) # every member's new version
    population.scalars(league, learner, learn_step)             # meta-strategies, hyperparameters

- Members: `main0` .. `main{N-1}`, each an `AdapterFamily` (one adapter per share key, e.g.
  `main0-all`) in the one `Learner`, each adapter with its own AdamW; one engine serves them all
  in the same batches. A population of one is `main`, the single learner: with N = 1 every
  method does what the trainer did before populations existed, and logs nothing more.
- Fixtures: each member plays `n` games, on a random side. Its first min(N - 1, max(1, n // 2))
  games go to the other members it has met least (in the league's records and in the games
  already planned this round; ties drawn at random), so a pair that never met is picked before
  any other and no member pair stays unplayed (from a fresh league with n >= 2 (N - 1), every
  pair meets in the first iteration). The rest are matchmade (`matchmaking`) from the whole
  league: members, snapshots, bots. Both sides of a member-member game learn. Games
  against a given opponent (evaluation) are dealt to the members in turn.
- Meta-solver (`meta_solver`): every iteration, alpha-rank over the members and their snapshots
  from the league's win rates, and the zero-sum Nash when the game has two sides; logged as
  `league/meta/<solver>/<player>` and in league.json's "meta". The population's meta-strategy
  (`meta_strategy`, what evaluation reads) is the Nash one for two sides, alpha-rank otherwise.
- PBT (`pbt`): every `pbt_every` iterations (never after the last, whose copy would not play),
  after the update and before publishing, `plan_round` over the members' openskill ratings;
  each record copies the winner's adapters onto the loser's (`copy_member`: weights, AdamW state
  and lr; `LearnStep.copy_adapter`: the adaptive controller's state), sets the perturbed
  hyperparameters and gives the loser a fresh start in the ratings (`League.restart`: its games
  so far are relabelled `<member>~<step>`); the copy is then published as the member's next
  version. PBT moves the lr (held per adapter by the learner) and the KL coefficient (per
  adapter in `LearnStep`). It does not move the sampling temperature or the entropy
  coefficient (one value for every adapter, in the rollout and `LearnerConfig`), nor the LoRA
  scaling (fixed when the adapters are built).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from trainers.intervals import WinRate
from trainers.league.meta_solver import MetaStrategy, solve_league
from trainers.league.pbt import (
    Lineage,
    LineageRecord,
    PBTConfig,
    copy_member,
    member_ratings,
    plan_round,
)
from trainers.league.population import League
from trainers.league.publishing import LEARNER, AdapterFamily, WeightsOf
from trainers.run import layout as rf
from trainers.run.metrics import team_win_counts

if TYPE_CHECKING:
    from trainers.episode import Episode
    from trainers.league.fixtures import Fixtures
    from trainers.rollout import MatchSpec

__all__ = ["HYPERPARAMETERS", "Population", "lineage_markdown", "member_names"]

log = logging.getLogger(__name__)

#: The `trainers.selfplay.SelfPlayTrainer` (not imported: the trainer imports this module).
Trainer = Any
#: What PBT moves, per member.
HYPERPARAMETERS = ("lr", "kl_coef")


def member_names(size: int) -> list[str]:
    """The members' league ids (and adapter family names): `main` alone, else `main0`...;
    a bare letter would do for the league, not for peft's adapter names."""
    if size < 1:
        raise ValueError(f"a population needs at least one member, got {size}")
    return [LEARNER] if size == 1 else [f"{LEARNER}{i}" for i in range(size)]


class Population:
    """The learning members of the league (see the module docstring)."""

    def __init__(
        self, size: int, keys: Sequence[str], pbt_every: int = 0, seed: int = 0, sides: int = 2
    ) -> None:
        self.names = member_names(size)
        self.families = {m: AdapterFamily(m, keys) for m in self.names}
        self.pbt = PBTConfig(every=pbt_every, seed=seed) if pbt_every else None
        #: Alpha-rank for every game, the zero-sum Nash where there are two sides.
        self.solvers = ("alpharank", "nash") if sides == 2 else ("alpharank",)
        self.lineage = Lineage()
        #: The last `solve`: solver -> meta-strategy.
        self.meta: dict[str, MetaStrategy] = {}

    @property
    def lead(self) -> str:
        """The member the progress bar and the single learner's tags follow."""
        return self.names[0]

    @property
    def evolving(self) -> bool:
        """More than one member: a population rather than the single learner."""
        return len(self.names) > 1

    @property
    def adapters(self) -> list[str]:
        """Every member's adapter names: what the learner trains and the server serves."""
        return [name for family in self.families.values() for name in family.names]

    def current_refs(self, league: League) -> set[tuple[str, int]]:
        """(adapter name, version) of every member's adapter at the version served now."""
        return {
            (name, league.get(member).version)
            for member, family in self.families.items()
            for name in family.names
        }

    # ------------------------------------------------------------------ publishing
    def join(self, league: League, server: Any, weights_of: WeightsOf) -> None:
        """Publish every member's first version and add it to the league."""
        for member, family in self.families.items():
            version = family.publish(server, weights_of)
            league.add_learner(member, adapter=member, version=version)

    def snapshot(self, server: Any, league: League, step: int) -> None:
        """Freeze each member whose snapshot is due (holding that version on the server,
        releasing the versions its evicted snapshots held)."""
        for member, family in self.families.items():
            if not league.snapshot_due(member, step):
                continue
            result = league.add_snapshot(member, step=step)
            family.hold(server, result.player.version)
            for old in result.evicted:
                family.release(server, old.version, family=old.adapter)

    def publish(
        self, server: Any, league: League, weights_of: WeightsOf, again: bool = False
    ) -> None:
        """Publish every member's weights as its next version, or with `again` (a resume, on a
        new server) under the version the league holds."""
        for member, family in self.families.items():
            version = league.get(member).version if again else None
            league.set_version(member, family.publish(server, weights_of, version))

    # ------------------------------------------------------------------ fixtures
    def matches(
        self,
        fixtures: Fixtures,
        league: League,
        n: int,
        opponent: str | None = None,
        learning: bool = True,
        partner_share: float = 0.0,
    ) -> list[MatchSpec]:
        """The single learner's `n` matches, or `n` for each member (the least-met members
        first, then matchmade); `n` in all against a given `opponent`, the members in turn."""
        if not self.evolving:
            return fixtures.make(league, n, opponent, learning, partner_share)
        names = self.names
        if opponent is not None:
            return [
                fixtures.make(league, 1, opponent, learning, learner=names[i % len(names)])[0]
                for i in range(n)
            ]
        planned: Counter[frozenset[str]] = Counter()
        fill = min(len(names) - 1, max(1, n // 2))
        out = []
        for member in names:
            for i in range(n):
                rival = self.rival(member, league, planned, fixtures.rng) if i < fill else None
                out += fixtures.make(league, 1, rival, learning, learner=member)
        return out

    def rival(self, member: str, league: League, planned: Counter, rng: Any) -> str:
        """The other member `member` has met least (recorded games plus `planned`, which
        counts the pick), ties drawn with `rng`."""
        others = [m for m in self.names if m != member]
        met = [league.games(member, o) + planned[frozenset((member, o))] for o in others]
        least = [o for o, k in zip(others, met, strict=True) if k == min(met)]
        pick = least[int(rng.integers(len(least)))]
        planned[frozenset((member, pick))] += 1
        return pick

    def win_count(self, episodes: Sequence[Episode], opponent: str) -> WinRate:
        """The members' wins (draws half) and games against `opponent`, pooled."""
        counts = [team_win_counts(episodes, m).get(opponent, WinRate(0.0, 0)) for m in self.names]
        return WinRate(sum(c.wins for c in counts), sum(c.games for c in counts))

    # ------------------------------------------------------------------ hyperparameters and PBT
    def hyperparameters(self, learner: Any, learn_step: Any) -> dict[str, dict[str, float]]:
        """{member: {"lr": ..., "kl_coef": ...}} as the learner and `LearnStep` hold them now
        (a member's adapters share them)."""
        out = {}
        for member, family in self.families.items():
            first = family.names[0]
            out[member] = {"lr": learner.lr(first), "kl_coef": learn_step.kl_coef(first)}
        return out

    def set_hyperparameters(
        self, learner: Any, learn_step: Any, member: str, values: Mapping[str, float]
    ) -> None:
        for name in self.families[member].names:
            learner.set_lr(name, float(values["lr"]))
            learn_step.set_kl_coef(name, float(values["kl_coef"]))

    def exploit_and_explore(
        self, step: int, league: League, learner: Any, learn_step: Any
    ) -> list[LineageRecord]:
        """One PBT round at `step`, applied: the records of who copied whom."""
        if self.pbt is None:
            raise ValueError("this population does not evolve: pbt_every is 0")
        ratings = member_ratings(league, self.names)
        hyper = self.hyperparameters(learner, learn_step)
        records = plan_round(step, ratings, hyper, self.pbt)
        for record in records:
            source, target = self.families[record.copied_from], self.families[record.member]
            for theirs, ours in zip(source.names, target.names, strict=True):
                copy_member(learner, theirs, ours)
                learn_step.copy_adapter(theirs, ours)
            self.set_hyperparameters(learner, learn_step, record.member, record.new_hyperparameters)
            league.restart(record.member, f"{record.member}~{step}")
            self.lineage.append(record)
            log.info("PBT step %d: %s copies %s, now %s", step, record.member,
                     record.copied_from, record.new_hyperparameters)  # fmt: skip
        return records

    def evolve(self, trainer: Trainer) -> list[LineageRecord]:
        """The PBT round due after this iteration's update, if any; its records as text."""
        step = trainer.step
        if self.pbt is None or not self.pbt.due(step) or step >= trainer.config.run.iterations:
            return []
        records = self.exploit_and_explore(
            step, trainer.league, trainer.learner, trainer.learn_step
        )
        if records:
            trainer.monitor.log_text(step, rf.TEXT_LINEAGE, lineage_markdown(records))
        return records

    # ------------------------------------------------------------------ meta-strategies
    def meta_players(self, league: League) -> list[str]:
        """Whom the meta-solvers weigh: the members and every snapshot in the league."""
        return [*self.names, *(p.id for p in league.snapshots())]

    def solve(self, league: League) -> dict[str, MetaStrategy]:
        """Every solver's meta-strategy over `meta_players`, kept in `meta`."""
        players = self.meta_players(league)
        self.meta = {s: solve_league(league, players, solver=s) for s in self.solvers}
        return self.meta

    def meta_strategy(self, league: League) -> MetaStrategy:
        """The population's meta-strategy: Nash for two sides, alpha-rank otherwise."""
        return solve_league(league, self.meta_players(league), solver=self.solvers[-1])

    # ------------------------------------------------------------------ logging and state
    def scalars(self, league: League, learner: Any, learn_step: Any) -> dict[str, float]:
        """`league/meta/<solver>/<player>` (solving anew), `pbt/<hyperparameter>/<member>` and
        `pbt/copies`; nothing for the single learner."""
        if not self.evolving:
            return {}
        out: dict[str, float] = {}
        for solver, meta in self.solve(league).items():
            out.update(meta.scalars(f"{rf.TAG_META}/{solver}"))
        for member, values in self.hyperparameters(learner, learn_step).items():
            for name, value in values.items():
                out[f"{rf.TAG_PBT}/{name}/{member}"] = value
        out[f"{rf.TAG_PBT}/copies"] = float(len(self.lineage))
        return out

    def league_json(self, learner: Any, learn_step: Any) -> dict[str, Any]:
        """league.json's "population", "meta" (the last `solve`) and "lineage"; nothing for
        the single learner."""
        if not self.evolving:
            return {}
        return {
            "population": {
                "members": list(self.names),
                "pbt_every": self.pbt.every if self.pbt else 0,
                "hyperparameters": self.hyperparameters(learner, learn_step),
            },
            "meta": {solver: meta.to_dict() for solver, meta in self.meta.items()},
            "lineage": self.lineage.to_dict(),
        }

    def state_dict(self, learner: Any, learn_step: Any) -> dict[str, Any]:
        """Members, their hyperparameters and the lineage (the weights and optimizer states
        are the learner's); empty for the single learner."""
        if not self.evolving:
            return {}
        return {
            "members": list(self.names),
            "hyperparameters": self.hyperparameters(learner, learn_step),
            "lineage": self.lineage.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any], learner: Any, learn_step: Any) -> None:
        if not state:
            return
        if list(state["members"]) != self.names:
            raise ValueError(
                f"the checkpoint's population is {state['members']}, this run's {self.names}: "
                "resume with the same --population"
            )
        self.lineage.load_state_dict(state["lineage"])
        for member, values in state["hyperparameters"].items():
            self.set_hyperparameters(learner, learn_step, member, values)


def lineage_markdown(records: Sequence[LineageRecord]) -> str:
    """A PBT round as a markdown table (TensorBoard's text tab)."""

    def fmt(values: Mapping[str, float]) -> str:
        return ", ".join(f"{k} {v:.3g}" for k, v in values.items())

    rows = [
        f"|{r.step}|{r.member}|{r.copied_from}|{fmt(r.old_hyperparameters)}|"
        f"{fmt(r.new_hyperparameters)}|"
        for r in records
    ]
    return "|step|member|copied from|before|after|\n|-|-|-|-|-|\n" + "\n".join(rows)
