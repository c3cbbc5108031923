"""Bots for public_goods_v0."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from agents.policy import ActRequest
from agents.scripted.base import RandomBot, ScriptedBot

RANDOM_MESSAGES = (
    "hello everyone",
    "let's all put in everything",
    "I might keep my coins",
    "what will you do?",
    "trust me",
    "I will put in half",
    "ok",
)


class RandomPublicGoodsBot(RandomBot):
    """A random message in the talk phase; a uniform amount in the contribute phase."""

    def free_move(self, request: ActRequest) -> str:
        return f"[say {RANDOM_MESSAGES[int(self.rng.integers(len(RANDOM_MESSAGES)))]}]"


class _PolicyBot(ScriptedBot):
    """Says `message` in the talk phase and contributes `amount(view)`."""

    message: ClassVar[str] = "ok"

    def choose(self, request: ActRequest) -> str:
        view = request.info.get("view") or {}
        if view.get("phase") != "contribute":
            return f"[say {self.message}]"
        endowment = int(view.get("endowment", 0))
        return f"[contribute {min(max(self.amount(view), 0), endowment)}]"

    def amount(self, view: Mapping[str, Any]) -> int:
        raise NotImplementedError


class FullContributor(_PolicyBot):
    """Contributes the whole endowment every round: what maximises the group's score."""

    kind: ClassVar[str] = "strong"
    message: ClassVar[str] = "Let's all put in everything: the pot grows for all of us."

    def amount(self, view: Mapping[str, Any]) -> int:
        return int(view.get("endowment", 0))


class FreeRider(_PolicyBot):
    """Contributes nothing: what maximises its own score, whatever the others do."""

    kind: ClassVar[str] = "free_rider"
    message: ClassVar[str] = "Let's all put in everything."

    def amount(self, view: Mapping[str, Any]) -> int:
        return 0


class ConditionalCooperator(_PolicyBot):
    """Contributes everything in round 1, then the group's mean contribution of the last round."""

    kind: ClassVar[str] = "conditional"
    message: ClassVar[str] = "I will put in what the group put in last round."

    def amount(self, view: Mapping[str, Any]) -> int:
        history = view.get("history") or []
        if not history:
            return int(view.get("endowment", 0))
        last = list(history[-1].get("contributions", {}).values())
        return round(sum(last) / len(last)) if last else 0


BOTS = {
    "random": RandomPublicGoodsBot,
    "strong": FullContributor,
    "free_rider": FreeRider,
    "conditional": ConditionalCooperator,
}
