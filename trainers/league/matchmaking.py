"""Matchmaking: whom a learner plays next, by strategy name.

`make_matchmaker(name, **kw)` builds one of `MATCHMAKERS`; `pick(league, learner_id, n, rng)`
returns `n` opponent ids (one per opponent seat or team slot, repeats allowed), drawn with the
given numpy Generator only, so a run replays exactly from its seed.

- `uniform`: any other player of the league, uniformly (optionally only some kinds).
- `self_play`: the learner itself (its current version), or with `snapshot_prob` one of its own
  snapshots, as in OpenAI Five's 80/20 mix.
- `pfsp`: prioritised fictitious self-play (AlphaStar). Opponent c is drawn with weight f(x), x the
  learner's win rate against c (0.5 before any game): `hard` f = (1 - x)^p focuses on opponents it
  loses to; `variance` f = x (1 - x) on opponents near 50%, where a game teaches the most.
- `psro`: the meta-solver's distribution (PSRO, Lanctot et al. 2017): the other players of the
  allowed kinds are weighed by the Nash equilibrium (or alpha-rank) of their empirical game, the
  league's payoff matrix among them (`trainers.league.meta_solver`), so the learner trains
  against the league's meta-strategy. That game is filled by games among the candidates: a
  population's members play each other every iteration; a single learner's snapshots never do,
  their unplayed pairs count as even, and the distribution stays near uniform.
- `exploiter`: AlphaStar's main exploiter: play a main agent (a learner not flagged exploiter);
  while the exploiter's win rate against it is at most `threshold`, play that main agent's
  snapshots instead, by `variance` PFSP, so it has opponents it can learn to beat.

A strategy with nobody to draw from falls back to self-play (the learner itself), the only game
always available, like the first iteration of any league.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, Literal, Protocol

import numpy as np

from trainers.league.population import PLAYER_KINDS, League

__all__ = [
    "MATCHMAKERS",
    "PFSP_WEIGHTINGS",
    "ExploiterMatchmaker",
    "Matchmaker",
    "PFSPMatchmaker",
    "PSROMatchmaker",
    "SelfPlayMatchmaker",
    "UniformMatchmaker",
    "make_matchmaker",
    "pfsp_weights",
]

PFSP_WEIGHTINGS: tuple[str, ...] = ("hard", "variance")


class Matchmaker(Protocol):
    """Picks `n` opponents for one learner from the league."""

    def pick(
        self, league: League, learner_id: str, n: int, rng: np.random.Generator
    ) -> list[str]: ...


def pfsp_weights(
    win_rates: Sequence[float] | np.ndarray,
    weighting: Literal["hard", "variance"] = "hard",
    p: float = 2.0,
) -> np.ndarray:
    """AlphaStar's PFSP probabilities from win rates x: `hard` (1 - x)^p, `variance` x (1 - x).

    Normalised to sum to 1; uniform when every weight is 0 (e.g. the learner beats everyone).
    """
    x = np.clip(np.asarray(win_rates, dtype=float), 0.0, 1.0)
    if weighting == "hard":
        weights = (1.0 - x) ** p
    elif weighting == "variance":
        weights = x * (1.0 - x)
    else:
        raise ValueError(f"unknown pfsp weighting {weighting!r}; choose one of {PFSP_WEIGHTINGS}")
    if x.size == 0:
        return weights
    total = weights.sum()
    return weights / total if total > 0 else np.full(x.size, 1.0 / x.size)


def _check(league: League, learner_id: str, n: int) -> None:
    league.get(learner_id)
    if n < 0:
        raise ValueError(f"number of opponent slots must be >= 0, got {n}")


def _draw(
    rng: np.random.Generator, ids: Sequence[str], n: int, probs: np.ndarray | None = None
) -> list[str]:
    return [ids[i] for i in rng.choice(len(ids), size=n, p=probs)]


def _pool(league: League, learner_id: str, kinds: Sequence[str]) -> list[str]:
    """The league's other players of the allowed kinds."""
    return [p.id for p in league.players.values() if p.kind in kinds and p.id != learner_id]


def _draw_by(
    probs: Mapping[str, float], learner_id: str, n: int, rng: np.random.Generator
) -> list[str]:
    """`n` draws by `probs` (renormalised: an LP's answer sums to 1 within its tolerance only);
    the learner itself when there is nobody to draw."""
    if not probs:
        return [learner_id] * n
    weights = np.fromiter(probs.values(), dtype=float)
    return _draw(rng, list(probs), n, weights / weights.sum())


@dataclass(frozen=True)
class UniformMatchmaker:
    """Every other player of the allowed kinds is equally likely."""

    kinds: tuple[str, ...] = PLAYER_KINDS

    def pick(self, league: League, learner_id: str, n: int, rng: np.random.Generator) -> list[str]:
        _check(league, learner_id, n)
        pool = _pool(league, learner_id, self.kinds)
        return _draw(rng, pool, n) if pool else [learner_id] * n


@dataclass(frozen=True)
class SelfPlayMatchmaker:
    """The learner against itself; with `snapshot_prob`, a slot goes to one of its snapshots."""

    snapshot_prob: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.snapshot_prob <= 1.0:
            raise ValueError(f"snapshot_prob must lie in [0, 1], got {self.snapshot_prob}")

    def pick(self, league: League, learner_id: str, n: int, rng: np.random.Generator) -> list[str]:
        _check(league, learner_id, n)
        own = [p.id for p in league.snapshots(of=learner_id)]
        picks = []
        for _ in range(n):
            use_snapshot = own and rng.random() < self.snapshot_prob
            picks.append(own[rng.integers(len(own))] if use_snapshot else learner_id)
        return picks


@dataclass(frozen=True)
class PFSPMatchmaker:
    """Prioritised fictitious self-play over the league's other players of the allowed kinds."""

    weighting: Literal["hard", "variance"] = "hard"
    #: Exponent of the `hard` weighting; larger focuses harder on the strongest opponents.
    p: float = 2.0
    kinds: tuple[str, ...] = PLAYER_KINDS

    def __post_init__(self) -> None:
        if self.weighting not in PFSP_WEIGHTINGS:
            raise ValueError(
                f"unknown weighting {self.weighting!r}; choose one of {PFSP_WEIGHTINGS}"
            )

    def probabilities(self, league: League, learner_id: str) -> dict[str, float]:
        """Each candidate's probability of being drawn for one slot (for logging and tests)."""
        pool = _pool(league, learner_id, self.kinds)
        rates = [league.win_rate(learner_id, c) for c in pool]
        return dict(zip(pool, pfsp_weights(rates, self.weighting, self.p).tolist(), strict=True))

    def pick(self, league: League, learner_id: str, n: int, rng: np.random.Generator) -> list[str]:
        _check(league, learner_id, n)
        return _draw_by(self.probabilities(league, learner_id), learner_id, n, rng)


@dataclass(frozen=True)
class PSROMatchmaker:
    """The league's other players weighed by the meta-solver over their empirical game."""

    solver: Literal["nash", "alpharank"] = "nash"
    #: The payoff the meta-solver reads (`League.payoff_matrix`): win rates, or the mean score
    #: margin for games whose stakes vary (Kuhn poker's one or two chips).
    kind: Literal["win_rate", "margin"] = "win_rate"
    kinds: tuple[str, ...] = PLAYER_KINDS

    def probabilities(self, league: League, learner_id: str) -> dict[str, float]:
        """Each candidate's probability of being drawn for one slot: its meta-strategy mass."""
        from trainers.league.meta_solver import solve_league

        pool = _pool(league, learner_id, self.kinds)
        if not pool:
            return {}
        return solve_league(league, pool, solver=self.solver, kind=self.kind).as_dict()

    def pick(self, league: League, learner_id: str, n: int, rng: np.random.Generator) -> list[str]:
        _check(league, learner_id, n)
        return _draw_by(self.probabilities(league, learner_id), learner_id, n, rng)


@dataclass(frozen=True)
class ExploiterMatchmaker:
    """AlphaStar's main exploiter: the main agents, or their snapshots while it cannot win."""

    #: Win rate against a main agent at or below which its snapshots are played instead.
    threshold: float = 0.1

    def pick(self, league: League, learner_id: str, n: int, rng: np.random.Generator) -> list[str]:
        _check(league, learner_id, n)
        mains = [p.id for p in league.learners(exploiters=False) if p.id != learner_id]
        if not mains:
            return [learner_id] * n
        picks = []
        for _ in range(n):
            main = mains[rng.integers(len(mains))]
            snapshots = [p.id for p in league.snapshots(of=main)]
            if league.win_rate(learner_id, main) > self.threshold or not snapshots:
                picks.append(main)
                continue
            rates = [league.win_rate(learner_id, s) for s in snapshots]
            picks.extend(_draw(rng, snapshots, 1, pfsp_weights(rates, "variance")))
        return picks


MATCHMAKERS: Mapping[str, type[Any]] = MappingProxyType(
    {
        "uniform": UniformMatchmaker,
        "self_play": SelfPlayMatchmaker,
        "pfsp": PFSPMatchmaker,
        "exploiter": ExploiterMatchmaker,
        "psro": PSROMatchmaker,
    }
)


def make_matchmaker(name: str, **kwargs: Any) -> Matchmaker:
    """Build the matchmaker registered as `name` with its options: `("pfsp", weighting="hard")`."""
    if name not in MATCHMAKERS:
        raise ValueError(f"unknown matchmaker {name!r}; choose one of {', '.join(MATCHMAKERS)}")
    cls = MATCHMAKERS[name]
    accepted = [f.name for f in fields(cls)]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        takes = ", ".join(accepted) or "no options"
        raise ValueError(f"matchmaker {name!r} takes {takes}; got {', '.join(unknown)}")
    if "kinds" in kwargs:
        kwargs["kinds"] = tuple(kwargs["kinds"])
    return cls(**kwargs)
