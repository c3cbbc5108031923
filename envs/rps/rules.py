"""Pure rules of iterated rock-paper-scissors (no PettingZoo)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from envs.core.game import Game

MOVES = ("rock", "paper", "scissors")
LEGAL = [f"[{m}]" for m in MOVES]
BEATS = {"rock": "scissors", "paper": "rock", "scissors": "paper"}

RULES = (
    "You play rock-paper-scissors against {opponent} for {rounds} rounds. Both players move at the "
    "same time. Rock beats scissors, scissors beats paper, paper beats rock. Each round you win "
    "scores +1, each round you lose scores -1, a tie scores 0.\n"
    "Answer with exactly one move in brackets: [rock], [paper] or [scissors]."
)
TURN = "Round {round} of {rounds}. Your move: [rock], [paper] or [scissors]?"


def round_score(mine: str, theirs: str) -> int:
    """+1 if `mine` beats `theirs`, -1 if it loses, 0 on a tie."""
    if mine == theirs:
        return 0
    return 1 if BEATS[mine] == theirs else -1


@dataclass
class RPSState:
    rounds: int
    round: int = 1
    pending: dict[str, str] = field(default_factory=dict)  # moves submitted this round
    history: list[tuple[str, str]] = field(default_factory=list)  # (player_0, player_1) per round


class RockPaperScissors(Game):
    title: ClassVar[str] = "rock-paper-scissors"
    payoffs: ClassVar[tuple[str, ...]] = ("competitive",)

    def __init__(self, seed: int | None = None, *, rounds: int = 5, **kwargs: Any) -> None:
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        super().__init__(["player_0", "player_1"], seed, **kwargs)
        self.state = RPSState(rounds=rounds)

    def opponent(self, agent: str) -> str:
        return self.agents[1 - self.agents.index(agent)]

    def to_act(self) -> list[str]:
        if self.over:
            return []
        return [a for a in self.agents if a not in self.state.pending]

    def legal_moves(self, agent: str) -> list[str]:
        return list(LEGAL)

    def parse_move(self, agent: str, text: str) -> str | None:
        move = super().parse_move(agent, text)
        return None if move is None else move.strip("[]")

    def apply_move(self, agent: str, move: str) -> None:
        s = self.state
        s.pending[agent] = move
        if len(s.pending) < len(self.agents):
            return
        a, b = (s.pending[x] for x in self.agents)
        score = round_score(a, b)
        self.scores[self.agents[0]] += score
        self.scores[self.agents[1]] -= score
        outcome = "a tie" if score == 0 else f"{self.agents[0 if score > 0 else 1]} wins"
        self.log(f"Round {s.round}: player_0 played {a}, player_1 played {b}: {outcome}.")
        s.history.append((a, b))
        s.pending.clear()
        s.round += 1
        if s.round > s.rounds:
            self.over = True

    def rules_text(self, agent: str) -> str:
        return f"You are {agent}. " + RULES.format(
            opponent=self.opponent(agent), rounds=self.state.rounds
        )

    def turn_prompt(self, agent: str) -> str:
        return TURN.format(round=self.state.round, rounds=self.state.rounds)

    def view(self, agent: str) -> dict[str, Any]:
        i = self.agents.index(agent)
        return {
            "round": self.state.round,
            "rounds": self.state.rounds,
            "my_history": [h[i] for h in self.state.history],
            "opponent_history": [h[1 - i] for h in self.state.history],
        }

    def on_forfeit(self, agent: str) -> None:
        # Forfeiting loses every round not yet played.
        left = self.state.rounds - self.state.round + 1
        self.scores[agent] -= left
        self.scores[self.opponent(agent)] += left
        self.over = True
