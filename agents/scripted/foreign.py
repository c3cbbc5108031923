"""Bots for games of other collections (`openspiel/...`, `textarena/...`): `random` only.

Uniform over `legal_moves` when the game lists them (always for OpenSpiel; for TextArena when its
text lists them). Otherwise a guess from generic bracketed answers, which the game mostly rejects:
a yardstick of how often an unconstrained answer is even a move.
"""

from __future__ import annotations

from typing import ClassVar

from agents.policy import ActRequest
from agents.scripted.base import RandomBot

GUESSES = ("[0]", "[1]", "[2]", "[3]", "[4]", "[yes]", "[no]", "[pass]", "[a1]", "[check]")


class ForeignRandomBot(RandomBot):
    kind: ClassVar[str] = "random"

    def free_move(self, request: ActRequest) -> str:
        return GUESSES[int(self.rng.integers(len(GUESSES)))]


BOTS = {"random": ForeignRandomBot}
