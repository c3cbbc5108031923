"""Pure rules of Kuhn poker, exactly as OpenSpiel's `kuhn_poker` (no PettingZoo).

Game type: two players, zero-sum, imperfect information, one chance node (the deal).

The deck is J < Q < K. Each player antes 1 chip and is dealt one card; the third card is unused.
player_0 acts first. With no bet pending a player may check or bet 1 chip; facing a bet, call or
fold.

Histories are strings over three letters (the ACPC convention):
    c = check (no bet pending) or call (facing a bet), b = bet, f = fold.
The non-terminal histories are "", "c", "b", "cb"; the terminal ones "cc", "bc", "bf", "cbc", "cbf".
The functions below are the information-set structure that `KuhnPoker` itself plays by, so theory
code (`envs.kuhn_poker.theory`) traverses exactly the game the env runs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, ClassVar

from envs.core.game import Game

CARDS = ("J", "Q", "K")
RANK = {card: i for i, card in enumerate(CARDS)}
ANTE = 1
BET = 1

#: Action names and their history letters. "check" and "call" share "c" (which one is clear from
#: whether a bet is pending).
LETTER = {"check": "c", "call": "c", "bet": "b", "fold": "f"}
TERMINAL = ("cc", "bc", "bf", "cbc", "cbf")
_ACTIONS = {
    "": ("check", "bet"),
    "c": ("check", "bet"),
    "b": ("call", "fold"),
    "cb": ("call", "fold"),
}

RULES = (
    "You are {agent} playing Kuhn poker against {opponent}. The deck has three cards: J < Q < K. "
    "Each player puts 1 chip in the pot and gets one card; the third card is not used. player_0 "
    "acts first. With no bet pending you may [check] or [bet] (add 1 chip). Facing a bet you may "
    "[call] (add 1 chip) or [fold] (give up the pot). If both check, or a bet is called, the "
    "higher card wins the pot. Your score is the chips you win or lose (+1, +2, -1 or -2).\n"
    "Your card: {card}.\n"
    "Answer with exactly one move in brackets, for example [check]."
)
# The card sits right before the choice: the decision hangs on it, and a small model reads a fact
# beside the question far better than one a sentence earlier (learned in isolation:
# `benchmarks/decision_learning.py --task kuhn_card`).
TURN_OPEN = "No bet yet; the pot is {pot} chips. You hold the {card}: [check] or [bet]?"
TURN_AFTER_CHECK = (
    "{opponent} checked; the pot is {pot} chips. You hold the {card}: [check] or [bet]?"
)
TURN_FACING_BET = (
    "{opponent} bet 1 chip; the pot is {pot} chips. You hold the {card}: [call] or [fold]?"
)


# ---------------------------------------------------------------------- information-set structure
def deals() -> list[tuple[str, str]]:
    """The 6 equally likely deals (player_0's card, player_1's card)."""
    return list(itertools.permutations(CARDS, 2))


def is_terminal(history: str) -> bool:
    return history in TERMINAL


def player_to_act(history: str) -> int:
    """0 or 1: whose move it is after `history` (a non-terminal history)."""
    return len(history) % 2


def legal_actions(history: str) -> tuple[str, ...]:
    """Action names after `history`: ("check", "bet") or ("call", "fold"); () when terminal."""
    if is_terminal(history):
        return ()
    if history not in _ACTIONS:
        raise ValueError(f"not a Kuhn poker history: {history!r}")
    return _ACTIONS[history]


def contributions(history: str) -> tuple[int, int]:
    """Chips each player has put in the pot after `history` (antes included)."""
    chips = [ANTE, ANTE]
    for i, letter in enumerate(history):
        if letter == "b" or (letter == "c" and history[:i].endswith("b")):
            chips[i % 2] += BET
    return chips[0], chips[1]


def returns(cards: tuple[str, str], history: str) -> tuple[int, int]:
    """Net chips (player_0, player_1) at a terminal history; zero-sum."""
    if not is_terminal(history):
        raise ValueError(f"history {history!r} is not terminal")
    chips = contributions(history)
    if history.endswith("f"):
        loser = (len(history) - 1) % 2  # the player who folded
    else:
        loser = 0 if RANK[cards[0]] < RANK[cards[1]] else 1
    won = chips[loser]
    return (-won, won) if loser == 0 else (won, -won)


def info_set(card: str, history: str) -> str:
    """The documented info-set key: the acting player's card, a colon, the history ("K:cb")."""
    return f"{card}:{history}"


def _chips(n: int) -> str:
    return "1 chip" if n == 1 else f"{n} chips"


# ---------------------------------------------------------------------- the game
@dataclass
class KuhnState:
    cards: tuple[str, str]
    history: str = ""


class KuhnPoker(Game):
    title: ClassVar[str] = "Kuhn poker"
    payoffs: ClassVar[tuple[str, ...]] = ("competitive",)
    default_max_cycles: ClassVar[int] = 20  # 3 moves at most, each with up to 3 tries

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(["player_0", "player_1"], seed, **kwargs)
        all_deals = deals()
        self.state = KuhnState(cards=all_deals[int(self.rng.integers(len(all_deals)))])
        for agent, card in zip(self.agents, self.state.cards, strict=True):
            self.log(f"{agent} is dealt {card}.", visible_to=[agent])

    def opponent(self, agent: str) -> str:
        return self.agents[1 - self.agents.index(agent)]

    def card(self, agent: str) -> str:
        return self.state.cards[self.agents.index(agent)]

    def to_act(self) -> list[str]:
        if self.over:
            return []
        return [self.agents[player_to_act(self.state.history)]]

    def legal_moves(self, agent: str) -> list[str]:
        if self.over:
            return []
        return [f"[{a}]" for a in legal_actions(self.state.history)]

    def parse_move(self, agent: str, text: str) -> str | None:
        move = super().parse_move(agent, text)
        return None if move is None else move.strip("[]")

    def apply_move(self, agent: str, move: str) -> None:
        s = self.state
        s.history += LETTER[move]
        verb = {"check": "checks", "bet": "bets 1 chip", "call": "calls", "fold": "folds"}[move]
        self.log(f"{agent} {verb}.")
        if is_terminal(s.history):
            self._settle(returns(s.cards, s.history))

    def _settle(self, chips: tuple[int, int]) -> None:
        p0, p1 = self.agents
        self.scores[p0] += chips[0]
        self.scores[p1] += chips[1]
        winner = p0 if chips[0] > 0 else p1
        won = _chips(abs(chips[0]))
        if self.state.history.endswith("f"):
            self.log(f"{winner} wins {won} without a showdown.")
        else:
            c0, c1 = self.state.cards
            self.log(f"Showdown: {p0} has {c0}, {p1} has {c1}. {winner} wins {won}.")
        self.over = True

    def rules_text(self, agent: str) -> str:
        return RULES.format(agent=agent, opponent=self.opponent(agent), card=self.card(agent))

    def turn_prompt(self, agent: str) -> str:
        history = self.state.history
        fields = {
            "card": self.card(agent),
            "opponent": self.opponent(agent),
            "pot": sum(contributions(history)),
        }
        if history.endswith("b"):
            return TURN_FACING_BET.format(**fields)
        return (TURN_AFTER_CHECK if history == "c" else TURN_OPEN).format(**fields)

    def view(self, agent: str) -> dict[str, Any]:
        history = self.state.history
        showdown = is_terminal(history) and not history.endswith("f")
        return {
            "card": self.card(agent),
            "opponent_card": self.card(self.opponent(agent)) if showdown else None,
            "position": self.agents.index(agent),
            "history": history,
            "info_set": None if self.over else info_set(self.card(agent), history),
            "pot": sum(contributions(history)),
        }

    def on_forfeit(self, agent: str) -> None:
        # A forfeit is a fold, whether or not a bet is pending: the forfeiter loses what it has put
        # in the pot, which is always its 1-chip ante (a player who has bet never acts again).
        me = self.agents.index(agent)
        lost = contributions(self.state.history)[me]
        self.scores[agent] -= lost
        self.scores[self.opponent(agent)] += lost
        self.log(f"{agent}'s forfeit counts as a fold: {self.opponent(agent)} wins {_chips(lost)}.")
        self.over = True
