"""Ratings, win rates and payoff matrices: pure functions of match records.

A `MatchRecord` is one finished game: the teams (each a tuple of player ids, one id per seat the
player controlled) and each team's score, higher is better. Everything here is recomputed from
records alone, so a league's ratings can always be rebuilt from its `matches` log and two runs
can be compared on the same footing.

Two players "met" in a record when they sat on different teams; teammates never meet. A player may
sit on several seats (a learner controlling both seats of a team, or playing against itself in
self-play); a player never meets itself, and a mirror game (the same player on both sides) carries
no rating information, so it moves no rating.

- `elo_ratings`: Elo over teams; a team's rating is the mean of its seats', and a multi-team game
  counts as every pair of teams playing once, each pair weighted 1 / (n_teams - 1).
- `openskill_ratings`: openskill's Plackett-Luce model (Weng and Lin, 2011), which handles teams,
  more than two teams and ties natively.
- `payoff_matrix`, `win_rates`: empirical win rate (win 1, tie 0.5, loss 0) or mean score margin.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "MatchRecord",
    "SkillRating",
    "elo_ratings",
    "meetings",
    "openskill_ratings",
    "payoff_matrix",
    "win_rates",
]


@dataclass(frozen=True)
class MatchRecord:
    """One finished game: who sat on which team and each team's score (higher is better)."""

    env_id: str
    #: One tuple of player ids per team, one id per seat.
    teams: tuple[tuple[str, ...], ...]
    #: One score per team, in the order of `teams`.
    scores: tuple[float, ...]
    #: The training step at which the game was played.
    step: int = 0

    def __post_init__(self) -> None:
        teams = tuple(tuple(str(p) for p in team) for team in self.teams)
        scores = tuple(float(s) for s in self.scores)
        object.__setattr__(self, "teams", teams)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "step", int(self.step))
        if len(teams) < 2:
            raise ValueError(f"a match needs at least two teams, got {len(teams)}")
        if len(scores) != len(teams):
            raise ValueError(f"got {len(scores)} scores for {len(teams)} teams")
        if any(not team for team in teams) or any(not p for team in teams for p in team):
            raise ValueError("every team needs at least one seat, and every id must be non-empty")
        if not all(math.isfinite(s) for s in scores):
            raise ValueError(f"scores must be finite, got {scores}")

    @property
    def players(self) -> tuple[str, ...]:
        """Every player in the game, once, in seat order."""
        return tuple(dict.fromkeys(p for team in self.teams for p in team))

    def ranks(self) -> tuple[int, ...]:
        """Rank per team, 0 = best; tied teams share the better rank (1224 ranking)."""
        return tuple(sum(other > s for other in self.scores) for s in self.scores)

    def to_dict(self) -> dict[str, Any]:
        return {
            "env_id": self.env_id,
            "teams": [list(t) for t in self.teams],
            "scores": list(self.scores),
            "step": self.step,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MatchRecord:
        return cls(
            env_id=data["env_id"],
            teams=tuple(tuple(t) for t in data["teams"]),
            scores=tuple(data["scores"]),
            step=data.get("step", 0),
        )


def _outcome(mine: float, theirs: float) -> float:
    return 1.0 if mine > theirs else 0.5 if mine == theirs else 0.0


def meetings(record: MatchRecord) -> Iterator[tuple[str, str, float, float]]:
    """Every (a, b, outcome for a, score margin a - b) where a and b sat on different teams.

    Both orders are yielded; each player counts once per team however many seats it held there.
    """
    for i, team_a in enumerate(record.teams):
        for j, team_b in enumerate(record.teams):
            if i == j:
                continue
            outcome = _outcome(record.scores[i], record.scores[j])
            margin = record.scores[i] - record.scores[j]
            for a in dict.fromkeys(team_a):
                for b in dict.fromkeys(team_b):
                    if a != b:
                        yield a, b, outcome, margin


# ALGO LOGIC: Elo


def elo_ratings(
    records: Iterable[MatchRecord],
    k: float = 32.0,
    initial: float = 1000.0,
    players: Iterable[str] = (),
    scale: float = 400.0,
) -> dict[str, float]:
    """Elo ratings after playing `records` in order; `players` adds ids that may have no games.

    Per game, team t's expected score against team u is E = 1 / (1 + 10^((R_u - R_t) / scale)),
    R being the mean of its seats' ratings, and every player of t moves by
    k / (n_teams - 1) * sum over u of (S - E), S = 1 / 0.5 / 0. All moves of one game use the
    ratings from before it; two-team games are zero-sum in rating points.
    """
    ratings: dict[str, float] = dict.fromkeys(players, float(initial))
    for record in records:
        for p in record.players:
            ratings.setdefault(p, float(initial))
        team_rating = [sum(ratings[p] for p in team) / len(team) for team in record.teams]
        n = len(record.teams)
        moves: dict[str, float] = {}
        for i, team in enumerate(record.teams):
            delta = 0.0
            for j in range(n):
                if i == j:
                    continue
                expected = 1.0 / (1.0 + 10.0 ** ((team_rating[j] - team_rating[i]) / scale))
                delta += _outcome(record.scores[i], record.scores[j]) - expected
            for p in dict.fromkeys(team):
                moves[p] = moves.get(p, 0.0) + k * delta / (n - 1)
        for p, move in moves.items():
            ratings[p] += move
    return ratings


# ALGO LOGIC: openskill


@dataclass(frozen=True)
class SkillRating:
    """An openskill rating: skill mean and uncertainty."""

    mu: float
    sigma: float

    @property
    def ordinal(self) -> float:
        """mu - 3 sigma: a conservative skill estimate, the usual leaderboard key."""
        return self.mu - 3.0 * self.sigma


def openskill_ratings(
    records: Iterable[MatchRecord],
    players: Iterable[str] = (),
    mu: float = 25.0,
    sigma: float = 25.0 / 3.0,
    **model_kwargs: Any,
) -> dict[str, SkillRating]:
    """Plackett-Luce ratings after playing `records` in order (openskill, imported here).

    Teams and any number of them are rated as openskill defines; ties share a rank. A player
    holding several seats of one team counts once; a player on more than one team of a game
    (a mirror) takes part with its current rating but keeps it. `model_kwargs` go to
    `openskill.models.PlackettLuce` (beta, tau, ...).
    """
    from openskill.models import PlackettLuce

    model = PlackettLuce(mu=mu, sigma=sigma, **model_kwargs)
    ratings = {p: model.rating() for p in players}
    for record in records:
        teams = [list(dict.fromkeys(team)) for team in record.teams]
        seen: dict[str, int] = {}
        for team in teams:
            for p in team:
                seen[p] = seen.get(p, 0) + 1
                ratings.setdefault(p, model.rating())
        if all(count > 1 for count in seen.values()):
            continue
        rated = model.rate(
            [[ratings[p] for p in team] for team in teams],
            ranks=[float(r) for r in record.ranks()],
        )
        for team, new_team in zip(teams, rated, strict=True):
            for p, new in zip(team, new_team, strict=True):
                if seen[p] == 1:
                    ratings[p] = new
    return {p: SkillRating(float(r.mu), float(r.sigma)) for p, r in ratings.items()}


# ALGO LOGIC: empirical payoffs


def payoff_matrix(
    records: Iterable[MatchRecord],
    players: Sequence[str],
    kind: Literal["win_rate", "margin", "games"] = "win_rate",
) -> np.ndarray:
    """[n, n] matrix of row player vs column player, over the games in which they met.

    `win_rate`: mean outcome (win 1, tie 0.5, loss 0); `margin`: mean team score difference
    (row minus column); `games`: how many games they met in. Cells without games are NaN
    (0 for `games`), the diagonal included. Players not in `players` are ignored.
    """
    if kind not in ("win_rate", "margin", "games"):
        raise ValueError(f"unknown payoff kind {kind!r}; choose win_rate, margin or games")
    index = {p: i for i, p in enumerate(players)}
    n = len(index)
    totals = np.zeros((n, n))
    counts = np.zeros((n, n))
    for record in records:
        for a, b, outcome, margin in meetings(record):
            if a in index and b in index:
                totals[index[a], index[b]] += margin if kind == "margin" else outcome
                counts[index[a], index[b]] += 1
    if kind == "games":
        return counts
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)


def win_rates(
    records: Iterable[MatchRecord], players: Iterable[str] | None = None
) -> dict[str, float]:
    """Each player's win rate over everyone it met (win 1, tie 0.5, loss 0); NaN without games.

    `players=None` reports every player seen in `records`.
    """
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    seen: dict[str, None] = {}
    for record in records:
        seen.update(dict.fromkeys(record.players))
        for a, _b, outcome, _margin in meetings(record):
            totals[a] = totals.get(a, 0.0) + outcome
            counts[a] = counts.get(a, 0) + 1
    wanted = seen if players is None else players
    return {p: totals[p] / counts[p] if counts.get(p) else math.nan for p in wanted}
