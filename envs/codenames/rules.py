"""Pure rules of Codenames for two teams of two (no PettingZoo)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from envs.codenames.words import clashes, word_list
from envs.core.formats import number_format, word_format
from envs.core.game import Game, team_of
from envs.core.parsing import match_legal

TEAMS = ("red", "blue")
NEUTRAL, ASSASSIN = "neutral", "assassin"
MIN_BOARD, MAX_BOARD = 6, 25
CLUE_CHARS = (2, 20)

RULES = (
    "You are {agent}, the {team} {role} in Codenames: red (red_0 spymaster, red_1 guesser) against "
    "blue (blue_0 spymaster, blue_1 guesser). Board: {board}.\n"
    "A secret key gives each word a colour: red, blue, neutral, or the assassin. Only spymasters "
    "see it. Teams take turns; {first} starts and has {first_count} words, the other team "
    "{second_count}. Each turn the spymaster gives a one-word clue and a number, then the guesser "
    "guesses board words one at a time, up to number + 1 guesses. A word of another colour ends "
    "the turn (an opponent word counts for them); the assassin loses the game at once. The first "
    "team to find all its words wins. "
    "After {max_turns} turns in all, the team that found more words wins (equal = draw). "
    "Win +1, loss -1.\n"
    "{grammar}"
)
GRAMMAR_SPYMASTER = (
    "The clue must not be a board word, nor start like one. Reply like [clue animal 2] (a clue "
    "word and how many of your words it is about).\n"
    "The key: red: {red}. blue: {blue}. neutral: {neutral}. assassin: {assassin}."
)
GRAMMAR_GUESSER = (
    "Reply like [guess apple] with an unrevealed board word, or [pass] to end the turn once you "
    "have made at least one guess."
)
TURN_SPYMASTER = (
    "Turn {turn} of {max_turns}. Your words left: {own}. Avoid {other}: {theirs}; the assassin: "
    "{assassin}. Give your clue: [clue <word> <number>]"
)
TURN_GUESSER = (
    "Turn {turn} of {max_turns}. Your spymaster's clue: {clue} {number}. Guesses left: {left}. "
    "Unrevealed words: {unrevealed}. Reply [guess <word>]{pass_hint}."
)

_CLUE = re.compile(
    r"\[\s*clue(?:\s*:\s*|\s+)([a-z]+)(?:\s*[,:]\s*|\s+)([0-9]{1,3})\s*\]", re.IGNORECASE
)


def colour_counts(board_size: int) -> tuple[int, int, int]:
    """Words of the starting team, of the other team, and neutral words (plus one assassin).

    The classic 25-word board gives 9, 8 and 7; smaller boards keep the proportions."""
    second = (board_size - 1) // 3
    first = second + 1
    return first, second, board_size - 1 - first - second


def make_key(
    rng: np.random.Generator, words: Sequence[str], board_size: int, first: str
) -> tuple[list[str], dict[str, str]]:
    """A board (distinct words, in board order) and its key (word -> colour)."""
    picks = rng.choice(len(words), size=board_size, replace=False)
    board = [words[int(i)] for i in picks]
    second = TEAMS[1 - TEAMS.index(first)]
    n_first, n_second, n_neutral = colour_counts(board_size)
    colours = [first] * n_first + [second] * n_second + [NEUTRAL] * n_neutral + [ASSASSIN]
    order = rng.permutation(board_size)
    return board, {board[int(i)]: colours[k] for k, i in enumerate(order)}


def parse_clue(text: str) -> tuple[str, int] | None:
    """The one `[clue <word> <n>]` in `text` (word lowercased), or None if none or two different."""
    found = {(w.lower(), int(n)) for w, n in _CLUE.findall(text)}
    return found.pop() if len(found) == 1 else None


@dataclass
class CodenamesState:
    board: list[str]
    key: dict[str, str]
    first: str
    max_turns: int
    team: str  # team to play
    turn: int = 1  # team turns, counted over both teams
    phase: str = "clue"  # "clue" or "guess"
    clue: tuple[str, int] | None = None
    guesses: int = 0  # guesses made this turn
    revealed: dict[str, str] = field(default_factory=dict)  # word -> colour, in reveal order
    clues: list[tuple[str, str, int]] = field(default_factory=list)  # (team, word, n)
    winner: str | None = None  # "red", "blue" or "draw" once over

    def words_of(self, colour: str) -> list[str]:
        return [w for w in self.board if self.key[w] == colour]

    def left(self, colour: str) -> list[str]:
        return [w for w in self.words_of(colour) if w not in self.revealed]

    def unrevealed(self) -> list[str]:
        return [w for w in self.board if w not in self.revealed]


class Codenames(Game):
    title: ClassVar[str] = "codenames"
    payoffs: ClassVar[tuple[str, ...]] = ("team_battle",)
    # Valid moves <= 2 * max_turns + board_size (a guess reveals a word): 28 by default, x3 tries.
    default_max_cycles: ClassVar[int] = 300

    def __init__(
        self, seed: int | None = None, *, board_size: int = 12, max_turns: int = 8, **kwargs: Any
    ) -> None:
        if not MIN_BOARD <= board_size <= MAX_BOARD:
            raise ValueError(f"board_size must be in [{MIN_BOARD}, {MAX_BOARD}], got {board_size}")
        if max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {max_turns}")
        super().__init__(["red_0", "red_1", "blue_0", "blue_1"], seed, **kwargs)
        first = TEAMS[int(self.rng.integers(2))]
        board, key = make_key(self.rng, word_list(), board_size, first)
        self.state = CodenamesState(board, key, first, max_turns, team=first)
        self.log(f"Codenames. Board: {', '.join(board)}. {first} starts.")
        self._announce_turn()

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def other(team: str) -> str:
        return TEAMS[1 - TEAMS.index(team)]

    @staticmethod
    def is_spymaster(agent: str) -> bool:
        return agent.endswith("_0")

    def _announce_turn(self) -> None:
        s = self.state
        self.log(f"Turn {s.turn} of {s.max_turns}: {s.team} to play.")

    def _finish(self, winner: str, reason: str) -> None:
        s = self.state
        s.winner = winner
        if winner != "draw":
            for agent in self.agents:
                self.scores[agent] += 1.0 if team_of(agent) == winner else -1.0
        self.log(f"{reason} {'Draw.' if winner == 'draw' else f'{winner} wins.'}")
        self.over = True

    def _end_turn(self) -> None:
        s = self.state
        if s.turn >= s.max_turns:
            found = {t: len(s.words_of(t)) - len(s.left(t)) for t in TEAMS}
            best = max(found.values())
            leaders = [t for t in TEAMS if found[t] == best]
            winner = leaders[0] if len(leaders) == 1 else "draw"
            self._finish(winner, f"Turn limit: red found {found['red']}, blue {found['blue']}.")
            return
        s.turn += 1
        s.team = self.other(s.team)
        s.phase, s.clue, s.guesses = "clue", None, 0
        self._announce_turn()

    # ------------------------------------------------------------------ Game hooks
    def to_act(self) -> list[str]:
        if self.over:
            return []
        s = self.state
        return [f"{s.team}_{0 if s.phase == 'clue' else 1}"]

    def legal_moves(self, agent: str) -> list[str] | None:
        if self.is_spymaster(agent):
            return None
        moves = [f"[guess {w}]" for w in self.state.unrevealed()]
        return [*moves, "[pass]"] if self.state.guesses > 0 else moves

    def move_format(self, agent: str) -> str | None:
        """The spymaster's clue: `[clue <word> <number>]`, a word of `CLUE_CHARS` lower-case
        letters and a number from 1 to the board size (a word that clashes with the board is
        still refused)."""
        if not self.is_spymaster(agent):
            return None
        word, number = word_format(*CLUE_CHARS), number_format(1, len(self.state.board))
        return rf"\[clue {word} {number}\]"

    def parse_move(self, agent: str, text: str) -> tuple[str, ...] | None:
        if self.is_spymaster(agent):
            clue = parse_clue(text)
            if clue is None or not self.clue_is_legal(*clue):
                return None
            return ("clue", clue[0], str(clue[1]))
        move = match_legal(text, self.legal_moves(agent) or [])
        if move is None:
            return None
        return ("pass",) if move == "[pass]" else ("guess", move[len("[guess ") : -1])

    def clue_is_legal(self, word: str, number: int) -> bool:
        low, high = CLUE_CHARS
        return (
            low <= len(word) <= high
            and word.isascii()
            and word.isalpha()
            and not clashes(word, self.state.board)
            and 1 <= number <= len(self.state.board)
        )

    def apply_move(self, agent: str, move: tuple[str, ...]) -> None:
        s = self.state
        if move[0] == "clue":
            word, number = move[1], int(move[2])
            s.clue, s.phase = (word, number), "guess"
            s.clues.append((s.team, word, number))
            self.log(f"{agent} ({s.team} spymaster) clues: {word} {number}.")
        elif move[0] == "pass":
            self.log(f"{agent} passes.")
            self._end_turn()
        else:
            self._guess(agent, move[1])

    def _guess(self, agent: str, word: str) -> None:
        s = self.state
        colour = s.key[word]
        s.revealed[word] = colour
        s.guesses += 1
        shown = "the assassin" if colour == ASSASSIN else f"a {colour} word"
        self.log(f"{agent} guesses {word}: {shown}.")
        if colour == ASSASSIN:
            self._finish(self.other(s.team), f"{s.team} found the assassin.")
            return
        for team in TEAMS:
            if not s.left(team):
                self._finish(team, f"All {team} words are found.")
                return
        assert s.clue is not None
        if colour != s.team or s.guesses > s.clue[1]:
            self._end_turn()

    def on_forfeit(self, agent: str) -> None:
        self._finish(self.other(team_of(agent)), f"{team_of(agent)} forfeits.")

    # ------------------------------------------------------------------ prompts and views
    def rules_text(self, agent: str) -> str:
        s = self.state
        team = team_of(agent)
        first_count, second_count, _ = colour_counts(len(s.board))
        if self.is_spymaster(agent):
            grammar = GRAMMAR_SPYMASTER.format(
                **{c: ", ".join(s.words_of(c)) for c in (*TEAMS, NEUTRAL, ASSASSIN)}
            )
        else:
            grammar = GRAMMAR_GUESSER
        return RULES.format(
            agent=agent,
            team=team,
            role="spymaster" if self.is_spymaster(agent) else "guesser",
            board=", ".join(s.board),
            first=s.first,
            first_count=first_count,
            second_count=second_count,
            max_turns=s.max_turns,
            grammar=grammar,
        )

    def turn_prompt(self, agent: str) -> str:
        s = self.state
        team = team_of(agent)
        if self.is_spymaster(agent):
            return TURN_SPYMASTER.format(
                turn=s.turn,
                max_turns=s.max_turns,
                own=", ".join(s.left(team)),
                other=self.other(team),
                theirs=", ".join(s.left(self.other(team))),
                assassin=", ".join(s.left(ASSASSIN)),
            )
        word, number = s.clue or ("?", 0)
        return TURN_GUESSER.format(
            turn=s.turn,
            max_turns=s.max_turns,
            clue=word,
            number=number,
            left=number + 1 - s.guesses,
            unrevealed=", ".join(s.unrevealed()),
            pass_hint=" or [pass]" if s.guesses > 0 else "",
        )

    def view(self, agent: str) -> dict[str, Any]:
        s = self.state
        team = team_of(agent)
        facts: dict[str, Any] = {
            "team": team,
            "role": "spymaster" if self.is_spymaster(agent) else "guesser",
            "board": list(s.board),
            "revealed": dict(s.revealed),
            "first": s.first,
            "turn": s.turn,
            "max_turns": s.max_turns,
            "playing": s.team,
            "phase": s.phase,
            "clue": None if s.clue is None else {"word": s.clue[0], "number": s.clue[1]},
            "guesses_made": s.guesses,
            "guesses_left": 0 if s.clue is None else s.clue[1] + 1 - s.guesses,
            "words_left": {t: len(s.left(t)) for t in TEAMS},
            "clues": [{"team": t, "word": w, "number": n} for t, w, n in s.clues],
            "winner": s.winner,
        }
        if self.is_spymaster(agent):
            facts["key"] = dict(s.key)
        return facts
