"""Pure rules of the public goods game with a talk phase (no PettingZoo).

Each round every player receives an endowment E. The players first talk (one message each,
revealed together), then contribute 0..E coins each (revealed together). The pot is multiplied by
r and shared equally. Raw score per round = (E - own contribution + r * pot / n) / E: 1 when
nobody contributes, r when everybody contributes everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from envs.core.formats import say_format
from envs.core.game import FORFEIT_PENALTY, Game

TALK, CONTRIBUTE = "talk", "contribute"
MAX_MESSAGE_CHARS = 200

SAY = re.compile(r"\[\s*say\b\s*:?([^\[\]\n]*)\]", re.IGNORECASE)
_SPACES = re.compile(r"\s+")

RULES = (
    "You are {agent}, one of {n} players ({names}) in a public goods game of {rounds} rounds. "
    "Each round every player gets {e} coins and chooses how many to put into a shared pot. The pot "
    "is multiplied by {r:g} and split equally among all {n} players; you keep the coins you do not "
    "put in. Your score each round is your coins after the split divided by {e}.\n"
    "Each round has two steps. Talk: send one short message to everyone with [say your message]. "
    "Contribute: put N coins in the pot with [contribute N], N a whole number from 0 to {e}. "
    "Messages and contributions are shown when everyone has chosen.\n"
    "Example: [say Hi all, I will put in {half}.] then [contribute {half}]"
)
TURN_TALK = "Round {round} of {rounds}, talk step. Send one message: [say your message]"
TURN_CONTRIBUTE = (
    "Round {round} of {rounds}, contribute step. You have {e} coins. "
    "How many do you put in the pot? Answer [contribute N] with N from 0 to {e}."
)


def round_scores(
    contributions: dict[str, int], endowment: int, multiplier: float
) -> dict[str, float]:
    """Raw score of every player for one round: (E - c_i + r * sum(c) / n) / E."""
    share = multiplier * sum(contributions.values()) / len(contributions)
    return {a: (endowment - c + share) / endowment for a, c in contributions.items()}


def parse_say(text: str) -> str | None:
    """The first non-empty `[say ...]` message in `text` (spaces collapsed, cut to 200 chars)."""
    for match in SAY.finditer(text):
        message = _SPACES.sub(" ", match.group(1)).strip()
        if message:
            return message[:MAX_MESSAGE_CHARS]
    return None


@dataclass
class RoundRecord:
    messages: dict[str, str]
    contributions: dict[str, int]


@dataclass
class PublicGoodsState:
    rounds: int
    round: int = 1
    phase: str = TALK
    pending: dict[str, Any] = field(default_factory=dict)  # moves submitted in this phase
    messages: dict[str, str] = field(default_factory=dict)  # this round's revealed messages
    history: list[RoundRecord] = field(default_factory=list)


class PublicGoods(Game):
    title: ClassVar[str] = "public goods"
    payoffs: ClassVar[tuple[str, ...]] = ("mixed", "cooperative")
    # 2 phases a round, up to max_invalid (3) cycles each: enough for 30 rounds.
    default_max_cycles: ClassVar[int] = 200

    def __init__(
        self,
        seed: int | None = None,
        *,
        num_players: int = 4,
        rounds: int = 3,
        endowment: int = 10,
        multiplier: float = 1.6,
        **kwargs: Any,
    ) -> None:
        if not 3 <= num_players <= 6:
            raise ValueError(f"num_players must be in 3..6, got {num_players}")
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        if int(endowment) != endowment or not 1 <= endowment <= 100:
            raise ValueError(f"endowment must be a whole number in 1..100, got {endowment}")
        if not 1.0 < multiplier < num_players:
            raise ValueError(
                f"multiplier must satisfy 1 < multiplier < num_players ({num_players}), "
                f"got {multiplier}: otherwise contributing is not a social dilemma"
            )
        super().__init__([f"player_{i}" for i in range(num_players)], seed, **kwargs)
        self.endowment = int(endowment)
        self.multiplier = float(multiplier)
        self.state = PublicGoodsState(rounds=rounds)

    # ------------------------------------------------------------------ moves
    def to_act(self) -> list[str]:
        if self.over:
            return []
        return [a for a in self.agents if a not in self.state.pending]

    def legal_moves(self, agent: str) -> list[str] | None:
        if self.state.phase == TALK:
            return None
        return [f"[contribute {n}]" for n in range(self.endowment + 1)]

    def move_format(self, agent: str) -> str | None:
        """Talk: a `[say ...]` of at most 48 plain characters (contribute lists its moves)."""
        return say_format() if self.state.phase == TALK else None

    def parse_move(self, agent: str, text: str) -> str | int | None:
        if self.state.phase == TALK:
            return parse_say(text)
        move = super().parse_move(agent, text)
        return None if move is None else int(move.strip("[]").split()[1])

    def apply_move(self, agent: str, move: str | int) -> None:
        s = self.state
        s.pending[agent] = move
        if len(s.pending) < len(self.agents):
            return
        if s.phase == TALK:
            self._reveal_messages()
        else:
            self._settle_round()

    def _reveal_messages(self) -> None:
        s = self.state
        s.messages = {a: str(s.pending[a]) for a in self.agents}
        for a in self.agents:
            self.log(f"Round {s.round}, {a} says: {s.messages[a]}")
        s.pending = {}
        s.phase = CONTRIBUTE

    def _settle_round(self) -> None:
        s = self.state
        contributions = {a: int(s.pending[a]) for a in self.agents}
        for a, score in round_scores(contributions, self.endowment, self.multiplier).items():
            self.scores[a] += score
        pot = sum(contributions.values())
        share = self.multiplier * pot / len(self.agents)
        put = ", ".join(f"{a} {c}" for a, c in contributions.items())
        kept = ", ".join(f"{a} {self.endowment - c + share:.3g}" for a, c in contributions.items())
        self.log(
            f"Round {s.round} contributions: {put}. Pot {pot} x {self.multiplier:g} = "
            f"{self.multiplier * pot:.3g}, each gets {share:.3g}. Coins now: {kept}."
        )
        s.history.append(RoundRecord(dict(s.messages), contributions))
        s.pending, s.messages = {}, {}
        s.phase = TALK
        s.round += 1
        if s.round > s.rounds:
            self.over = True

    def on_forfeit(self, agent: str) -> None:
        # The forfeiter is out: it loses a point and gets nothing for the rounds left; the others
        # keep their endowment for those rounds (score 1 each, as if nobody contributed).
        left = self.state.rounds - self.state.round + 1
        for a in self.agents:
            if a != agent:
                self.scores[a] += left
        self.scores[agent] -= FORFEIT_PENALTY
        self.log(f"The game ends; the other players keep their coins for the {left} round(s) left.")
        self.over = True

    # ------------------------------------------------------------------ text
    def rules_text(self, agent: str) -> str:
        return RULES.format(
            agent=agent,
            n=len(self.agents),
            names=", ".join(self.agents),
            rounds=self.state.rounds,
            e=self.endowment,
            half=self.endowment // 2,
            r=self.multiplier,
        )

    def turn_prompt(self, agent: str) -> str:
        s = self.state
        template = TURN_TALK if s.phase == TALK else TURN_CONTRIBUTE
        return template.format(round=s.round, rounds=s.rounds, e=self.endowment)

    def view(self, agent: str) -> dict[str, Any]:
        s = self.state
        return {
            "round": s.round,
            "rounds": s.rounds,
            "phase": "over" if self.over else s.phase,
            "num_players": len(self.agents),
            "endowment": self.endowment,
            "multiplier": self.multiplier,
            "messages": dict(s.messages),
            "history": [
                {"messages": dict(r.messages), "contributions": dict(r.contributions)}
                for r in s.history
            ],
        }
