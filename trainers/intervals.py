"""Binomial confidence intervals for win rates: evaluation points a reader can trust.

A win rate from n games is a binomial proportion; its 95% Wilson score interval (Wilson 1927) stays
inside [0, 1] and keeps close to its nominal coverage at small n and near 0 or 1, where the normal
approximation p +- 1.96 sqrt(p(1-p)/n) collapses to a point. Draws count half a win, the
convention of the match table's `won` column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Z95", "WinRate", "games_for_half_width", "wilson_interval"]

#: Two-sided 95% normal quantile.
Z95 = 1.959963984540054


def wilson_interval(wins: float, games: int, z: float = Z95) -> tuple[float, float]:
    """(low, high) of the Wilson score interval for `wins` out of `games` (draws as 0.5)."""
    if games < 0 or not 0 <= wins <= games:
        raise ValueError(f"need 0 <= wins <= games, got wins={wins}, games={games}")
    if games == 0:
        return 0.0, 1.0
    p = wins / games
    z2 = z * z
    centre = (p + z2 / (2 * games)) / (1 + z2 / games)
    half = z * math.sqrt(p * (1 - p) / games + z2 / (4 * games * games)) / (1 + z2 / games)
    return max(0.0, centre - half), min(1.0, centre + half)


def games_for_half_width(half_width: float, p: float = 0.5, z: float = Z95) -> int:
    """Games needed for a 95% interval of +-`half_width` at win rate `p` (normal approximation)."""
    if not 0 < half_width < 1:
        raise ValueError(f"half_width must lie in (0, 1), got {half_width}")
    return math.ceil(z * z * p * (1 - p) / (half_width * half_width))


@dataclass(frozen=True)
class WinRate:
    """A win rate with its games and 95% interval."""

    wins: float
    games: int

    @property
    def rate(self) -> float:
        return self.wins / self.games if self.games else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.wins, self.games)

    def clearly_below(self, other: WinRate) -> bool:
        """True when this rate's whole interval lies below `other`'s: a difference noise cannot
        explain (non-overlapping 95% intervals, a conservative test)."""
        return self.games > 0 and other.games > 0 and self.interval[1] < other.interval[0]
