"""Pure rules of hidden sum: pool private numbers through one message each (no PettingZoo)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from envs.core.formats import number_format, say_format
from envs.core.game import Game

TALK, ANSWER = "talk", "answer"
MAX_MESSAGE_CHARS = 200
MIN_NUMBER, MAX_NUMBER = 1, 9

SAY = re.compile(r"\[\s*say\b\s*:?([^\[\]\n]*)\]", re.IGNORECASE)
ANSWER_MOVE = re.compile(r"\[\s*answer\b\s*:?\s*([0-9]{1,6})\s*\]", re.IGNORECASE)
_SPACES = re.compile(r"\s+")

RULES = (
    "You are {agent}, one of {n} players ({names}). Each player holds {k} secret numbers from 1 to "
    "9. Your numbers: {mine} (sum {my_sum}). Goal: every player finds the total of all {count} "
    "numbers; each player who answers it right scores 1.\n"
    "First everyone sends one message with [say your message]; the messages are shown together. "
    "Then everyone answers the total with [answer N], N a whole number from {lo} to {hi}.\n"
    "Example: [say my sum is {my_sum}] then [answer {example}]"
)
TURN_TALK = "Send your one message to the others now: [say your message]"
TURN_ANSWER = "What is the total of all {count} numbers? Answer [answer N]."


def parse_say(text: str) -> str | None:
    """The first non-empty `[say ...]` message in `text` (spaces collapsed, cut to 200 chars)."""
    for match in SAY.finditer(text):
        message = _SPACES.sub(" ", match.group(1)).strip()
        if message:
            return message[:MAX_MESSAGE_CHARS]
    return None


def parse_answer(text: str, lo: int, hi: int) -> int | None:
    """The one number given as `[answer N]` in `text` if it lies in lo..hi, else None."""
    named = {int(m) for m in ANSWER_MOVE.findall(text)}
    if len(named) != 1:
        return None
    answer = named.pop()
    return answer if lo <= answer <= hi else None


@dataclass
class HiddenSumState:
    numbers: dict[str, list[int]]
    phase: str = TALK
    pending: dict[str, Any] = field(default_factory=dict)  # moves submitted in this phase
    messages: dict[str, str] = field(default_factory=dict)  # revealed messages
    answers: dict[str, int] = field(default_factory=dict)  # revealed at the end

    @property
    def total(self) -> int:
        return sum(sum(v) for v in self.numbers.values())


class HiddenSum(Game):
    title: ClassVar[str] = "hidden sum"
    payoffs: ClassVar[tuple[str, ...]] = ("cooperative",)
    default_max_cycles: ClassVar[int] = 20

    def __init__(
        self,
        seed: int | None = None,
        *,
        num_players: int = 3,
        numbers_per_player: int = 2,
        **kwargs: Any,
    ) -> None:
        if not 2 <= num_players <= 4:
            raise ValueError(f"num_players must be in 2..4, got {num_players}")
        if not 1 <= numbers_per_player <= 5:
            raise ValueError(f"numbers_per_player must be in 1..5, got {numbers_per_player}")
        super().__init__([f"player_{i}" for i in range(num_players)], seed, **kwargs)
        self.numbers_per_player = int(numbers_per_player)
        numbers = {
            a: [int(x) for x in self.rng.integers(MIN_NUMBER, MAX_NUMBER + 1, numbers_per_player)]
            for a in self.agents
        }
        self.state = HiddenSumState(numbers=numbers)

    @property
    def answer_range(self) -> tuple[int, int]:
        count = len(self.agents) * self.numbers_per_player
        return MIN_NUMBER * count, MAX_NUMBER * count

    # ------------------------------------------------------------------ moves
    def to_act(self) -> list[str]:
        if self.over:
            return []
        return [a for a in self.agents if a not in self.state.pending]

    def legal_moves(self, agent: str) -> list[str] | None:
        return None

    def move_format(self, agent: str) -> str | None:
        """Talk: a `[say ...]` of at most 48 plain characters; answer: `[answer N]` with N in
        `answer_range`."""
        if self.state.phase == TALK:
            return say_format()
        return rf"\[answer {number_format(*self.answer_range)}\]"

    def parse_move(self, agent: str, text: str) -> str | int | None:
        if self.state.phase == TALK:
            return parse_say(text)
        return parse_answer(text, *self.answer_range)

    def apply_move(self, agent: str, move: str | int) -> None:
        s = self.state
        s.pending[agent] = move
        if len(s.pending) < len(self.agents):
            return
        if s.phase == TALK:
            s.messages = {a: str(s.pending[a]) for a in self.agents}
            for a in self.agents:
                self.log(f"{a} says: {s.messages[a]}")
            s.pending = {}
            s.phase = ANSWER
        else:
            self._score_answers()
            self.over = True

    def _score_answers(self) -> None:
        s = self.state
        s.answers = {a: int(s.pending[a]) for a in self.agents if a in s.pending}
        s.pending = {}
        for a, answer in s.answers.items():
            self.scores[a] += float(answer == s.total)
        given = ", ".join(f"{a} {n}" for a, n in s.answers.items()) or "none"
        right = [a for a, n in s.answers.items() if n == s.total]
        self.log(
            f"Answers: {given}. The total was {s.total}. "
            f"Right: {', '.join(right) if right else 'nobody'}."
        )

    def on_forfeit(self, agent: str) -> None:
        # The game ends: answers already given still count; the forfeiter loses a point.
        super().on_forfeit(agent)
        if self.state.phase == ANSWER:
            self._score_answers()
        else:
            self.log(f"The game ends. The total was {self.state.total}.")

    # ------------------------------------------------------------------ text
    def rules_text(self, agent: str) -> str:
        mine = self.state.numbers[agent]
        lo, hi = self.answer_range
        return RULES.format(
            agent=agent,
            n=len(self.agents),
            names=", ".join(self.agents),
            k=self.numbers_per_player,
            mine=", ".join(map(str, mine)),
            my_sum=sum(mine),
            count=len(self.agents) * self.numbers_per_player,
            lo=lo,
            hi=hi,
            example=(lo + hi) // 2,
        )

    def turn_prompt(self, agent: str) -> str:
        if self.state.phase == TALK:
            return TURN_TALK
        return TURN_ANSWER.format(count=len(self.agents) * self.numbers_per_player)

    def view(self, agent: str) -> dict[str, Any]:
        s = self.state
        lo, hi = self.answer_range
        view: dict[str, Any] = {
            "phase": "over" if self.over else s.phase,
            "num_players": len(self.agents),
            "numbers_per_player": self.numbers_per_player,
            "my_numbers": list(s.numbers[agent]),
            "my_sum": sum(s.numbers[agent]),
            "answer_range": [lo, hi],
            "messages": dict(s.messages),
        }
        if self.over:
            view["answers"] = dict(s.answers)
            view["total"] = s.total
        return view
