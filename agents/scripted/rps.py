"""Bots for rps_v0."""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

from agents.policy import ActRequest
from agents.scripted.base import RandomBot, ScriptedBot

COUNTER = {"rock": "paper", "paper": "scissors", "scissors": "rock"}


class FrequencyBot(ScriptedBot):
    """Plays the counter to the opponent's most frequent move so far (random on the first round)."""

    kind: ClassVar[str] = "strong"

    def choose(self, request: ActRequest) -> str:
        seen = request.info["view"]["opponent_history"]
        if not seen:
            return f"[{self.rng.choice(list(COUNTER))}]"
        counts = Counter(seen)
        top = max(counts.values())
        likely = [m for m in COUNTER if counts[m] == top]
        return f"[{COUNTER[str(self.rng.choice(likely))]}]"


class BiasedBot(ScriptedBot):
    """Plays rock with probability `p_rock`, else uniformly: the exploitable training opponent."""

    kind: ClassVar[str] = "rock_biased"
    p_rock: ClassVar[float] = 0.6

    def choose(self, request: ActRequest) -> str:
        if self.rng.random() < self.p_rock:
            return "[rock]"
        return f"[{self.rng.choice(list(COUNTER))}]"


BOTS = {"random": RandomBot, "strong": FrequencyBot, "rock_biased": BiasedBot}
