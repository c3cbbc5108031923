"""Bots for prisoners_dilemma_v0.

- `random`: a random short message, then a uniformly random move.
- `strong` (= `tit_for_tat`): cooperates first, then copies the opponent's last move; says "I will
  cooperate if you do." Winner of Axelrod's tournaments.
- `always_cooperate`, `always_defect`: the unconditional strategies.
"""

from __future__ import annotations

from typing import ClassVar

from agents.policy import ActRequest
from agents.scripted.base import RandomBot, ScriptedBot

COOPERATE, DEFECT = "[cooperate]", "[defect]"
MESSAGES = (
    "Hello.",
    "I will cooperate if you do.",
    "Let us both cooperate.",
    "Do not trust me.",
    "Good luck.",
    "Same as last time?",
)


def _talking(request: ActRequest) -> bool:
    view = request.info.get("view") or {}
    return view.get("phase") == "talk" or not request.info.get("legal_moves")


class RandomPD(RandomBot):
    def free_move(self, request: ActRequest) -> str:
        return f"[say {MESSAGES[int(self.rng.integers(len(MESSAGES)))]}]"


class FixedPD(ScriptedBot):
    """Says `message`, then plays `move` every round."""

    message: ClassVar[str] = "I will cooperate if you do."
    move: ClassVar[str] = COOPERATE

    def choose(self, request: ActRequest) -> str:
        return f"[say {self.message}]" if _talking(request) else self.move


class AlwaysCooperate(FixedPD):
    kind: ClassVar[str] = "always_cooperate"
    message: ClassVar[str] = "I always cooperate."


class AlwaysDefect(FixedPD):
    kind: ClassVar[str] = "always_defect"
    message: ClassVar[str] = "I will cooperate if you do."  # cheap talk: it lies
    move: ClassVar[str] = DEFECT


class TitForTat(FixedPD):
    kind: ClassVar[str] = "tit_for_tat"

    def choose(self, request: ActRequest) -> str:
        if _talking(request):
            return f"[say {self.message}]"
        seen = (request.info.get("view") or {}).get("opponent_moves") or []
        return DEFECT if seen and seen[-1] == "defect" else COOPERATE


class StrongPD(TitForTat):
    """Tit-for-tat under the name every game's strongest bot has."""

    kind: ClassVar[str] = "strong"


BOTS = {
    "random": RandomPD,
    "strong": StrongPD,
    "tit_for_tat": TitForTat,
    "always_cooperate": AlwaysCooperate,
    "always_defect": AlwaysDefect,
}
