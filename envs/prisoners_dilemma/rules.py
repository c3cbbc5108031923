"""Pure rules of the iterated prisoner's dilemma with cheap talk (no PettingZoo).

Each round has two simultaneous phases: both players send a one-line message (`[say ...]`), the
messages are revealed together; then both choose `[cooperate]` or `[defect]`, revealed together.
Raw scores per round are the classic matrix T=5, R=3, P=1, S=0 divided by 5, so they lie in [0, 1].
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, ClassVar

from envs.core.formats import say_format
from envs.core.game import Game
from envs.core.parsing import MAX_PARSED_CHARS

COOPERATE, DEFECT = "cooperate", "defect"
MOVES = (COOPERATE, DEFECT)
LEGAL = [f"[{m}]" for m in MOVES]
TALK, MOVE = "talk", "move"
MAX_MESSAGE_CHARS = 100
#: The talk phase's `move_format`: a `[say ...]` of at most 48 plain characters (all parse).
TALK_FORMAT = say_format()

# The classic matrix (T, R, P, S) = (5, 3, 1, 0); raw scores are these divided by SCALE.
T, R, P, S = 5, 3, 1, 0
SCALE = 5
MATRIX: dict[tuple[str, str], tuple[int, int]] = {
    (COOPERATE, COOPERATE): (R, R),
    (COOPERATE, DEFECT): (S, T),
    (DEFECT, COOPERATE): (T, S),
    (DEFECT, DEFECT): (P, P),
}

_SAY = re.compile(r"\[\s*say\b\s*:?([^\[\]\n]*)\]", re.IGNORECASE)

RULES = (
    "You are {agent}. You play the prisoner's dilemma against {opponent} for {rounds} rounds.\n"
    "Each round has two steps. First both players send one short message at the same time, written "
    "[say your message] (at most 100 characters), for example [say I will cooperate if you do.]. "
    "Then both players choose [cooperate] or [defect] at the same time.\n"
    "Points each round: both cooperate: 0.6 each. Both defect: 0.2 each. If one defects and the "
    "other cooperates, the defector gets 1 and the cooperator gets 0."
)
TURN_TALK = (
    "Round {round} of {rounds}: send your message to {opponent}, for example "
    "[say I will cooperate if you do.]"
)
TURN_MOVE = (
    'Round {round} of {rounds}: {opponent} said "{message}". '
    "Choose your move: [cooperate] or [defect]."
)


def round_scores(a: str, b: str) -> tuple[float, float]:
    """Raw scores of one round (player_0 played `a`, player_1 played `b`)."""
    x, y = MATRIX[(a, b)]
    return x / SCALE, y / SCALE


def clean_message(text: str) -> str:
    """One printable line: control characters become spaces, runs of spaces collapse."""
    text = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(text.split())


def parse_say(text: str) -> str | None:
    """The message of the one `[say ...]` in `text`: 1-100 characters, no brackets, one line."""
    found = {clean_message(m) for m in _SAY.findall(unicodedata.normalize("NFKC", text))}
    if len(found) != 1:
        return None
    message = found.pop()
    return message if 1 <= len(message) <= MAX_MESSAGE_CHARS else None


@dataclass
class PDState:
    rounds: int
    round: int = 1
    phase: str = TALK
    pending: dict[str, str] = field(default_factory=dict)  # submissions of the current phase
    messages: list[tuple[str, str]] = field(default_factory=list)  # (player_0, player_1) per round
    moves: list[tuple[str, str]] = field(default_factory=list)


class PrisonersDilemma(Game):
    title: ClassVar[str] = "prisoner's dilemma"
    payoffs: ClassVar[tuple[str, ...]] = ("mixed",)
    default_max_cycles: ClassVar[int] = 100

    def __init__(self, seed: int | None = None, *, rounds: int = 5, **kwargs: Any) -> None:
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        super().__init__(["player_0", "player_1"], seed, **kwargs)
        self.state = PDState(rounds=rounds)

    def opponent(self, agent: str) -> str:
        return self.agents[1 - self.agents.index(agent)]

    def to_act(self) -> list[str]:
        if self.over:
            return []
        return [a for a in self.agents if a not in self.state.pending]

    def legal_moves(self, agent: str) -> list[str] | None:
        return list(LEGAL) if self.state.phase == MOVE else None

    def move_format(self, agent: str) -> str | None:
        return TALK_FORMAT if self.state.phase == TALK else None

    def parse_move(self, agent: str, text: str) -> str | None:
        if self.state.phase == TALK:
            return parse_say(text[:MAX_PARSED_CHARS])
        move = super().parse_move(agent, text)
        return None if move is None else move.strip("[]")

    def apply_move(self, agent: str, move: str) -> None:
        s = self.state
        s.pending[agent] = move
        if len(s.pending) < len(self.agents):
            return
        a, b = (s.pending[x] for x in self.agents)
        s.pending = {}
        if s.phase == TALK:
            s.messages.append((a, b))
            self.log(f'Round {s.round} messages: player_0 says "{a}"; player_1 says "{b}".')
            s.phase = MOVE
            return
        x, y = round_scores(a, b)
        self.scores[self.agents[0]] += x
        self.scores[self.agents[1]] += y
        s.moves.append((a, b))
        self.log(
            f"Round {s.round} moves: player_0 {a}s, player_1 {b}s. "
            f"Points: player_0 {x:g}, player_1 {y:g}."
        )
        s.phase = TALK
        s.round += 1
        if s.round > s.rounds:
            self.over = True

    def rules_text(self, agent: str) -> str:
        return RULES.format(agent=agent, opponent=self.opponent(agent), rounds=self.state.rounds)

    def turn_prompt(self, agent: str) -> str:
        s = self.state
        other = self.opponent(agent)
        if s.phase == TALK:
            return TURN_TALK.format(round=s.round, rounds=s.rounds, opponent=other)
        message = s.messages[-1][1 - self.agents.index(agent)]
        return TURN_MOVE.format(round=s.round, rounds=s.rounds, opponent=other, message=message)

    def view(self, agent: str) -> dict[str, Any]:
        s = self.state
        i = self.agents.index(agent)
        return {
            "round": s.round,
            "rounds": s.rounds,
            "phase": s.phase,
            "my_moves": [m[i] for m in s.moves],
            "opponent_moves": [m[1 - i] for m in s.moves],
            "my_messages": [m[i] for m in s.messages],
            "opponent_messages": [m[1 - i] for m in s.messages],
        }
