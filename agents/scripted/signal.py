"""Bots for signal_v0."""

from __future__ import annotations

from typing import ClassVar

from agents.policy import ActRequest
from agents.scripted.base import RandomBot, ScriptedBot
from envs.signal.rules import LEXICON, clue_allowed

_WORDS = tuple(LEXICON)


class RandomSignalBot(RandomBot):
    """Speaker: a random allowed clue from the game's word list. Listener: a uniform pick."""

    def free_move(self, request: ActRequest) -> str:
        target = str((request.info.get("view") or {}).get("target") or "?")
        allowed = [w for w in _WORDS if clue_allowed(w, target)] or ["thing"]
        return f"[clue {allowed[int(self.rng.integers(len(allowed)))]}]"


class CategoryBot(ScriptedBot):
    """Speaker: the target's category. Listener: the candidate whose category is the clue.

    Candidates come from different categories, so the category always singles the target out.
    A listener with no candidate (or several) in the clue's category picks among those at random.
    """

    kind: ClassVar[str] = "strong"

    def choose(self, request: ActRequest) -> str:
        view = request.info.get("view") or {}
        candidates = [str(w) for w in view.get("candidates") or []]
        if view.get("role") == "speaker":
            target = str(view.get("target", ""))
            clue = LEXICON.get(target, "thing")
            return f"[clue {clue if clue_allowed(clue, target) else 'thing'}]"
        clue = str(view.get("clue") or "")
        matches = [w for w in candidates if LEXICON.get(w) == clue] or candidates or ["?"]
        return f"[pick {matches[int(self.rng.integers(len(matches)))]}]"


BOTS = {"random": RandomSignalBot, "strong": CategoryBot}
