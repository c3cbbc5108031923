"""Bots for negotiation_v0.

- `random`: a uniformly random well-formed offer; accepts a standing offer with probability 0.25.
- `strong`: a conceding negotiator. Its aspiration falls from the whole pool's value to half of it
  over the game; it proposes the split that meets its aspiration and leaves the other player what
  the other seems to value most (the items the other keeps in its own offers; items worthless to
  itself always go), and accepts any offer worth at least its current aspiration. It accepts a
  last offer worth `final_floor` (0.4) of its total or more.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from agents.policy import ActRequest
from agents.scripted.base import RandomBot, ScriptedBot


def _offer(keeps: Sequence[int]) -> str:
    return "[offer " + " ".join(str(int(k)) for k in keeps) + "]"


class RandomNegotiator(RandomBot):
    p_accept: ClassVar[float] = 0.25

    def free_move(self, request: ActRequest) -> str:
        view = request.info.get("view") or {}
        counts = view.get("counts") or []
        if view.get("standing_offer") and self.rng.random() < self.p_accept:
            return "[accept]"
        return _offer([self.rng.integers(0, c + 1) for c in counts])


class ConcedingNegotiator(ScriptedBot):
    kind: ClassVar[str] = "strong"
    start: ClassVar[float] = 1.0  # aspiration (share of own total value) on the first offer
    end: ClassVar[float] = 0.5  # aspiration on the last offer
    final_floor: ClassVar[float] = 0.4  # a last offer worth at least this share is accepted

    def choose(self, request: ActRequest) -> str:
        view = request.info.get("view") or {}
        try:
            return self._decide(view)
        except (KeyError, TypeError, ValueError, IndexError):  # a malformed view: still answer
            return "[accept]" if view.get("standing_offer") else "[reject]"

    def aspiration(self, offers_made: int, max_turns: int) -> float:
        progress = offers_made / (max_turns - 1) if max_turns > 1 else 1.0
        return self.start - (self.start - self.end) * min(progress, 1.0)

    def _decide(self, view: Mapping[str, Any]) -> str:
        values = np.asarray(view["my_values"], dtype=float)
        total = float(view["total_value"])
        standing = view.get("standing_offer")
        offered = float(values @ np.asarray(standing["i_get"])) if standing else -1.0
        if view["final"]:
            return "[accept]" if offered >= self.final_floor * total else "[reject]"
        target = self.aspiration(int(view["offers_made"]), int(view["max_turns"])) * total
        if offered >= target - 1e-9:
            return "[accept]"
        return _offer(self.propose(values, view["counts"], view["opponent_offers"], target))

    @staticmethod
    def propose(
        values: np.ndarray,
        counts: Sequence[int],
        their_offers: Sequence[Sequence[int]],
        target: float,
    ) -> tuple[int, ...]:
        """The keep vector worth >= `target` to me that leaves the other the most, as I guess it."""
        counts_arr = np.asarray(counts, dtype=float)
        if their_offers:  # share of each item type the other kept in its offers: what it wants
            guess = np.mean(np.asarray(their_offers, dtype=float) / counts_arr, axis=0)
        else:
            guess = np.full(len(counts), 0.5)
        guess = guess + 0.05  # every item is worth a little to someone
        best, best_key = tuple(counts), None
        for keeps in itertools.product(*(range(c + 1) for c in counts)):
            mine = float(values @ np.asarray(keeps))
            if mine < target - 1e-9:
                continue
            gives = counts_arr - np.asarray(keeps)
            key = (float(guess @ gives), mine)
            if best_key is None or key > best_key:
                best, best_key = keeps, key
        return tuple(int(k) for k in best)


BOTS = {"random": RandomNegotiator, "strong": ConcedingNegotiator}
