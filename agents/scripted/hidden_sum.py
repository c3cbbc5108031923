"""Bots for hidden_sum_v0."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from agents.policy import ActRequest
from agents.scripted.base import RandomBot, ScriptedBot

_INTEGER = re.compile(r"[0-9]{1,4}")
RANDOM_WORDS = ("hello", "my", "numbers", "are", "big", "small", "sum", "is", "maybe", "ok")


def _range(view: Mapping[str, Any]) -> tuple[int, int]:
    lo, hi = view.get("answer_range") or (0, 0)
    return int(lo), int(hi)


class RandomHiddenSumBot(RandomBot):
    """A random message (random words and maybe a number), then a uniform answer in the range."""

    def free_move(self, request: ActRequest) -> str:
        view = request.info.get("view") or {}
        if view.get("phase") == "answer":
            lo, hi = _range(view)
            return f"[answer {int(self.rng.integers(lo, hi + 1))}]"
        words = [str(w) for w in self.rng.choice(RANDOM_WORDS, size=3)]
        if self.rng.random() < 0.5:
            words.append(str(int(self.rng.integers(1, 19))))
        return f"[say {' '.join(words)}]"


def sum_in_message(message: str) -> int | None:
    """The last whole number in a message ("my sum is 7" -> 7), or None."""
    numbers = _INTEGER.findall(message)
    return int(numbers[-1]) if numbers else None


class SumSharingBot(ScriptedBot):
    """Says its own sum; answers its sum plus the sums in the others' messages.

    A message without a number counts as the expected sum of that player's numbers (5 per number).
    """

    kind: ClassVar[str] = "strong"

    def choose(self, request: ActRequest) -> str:
        view = request.info.get("view") or {}
        my_sum = int(view.get("my_sum", 0))
        if view.get("phase") != "answer":
            return f"[say my sum is {my_sum}]"
        expected = 5 * int(view.get("numbers_per_player", 1))
        total = my_sum
        for agent, message in (view.get("messages") or {}).items():
            if agent != request.agent:
                said = sum_in_message(str(message))
                total += expected if said is None else said
        lo, hi = _range(view)
        return f"[answer {min(max(total, lo), hi)}]"


BOTS = {"random": RandomHiddenSumBot, "strong": SumSharingBot}
