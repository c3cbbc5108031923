"""Bots for team_quiz_v0.

The strong bot reads the question text from `info["view"]` and works the answer out itself, as a
language model would: `solve()` parses the generated question formats; the game never hands it the
answer.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable
from typing import ClassVar

from agents.policy import ActRequest
from agents.scripted.base import RandomBot, ScriptedBot

_ARITH = re.compile(r"what is (-?\d+) ([+\-*]) (-?\d+)\?", re.IGNORECASE)
_LENGTH = re.compile(r"how many letters are in '([a-z]+)'\?", re.IGNORECASE)
_LETTER = re.compile(r"what is the (first|last) letter of '([a-z]+)'\?", re.IGNORECASE)
_COMPARE = re.compile(r"which is (larger|smaller), (-?\d+) or (-?\d+)\?", re.IGNORECASE)

_OPS: dict[str, Callable[[int, int], int]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
}


def solve(question: str) -> str | None:
    """The answer to a generated quiz question, or None for a question it cannot read."""
    text = question.strip()
    if m := _ARITH.fullmatch(text):
        return str(_OPS[m[2]](int(m[1]), int(m[3])))
    if m := _LENGTH.fullmatch(text):
        return str(len(m[1]))
    if m := _LETTER.fullmatch(text):
        word = m[2].lower()
        return word[0] if m[1].lower() == "first" else word[-1]
    if m := _COMPARE.fullmatch(text):
        a, b = int(m[2]), int(m[3])
        return str(max(a, b) if m[1].lower() == "larger" else min(a, b))
    return None


def _move(view: dict, answer: str) -> str:
    verb = "answer" if view.get("role") == "captain" else "propose"
    return f"[{verb} {answer}]"


class RandomAnswerBot(RandomBot):
    """Answers at random: a number from 0 to 99 or a letter."""

    def free_move(self, request: ActRequest) -> str:
        view = request.info.get("view") or {}
        if self.rng.random() < 0.5:
            answer = str(int(self.rng.integers(100)))
        else:
            answer = str(self.rng.choice(list(string.ascii_lowercase)))
        return _move(view, answer)


class SolverBot(ScriptedBot):
    """Solves the question; if it cannot, takes the teammates' most common proposal."""

    kind: ClassVar[str] = "strong"

    def choose(self, request: ActRequest) -> str:
        view = request.info.get("view") or {}
        answer = solve(str(view.get("question") or ""))
        if answer is None:
            proposals = list((view.get("team_proposals") or {}).values())
            answer = Counter(proposals).most_common(1)[0][0] if proposals else "0"
        return _move(view, answer)


BOTS = {"random": RandomAnswerBot, "strong": SolverBot}
