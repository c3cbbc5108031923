"""Meta-solvers: a distribution over the league's players from their empirical payoff matrix.

The empirical game is symmetric and two-player: `payoffs[i, j]` is what player i gets against
player j (a win rate in [0, 1], ties half, or a mean score margin), as `League.payoff_matrix`
builds it. A pair that never met is NaN there; here it counts as an even game (0.5 win rate,
0 margin), the diagonal included, so an untested player is neither favoured nor punished.

- `alpharank`: the stationary distribution of alpha-rank's evolutionary dynamics (Omidshafiei
  et al., 2019), OpenSpiel's `egt.alpharank` in its single-population form. It ranks every
  game, transitive or cyclic; a strictly dominant player takes all the mass.
- `nash`: a Nash equilibrium of the zero-sum game, solved exactly by linear programming
  (`scipy.optimize.linprog`). OpenSpiel's own LP solver needs cvxpy; its projected replicator
  dynamics (PSRO's default) only approaches the equilibrium with iterations and a step size,
  while the LP is exact to solver tolerance in one call.

`META_SOLVERS` holds both by name; `solve_league` builds the matrix from a `League` and solves.
A `MetaStrategy` is the answer: `to_dict()` for league.json, `scalars(prefix)` for TensorBoard.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from trainers.league.population import League

__all__ = [
    "META_SOLVERS",
    "MetaStrategy",
    "alpharank_distribution",
    "filled_payoffs",
    "nash_distribution",
    "solve_league",
]

PayoffKind = Literal["win_rate", "margin"]
#: What an unplayed pair counts as: an even game.
_EVEN = {"win_rate": 0.5, "margin": 0.0}
#: exp(x) overflows float64 beyond about 709; alpha-rank's fixation probability takes
#: exp(alpha * payoff gap), and an overflow there makes it NaN.
_MAX_EXPONENT = 700.0


@dataclass(frozen=True)
class MetaStrategy:
    """A probability per player, and the solver that gave it."""

    names: tuple[str, ...]
    probabilities: tuple[float, ...]
    solver: str

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        probs = tuple(float(p) for p in self.probabilities)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "probabilities", probs)
        if len(names) != len(probs) or len(set(names)) != len(names):
            raise ValueError(f"need one probability per unique name, got {names} and {probs}")
        if names and (min(probs) < 0 or not np.isclose(sum(probs), 1.0, atol=1e-6)):
            raise ValueError(f"probabilities must be >= 0 and sum to 1, got {probs}")

    def as_dict(self) -> dict[str, float]:
        """{player: probability}."""
        return dict(zip(self.names, self.probabilities, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """{"solver": ..., "probabilities": {player: p}}: plain JSON for league.json."""
        return {"solver": self.solver, "probabilities": self.as_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetaStrategy:
        probs = data["probabilities"]
        return cls(tuple(probs), tuple(probs.values()), data["solver"])

    def scalars(self, prefix: str) -> dict[str, float]:
        """{f"{prefix}/{player}": p}, e.g. prefix "league/meta/alpharank"."""
        return {f"{prefix}/{name}": p for name, p in self.as_dict().items()}


def filled_payoffs(payoffs: np.ndarray | Sequence[Sequence[float]], kind: PayoffKind) -> np.ndarray:
    """The square matrix as floats with NaN cells (pairs that never met) set to an even game:
    0.5 for win rates, 0 for margins."""
    if kind not in _EVEN:
        raise ValueError(f"unknown payoff kind {kind!r}; choose one of {', '.join(_EVEN)}")
    matrix = np.asarray(payoffs, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"need a square payoff matrix, got shape {matrix.shape}")
    if np.isinf(matrix).any():
        raise ValueError("payoffs must be finite or NaN (never met)")
    return np.where(np.isnan(matrix), _EVEN[kind], matrix)


def _checked_names(names: Sequence[str], matrix: np.ndarray) -> tuple[str, ...]:
    names = tuple(names)
    if len(names) != matrix.shape[0]:
        raise ValueError(f"{len(names)} names for a {matrix.shape[0]}x{matrix.shape[0]} matrix")
    if not names:
        raise ValueError("need at least one player")
    return names


def _distribution(pi: np.ndarray) -> tuple[float, ...]:
    """Round-off negatives (-1e-17) to 0 and renormalise."""
    pi = np.clip(np.real(pi), 0.0, None)
    return tuple(float(p) for p in pi / pi.sum())


# ALGO LOGIC: alpha-rank


def alpharank_distribution(
    payoffs: np.ndarray | Sequence[Sequence[float]],
    names: Sequence[str],
    alpha: float = 100.0,
    population_size: int = 50,
    kind: PayoffKind = "win_rate",
) -> MetaStrategy:
    """Alpha-rank's stationary distribution over the players of a symmetric two-player game.

    OpenSpiel's `alpharank.compute([payoffs], m=population_size, alpha=alpha)`: one population
    (both seats draw from the same players) under the local selection model, where a mutant r
    invades a population of s with a fixation probability driven by
    alpha * (payoffs[r, s] - payoffs[s, r]). Larger alpha ranks more sharply; alpha-rank's authors
    take it as large as the numbers allow, and the ranking settles once alpha times the smallest
    payoff gap is a few units (OpenSpiel's `suggest_alpha`: -ln(0.1) / gap). The default 100
    (OpenSpiel's) settles every gap above about 0.02 of a win rate. An alpha whose product with
    the largest gap would overflow exp() is refused (margins in large units: pass a smaller
    alpha). NaN cells count as an even game (`filled_payoffs`).
    """
    from open_spiel.python.egt import alpharank

    matrix = filled_payoffs(payoffs, kind)
    names = _checked_names(names, matrix)
    if not alpha > 0 or population_size < 2:
        raise ValueError(f"need alpha > 0 and population_size >= 2, got {alpha}, {population_size}")
    gap = float(np.abs(matrix - matrix.T).max())
    if alpha * gap > _MAX_EXPONENT:
        raise ValueError(
            f"alpha {alpha} times the largest payoff gap {gap:.3g} overflows exp(); "
            f"use alpha <= {_MAX_EXPONENT / gap:.3g} (or win rates instead of margins)"
        )
    # exp(population_size * u) may overflow to inf: the fixation probability is then 0, its limit
    with np.errstate(over="ignore"):
        _rhos, _rho_m, pi, _n, _per_pop = alpharank.compute(
            [matrix], m=population_size, alpha=alpha, use_local_selection_model=True
        )
    return MetaStrategy(names, _distribution(pi), "alpharank")


# ALGO LOGIC: Nash by linear programming


def nash_distribution(
    payoffs: np.ndarray | Sequence[Sequence[float]],
    names: Sequence[str],
    kind: PayoffKind = "win_rate",
) -> MetaStrategy:
    """The row player's maximin (Nash) strategy of the zero-sum game `payoffs` (the column player
    gets the negation; win rates are the constant-sum 1 game, the same strategies).

    For the league's symmetric game it is a symmetric Nash equilibrium. Two linear programs:
    the game's value v = max_x min_j (x^T A)_j, then, among the strategies that guarantee v,
    the one whose smallest probability is largest, so a game with many equilibria (every pair
    even: uniform) gets the same answer every time, not the solver's choice of vertex.
    NaN cells count as an even game (`filled_payoffs`).
    """
    from scipy.optimize import linprog

    matrix = filled_payoffs(payoffs, kind)
    names = _checked_names(names, matrix)
    a = matrix - _EVEN[kind]  # zero-sum; a constant shift leaves the strategies unchanged
    n = a.shape[0]
    ones = np.ones((1, n))
    # variables (x_1..x_n, t): maximise t subject to t <= (x^T A)_j, sum x = 1, x >= 0
    value = linprog(
        c=np.r_[np.zeros(n), -1.0],
        A_ub=np.c_[-a.T, np.ones(n)],
        b_ub=np.zeros(n),
        A_eq=np.c_[ones, 0.0],
        b_eq=[1.0],
        bounds=[(0, None)] * n + [(None, None)],
        method="highs",
    )
    if not value.success:
        raise RuntimeError(f"the Nash value LP failed: {value.message}")
    # variables (x_1..x_n, s): maximise s subject to s <= x_i, (x^T A)_j >= v, sum x = 1 (the
    # solver's feasibility tolerance absorbs v's round-off; an infeasible answer keeps stage one's)
    spread = linprog(
        c=np.r_[np.zeros(n), -1.0],
        A_ub=np.r_[np.c_[-a.T, np.zeros(n)], np.c_[-np.eye(n), np.ones(n)]],
        b_ub=np.r_[np.full(n, value.fun), np.zeros(n)],
        A_eq=np.c_[ones, 0.0],
        b_eq=[1.0],
        bounds=[(0, None)] * n + [(None, None)],
        method="highs",
    )
    x = spread.x[:n] if spread.success else value.x[:n]
    return MetaStrategy(names, _distribution(x), "nash")


Solver = Callable[..., MetaStrategy]
META_SOLVERS: Mapping[str, Solver] = MappingProxyType(
    {"alpharank": alpharank_distribution, "nash": nash_distribution}
)


def solve_league(
    league: League,
    players: Sequence[str] | None = None,
    solver: Literal["alpharank", "nash"] = "alpharank",
    kind: PayoffKind = "win_rate",
    **solver_kwargs: Any,
) -> MetaStrategy:
    """The meta-strategy over `players` (default: the league's current players, in order) from
    their recorded games: `League.payoff_matrix(players, kind)` solved by `META_SOLVERS[solver]`.
    A learner's id keeps its results across versions (see `League`); list its snapshots to
    weigh versions apart."""
    if solver not in META_SOLVERS:
        raise ValueError(f"unknown meta-solver {solver!r}; choose one of {', '.join(META_SOLVERS)}")
    names = list(league.players) if players is None else list(players)
    if not names:
        raise ValueError("need at least one player to solve for")
    for name in names:
        league.get(name)
    matrix = league.payoff_matrix(names, kind)
    return META_SOLVERS[solver](matrix, names, kind=kind, **solver_kwargs)
