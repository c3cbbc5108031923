"""Each mode's own figure of merit, measured against fixed references in games that do not train.

A win rate against the scripted bots (`trainers.league.evaluation`) is team battle's figure. The
other modes need their own, or a user cannot tell whether anything was learned:

- competitive, Kuhn poker (`KuhnExploitability`): exact exploitability over all 12 information
  sets, read from the learner (no sampling noise; each seat's sets from the adapter that plays
  that seat): of the last iterate (`eval/exploitability/last`); of the meta-strategy
  (`eval/exploitability/meta`): PSRO's, the Nash equilibrium of the restricted game among the
  versions the league keeps (its snapshots, `max_snapshots`, and the last iterate), whose payoffs
  are every pair's exact expected chips (`theory.restricted_game`, solved by
  `meta_solver.nash_distribution`); of the snapshots as the league plays them
  (`eval/exploitability/league`: weighted by the probabilities the matchmaker draws them with;
  a matchmaker that also draws the learner itself, self_play, has that share left out); and of
  the plain average over the versions kept (`eval/exploitability/average`). A policy is read
  under the learner's scorer, at the rollout's sampling temperature: the distribution the
  league plays. A snapshot freezes a served version, so the policy of every version is read
  once, when it is published (`observe`), and kept in the checkpoint. A population
  (`--population N`) has its own: every member's last iterate and the population's
  meta-strategy (`population_eval.PopulationExploitability`).
- cooperative (`CooperativePair`): the share of games the learned adapters complete together
  with no bot in any seat (`eval/success_rate/pair`), and each role beside the scripted partner
  (`eval/success_rate/<role>+<partner>`). Partners may teach during training; the pair alone
  is what the run learned.
- mixed, the iterated prisoner's dilemma (`DilemmaPanel`): the learner's raw score per round (the
  selfish payoff, l = 1) against a panel of references: tit-for-tat, always-defect, random and its
  own learned partner (`eval/score/<member>`); the panel mean (`eval/panel_score/learner`) beside
  tit-for-tat's own mean against the same panel, played in the same evaluation
  (`eval/panel_score/tit_for_tat`), and how often the learned pair cooperates with itself
  (`eval/cooperation_rate/pair`).

Every rate and mean comes with its 95% interval (from one value per game: the seats of a game
are not independent samples) under `eval/<figure>_low/<ref>` and `eval/<figure>_high/<ref>`, as
the win rates do, so the closing table and the dashboard's bands read them the same way.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from trainers.intervals import WinRate
from trainers.league.evaluation import eval_scalars, play_groups
from trainers.league.publishing import LEARNER
from trainers.rollout import MatchSpec, Seat
from trainers.run.metrics import task_completed

if TYPE_CHECKING:
    from trainers.episode import Episode

__all__ = [
    "CooperativePair",
    "DilemmaPanel",
    "KuhnExploitability",
    "ModeEvaluation",
    "interval_scalars",
    "make_mode_evaluation",
    "mean_interval",
]

#: The `trainers.selfplay.SelfPlayTrainer` being evaluated (its league, fixtures, rollout,
#: learner and config); not imported, since the trainer imports this module.
Trainer = Any

#: Normal quantile of a two-sided 95% interval.
Z95 = 1.959964


class ModeEvaluation(Protocol):
    """A mode's measurement: `measure` at each evaluation, `observe` after every publish."""

    def observe(self, trainer: Trainer) -> None: ...

    def measure(self, trainer: Trainer, games: int) -> dict[str, float]: ...

    def figures(self, agents: Sequence[str]) -> list[tuple[str, str]]:
        """(figure, reference) of every `eval/` tag `measure` logs, for the dashboard."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


def mean_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and its 95% interval (normal approximation; a single value has none)."""
    if not values:
        return math.nan, math.nan, math.nan
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, mean, mean
    half = Z95 * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def interval_scalars(figure: str, ref: str, estimate: tuple[float, float, float]) -> dict:
    """`eval/<figure>/<ref>` with its `_low` and `_high` tags."""
    value, low, high = estimate
    return {
        f"eval/{figure}/{ref}": value,
        f"eval/{figure}_low/{ref}": low,
        f"eval/{figure}_high/{ref}": high,
    }


class _Stateless:
    def observe(self, trainer: Trainer) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        return None


def _with_bots(trainer: Trainer, n: int, learner_seats: Sequence[str], bot: str) -> list[MatchSpec]:
    """`n` evaluation matches: the learner's adapters in `learner_seats`, `bot` in the others."""
    fixtures, league = trainer.fixtures, trainer.league
    matches = []
    for _ in range(n):
        seats = {
            a: fixtures.seat(league, LEARNER, a, learning=False)
            if a in learner_seats
            else Seat(f"bot:{bot}", bot=bot)
            for a in trainer.agents
        }
        matches.append(MatchSpec(fixtures.next_seed(), seats))
    return matches


# ---------------------------------------------------------------------- competitive (Kuhn)
class KuhnExploitability:
    """Exact exploitability of the learner's last iterate, meta-strategy and average."""

    def __init__(self) -> None:
        #: Served version -> the adapter's policy at the 12 information sets.
        self.tables: dict[int, dict[str, dict[str, float]]] = {}

    def observe(self, trainer: Trainer) -> None:
        """Read the policy of the version just published (the learner holds its weights)."""
        from envs.kuhn_poker.theory import info_sets
        from trainers.learn.probe import kuhn_policy_table

        version = trainer.league.get(LEARNER).version
        if version is not None and version not in self.tables:
            learner, table, read = trainer.learner, {}, {}
            for seat, agent in enumerate(trainer.agents):  # each seat's sets from its adapter
                name = trainer.fixtures.seat(trainer.league, LEARNER, agent, False).adapter.name
                if name not in read:  # share all: one adapter, read once
                    read[name] = kuhn_policy_table(learner, name, learner.tokenizer)
                table.update({key: read[name][key] for key in info_sets(seat)})
            self.tables[version] = table
        keep = {p.version for p in trainer.league.snapshots(of=LEARNER)} | {version}
        self.tables = {v: t for v, t in self.tables.items() if v in keep}

    def nash_weights(self, versions: Sequence[int]) -> dict[int, float]:
        """The meta-strategy over `versions`: the Nash equilibrium of their exact restricted
        game (`nash_distribution`'s two LPs; a version every other one beats gets no mass)."""
        from envs.kuhn_poker.theory import restricted_game
        from trainers.league.meta_solver import nash_distribution

        values = restricted_game([self.tables[v] for v in versions])
        nash = nash_distribution(values, [str(v) for v in versions], kind="margin")
        return dict(zip(versions, nash.probabilities, strict=True))

    def weights(self, trainer: Trainer) -> dict[int, float]:
        """The snapshots as the league plays them: each snapshot version with the probability
        the matchmaker draws it (uniform for a matchmaker without probabilities); the learner
        alone before the first snapshot."""
        snapshots = [p for p in trainer.league.snapshots(of=LEARNER) if p.version in self.tables]
        probabilities = getattr(trainer.fixtures.matchmaker, "probabilities", None)
        drawn = probabilities(trainer.league, LEARNER) if probabilities else {}
        weights: dict[int, float] = {}
        for p in snapshots:
            weights[p.version] = weights.get(p.version, 0.0) + drawn.get(
                p.id, 1.0 if not drawn else 0.0
            )
        if not sum(weights.values()) > 0:
            return {trainer.league.get(LEARNER).version: 1.0}
        return weights

    def measure(self, trainer: Trainer, games: int) -> dict[str, float]:
        from envs.kuhn_poker.theory import exploitability, mixture_exploitability

        self.observe(trainer)
        current = trainer.league.get(LEARNER).version
        league = self.weights(trainer)
        versions = sorted({p.version for p in trainer.league.snapshots(of=LEARNER)} | {current})
        versions = [v for v in versions if v in self.tables]
        meta = self.nash_weights(versions)
        return {
            "eval/exploitability/last": float(exploitability(self.tables[current])),
            "eval/exploitability/meta": float(
                mixture_exploitability([self.tables[v] for v in meta], list(meta.values()))
            ),
            "eval/exploitability/league": float(
                mixture_exploitability([self.tables[v] for v in league], list(league.values()))
            ),
            "eval/exploitability/average": float(
                mixture_exploitability([self.tables[v] for v in versions], [1.0] * len(versions))
            ),
        }

    def figures(self, agents: Sequence[str]) -> list[tuple[str, str]]:
        return [("exploitability", ref) for ref in ("last", "meta", "league", "average")]

    def state_dict(self) -> dict[str, Any]:
        return {"tables": {str(v): t for v, t in self.tables.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.tables = {int(v): t for v, t in (state.get("tables") or {}).items()}


# ---------------------------------------------------------------------- cooperative
class CooperativePair(_Stateless):
    """The learned adapters together (no bot in any seat), and each role beside the partner."""

    def __init__(self, partners: Sequence[str]) -> None:
        self.partner = partners[0] if partners else None

    def figures(self, agents: Sequence[str]) -> list[tuple[str, str]]:
        roles = [f"{a}+{self.partner}" for a in agents] if self.partner else []
        return [("success_rate", ref) for ref in ("pair", *roles)]

    def measure(self, trainer: Trainer, games: int) -> dict[str, float]:
        groups = {"pair": trainer.make_matches(games, learning=False)}
        if self.partner is not None and len(trainer.agents) > 1:
            for agent in trainer.agents:
                role = f"{agent}+{self.partner}"
                groups[role] = _with_bots(trainer, games, [agent], self.partner)
        out: dict[str, float] = {}
        for ref, episodes in play_groups(trainer, groups).items():
            done = WinRate(sum(map(task_completed, episodes)), len(episodes))
            out.update(eval_scalars({ref: done}, figure="success_rate"))
        return out


# ---------------------------------------------------------------------- mixed (dilemma)
#: The panel's scripted members; the learned partner is the fourth.
PANEL_BOTS = ("tit_for_tat", "always_defect", "random")
PAIR = "learned_pair"


class DilemmaPanel(_Stateless):
    """Raw score per round of the learner and of tit-for-tat against the same panel."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds

    def figures(self, agents: Sequence[str]) -> list[tuple[str, str]]:
        scores = [("score", member) for member in (*PANEL_BOTS, PAIR)]
        panel = [("panel_score", "learner"), ("panel_score", "tit_for_tat")]
        return [*panel, *scores, ("cooperation_rate", "pair")]

    def per_round(self, episode: Episode, seats: Sequence[str]) -> float:
        """The seats' mean raw score per round in one game: one value a game, since the two
        seats of a game are not independent samples."""
        return statistics.fmean(episode.trajectories[a].raw_score for a in seats) / self.rounds

    def measure(self, trainer: Trainer, games: int) -> dict[str, float]:
        from trainers.league.mix_control import COOPERATE, dilemma_moves

        agents = trainer.agents
        groups: dict[str, list[MatchSpec]] = {}
        for bot in PANEL_BOTS:  # the learner's adapter in each seat in turn
            groups[bot] = []
            for k, agent in enumerate(agents):
                n = games // len(agents) + (k < games % len(agents))
                groups[bot] += _with_bots(trainer, n, [agent], bot)
        groups[PAIR] = trainer.make_matches(games, learning=False)
        for bot in PANEL_BOTS:  # tit-for-tat against the scripted members: no engine call
            seats = [Seat("bot:tit_for_tat", bot="tit_for_tat"), Seat(f"bot:{bot}", bot=bot)]
            groups[f"tft:{bot}"] = [
                MatchSpec(trainer.fixtures.next_seed(), dict(zip(agents, seats, strict=True)))
                for _ in range(games)
            ]
        played = play_groups(trainer, groups)
        mine = {
            bot: [self.per_round(ep, _llm_seats(ep)) for ep in played[bot]] for bot in PANEL_BOTS
        }
        pair = played[PAIR]
        mine[PAIR] = [self.per_round(ep, agents) for ep in pair]
        tft = {
            bot: [self.per_round(ep, agents[:1]) for ep in played[f"tft:{bot}"]]
            for bot in PANEL_BOTS
        }
        # tit-for-tat's side of its games against the learner: it meets the learned player
        tft[PAIR] = [self.per_round(ep, _bot_seats(ep)) for ep in played["tit_for_tat"]]
        cooperation = []  # per game: the share of the pair's moves that cooperate
        for ep in pair:
            moves = [m for t in ep.trajectories.values() for m in dilemma_moves(t)]
            if moves:
                cooperation.append(moves.count(COOPERATE) / len(moves))
        out: dict[str, float] = {}
        for member, scores in mine.items():
            out.update(interval_scalars("score", member, mean_interval(scores)))
        out.update(interval_scalars("panel_score", "learner", panel_mean(mine)))
        out.update(interval_scalars("panel_score", "tit_for_tat", panel_mean(tft)))
        out.update(interval_scalars("cooperation_rate", "pair", mean_interval(cooperation)))
        return out


def panel_mean(scores: Mapping[str, Sequence[float]]) -> tuple[float, float, float]:
    """The members' equally weighted mean score, with a 95% interval from their standard errors."""
    members = [mean_interval(v) for v in scores.values() if v]
    if not members:
        return math.nan, math.nan, math.nan
    mean = statistics.fmean(m for m, _, _ in members)
    half = math.sqrt(sum(((h - lo) / 2) ** 2 for _, lo, h in members)) / len(members)
    return mean, mean - half, mean + half


def _llm_seats(episode: Episode) -> list[str]:
    return [a for a, t in episode.trajectories.items() if t.adapter is not None]


def _bot_seats(episode: Episode) -> list[str]:
    return [a for a, t in episode.trajectories.items() if t.adapter is None]


# ---------------------------------------------------------------------- which one
def make_mode_evaluation(
    mode: str,
    env_id: str,
    env_kwargs: Mapping[str, Any],
    partners: Sequence[str],
    population: int = 1,
) -> ModeEvaluation | None:
    """The mode's measurement for this game, or None where the bots' win rates are the figure;
    with a `population` of more than one learner, its own (`population_eval`)."""
    if env_id == "kuhn_poker_v0" and population > 1:
        from trainers.league.population_eval import PopulationExploitability

        return PopulationExploitability()
    if env_id == "kuhn_poker_v0":
        return KuhnExploitability()
    if mode == "cooperative":
        return CooperativePair(partners)
    if mode == "mixed" and env_id == "prisoners_dilemma_v0":
        from envs.prisoners_dilemma.rules import PrisonersDilemma

        rounds = int(env_kwargs.get("rounds", PrisonersDilemma.__init__.__kwdefaults__["rounds"]))
        return DilemmaPanel(rounds)
    return None
