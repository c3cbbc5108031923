"""Pure rules of tic-tac-toe (no PettingZoo).

The board is a tuple of 9 marks ("X", "O" or "." for empty) in the order A1, B1, C1, A2, ..., C3:
columns A-C from left to right, rows 1-3 from top to bottom. X (player_0) moves first.
The pure functions below (`winner`, `empty_cells`, `to_move`, `place`) are the rules `TicTacToe`
plays by, so theory code and the minimax bot search exactly the game the env runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from envs.core.game import Game

COLUMNS = "ABC"
ROWS = "123"
CELLS = tuple(f"{c}{r}" for r in ROWS for c in COLUMNS)  # A1, B1, C1, A2, ...
INDEX = {cell: i for i, cell in enumerate(CELLS)}
EMPTY = "."
MARKS = ("X", "O")
EMPTY_BOARD: tuple[str, ...] = (EMPTY,) * 9
LINES = (
    (0, 1, 2), (3, 4, 5), (6, 7, 8),  # rows
    (0, 3, 6), (1, 4, 7), (2, 5, 8),  # columns
    (0, 4, 8), (2, 4, 6),  # diagonals
)  # fmt: skip

RULES = (
    "You are {agent} and play {mark}; {opponent} plays {other}. X moves first. Tic-tac-toe is "
    "played on a 3x3 board: columns A, B, C from left to right, rows 1, 2, 3 from top to bottom, "
    "so A1 is the top-left cell and C3 the bottom-right. Players take turns putting their mark in "
    "an empty cell. Three of your marks in a row, column or diagonal wins: the winner scores +1, "
    "the loser -1. A full board without a line is a draw (0).\n"
    "Answer with one empty cell in brackets, column letter then row number, for example [B2]."
)
TURN = (
    "You play {mark}. The board (. is empty):\n{board}\n"
    "Empty cells: {empty}. Your move, for example [{example}]?"
)


# ---------------------------------------------------------------------- pure rules
def winner(board: tuple[str, ...]) -> str | None:
    """The mark ("X" or "O") with three in a line, else None."""
    for a, b, c in LINES:
        if board[a] != EMPTY and board[a] == board[b] == board[c]:
            return board[a]
    return None


def empty_cells(board: tuple[str, ...]) -> list[str]:
    return [CELLS[i] for i, mark in enumerate(board) if mark == EMPTY]


def is_final(board: tuple[str, ...]) -> bool:
    """A line is complete or the board is full."""
    return winner(board) is not None or EMPTY not in board


def to_move(board: tuple[str, ...]) -> str:
    """The mark to play next: X when both have played as often, else O."""
    return "X" if board.count("X") == board.count("O") else "O"


def place(board: tuple[str, ...], cell: str) -> tuple[str, ...]:
    """The board after the player to move puts its mark on the empty `cell`."""
    i = INDEX[cell]
    if board[i] != EMPTY:
        raise ValueError(f"cell {cell} is not empty")
    return (*board[:i], to_move(board), *board[i + 1 :])


def render(board: tuple[str, ...]) -> str:
    """The board as text: a header of column letters, then one line per row."""
    lines = ["   " + " ".join(COLUMNS)]
    lines += [f"{r}  " + " ".join(board[3 * k : 3 * k + 3]) for k, r in enumerate(ROWS)]
    return "\n".join(lines)


# ---------------------------------------------------------------------- the game
@dataclass
class TicTacToeState:
    board: tuple[str, ...] = EMPTY_BOARD
    moves: list[str] = field(default_factory=list)  # cells in the order played


class TicTacToe(Game):
    title: ClassVar[str] = "tic-tac-toe"
    payoffs: ClassVar[tuple[str, ...]] = ("competitive",)
    default_max_cycles: ClassVar[int] = 40  # 9 moves at most, each with up to 3 tries

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(["player_0", "player_1"], seed, **kwargs)
        self.state = TicTacToeState()

    def mark(self, agent: str) -> str:
        return MARKS[self.agents.index(agent)]

    def opponent(self, agent: str) -> str:
        return self.agents[1 - self.agents.index(agent)]

    def to_act(self) -> list[str]:
        if self.over:
            return []
        return [self.agents[MARKS.index(to_move(self.state.board))]]

    def legal_moves(self, agent: str) -> list[str]:
        if self.over:
            return []
        return [f"[{cell}]" for cell in empty_cells(self.state.board)]

    def parse_move(self, agent: str, text: str) -> str | None:
        move = super().parse_move(agent, text)
        return None if move is None else move.strip("[]")

    def apply_move(self, agent: str, move: str) -> None:
        s = self.state
        s.board = place(s.board, move)
        s.moves.append(move)
        self.log(f"{agent} ({self.mark(agent)}) plays {move}.")
        won = winner(s.board)
        if won is not None:
            self.scores[agent] += 1
            self.scores[self.opponent(agent)] -= 1
            self.log(f"{agent} ({won}) completes a line and wins.\n{render(s.board)}")
            self.over = True
        elif EMPTY not in s.board:
            self.log(f"The board is full: a draw.\n{render(s.board)}")
            self.over = True

    def rules_text(self, agent: str) -> str:
        other = self.opponent(agent)
        return RULES.format(
            agent=agent, mark=self.mark(agent), opponent=other, other=self.mark(other)
        )

    def turn_prompt(self, agent: str) -> str:
        empty = empty_cells(self.state.board)
        return TURN.format(
            mark=self.mark(agent),
            board=render(self.state.board),
            empty=", ".join(empty),
            example=empty[0] if empty else "B2",
        )

    def view(self, agent: str) -> dict[str, Any]:
        board = self.state.board
        return {
            "mark": self.mark(agent),
            "board": dict(zip(CELLS, board, strict=True)),
            "moves": list(self.state.moves),
            "winner": winner(board),
        }

    def on_forfeit(self, agent: str) -> None:
        # Forfeiting loses the game.
        self.scores[agent] -= 1
        self.scores[self.opponent(agent)] += 1
        self.over = True
