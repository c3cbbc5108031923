"""Exact minimax of tic-tac-toe over the rules in `envs.tictactoe.rules` (pure Python).

`value(board)` is the negamax value for the player to move, memoised over the (5,478 reachable)
board states: 0 for a draw; a win is worth 1 + the number of cells still empty when it happens, so
that faster wins (and slower losses) score higher. The game value from the empty board is 0: a draw.
"""

from __future__ import annotations

from functools import cache

from envs.tictactoe.rules import EMPTY, empty_cells, place, winner


@cache
def value(board: tuple[str, ...]) -> int:
    """Negamax value of `board` for the player to move (positive: that player wins)."""
    if winner(board) is not None:  # the player who just moved completed a line
        return -(1 + board.count(EMPTY))
    if EMPTY not in board:
        return 0
    return max(-value(place(board, cell)) for cell in empty_cells(board))


def best_cells(board: tuple[str, ...]) -> list[str]:
    """Every empty cell whose move reaches the best value for the player to move."""
    scored = {cell: -value(place(board, cell)) for cell in empty_cells(board)}
    best = max(scored.values(), default=0)
    return [cell for cell, v in scored.items() if v == best]
