"""Bots for kuhn_poker_v0."""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar

from agents.policy import ActRequest
from agents.scripted.base import RandomBot, ScriptedBot
from envs.kuhn_poker.theory import as_table, nash_policy

NASH_ALPHA = Fraction(1, 3)  # of the family, the equilibrium that wins most against uniform play


class NashBot(ScriptedBot):
    """Plays the Nash equilibrium `theory.nash_policy(alpha=1/3)`: unexploitable, value -1/18 as
    player_0 and +1/18 as player_1 against any other equilibrium."""

    kind: ClassVar[str] = "strong"
    policy: ClassVar[dict] = as_table(nash_policy(NASH_ALPHA))

    def choose(self, request: ActRequest) -> str:
        legal = list(request.info.get("legal_moves") or [])
        view = request.info.get("view") or {}
        probs = self.policy.get(str(view.get("info_set")))
        if probs is None or sorted(f"[{a}]" for a in probs) != sorted(legal):
            return str(legal[self.rng.integers(len(legal))]) if legal else "[check]"
        actions = list(probs)
        weights = [float(probs[a]) for a in actions]
        return f"[{actions[self.rng.choice(len(actions), p=weights)]}]"


BOTS = {"random": RandomBot, "strong": NashBot, "nash": NashBot}
