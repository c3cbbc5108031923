"""Bots for tictactoe_v0."""

from __future__ import annotations

from typing import ClassVar

from agents.policy import ActRequest
from agents.scripted.base import RandomBot, ScriptedBot
from envs.tictactoe.rules import CELLS, EMPTY, MARKS, is_final
from envs.tictactoe.theory import best_cells


class MinimaxBot(ScriptedBot):
    """Exact minimax: never loses, wins as fast as it can; random among equally good moves."""

    kind: ClassVar[str] = "strong"

    def choose(self, request: ActRequest) -> str:
        legal = list(request.info.get("legal_moves") or [])
        board = _board(request.info.get("view") or {})
        good = legal
        if board is not None and not is_final(board):
            good = [m for m in (f"[{c}]" for c in best_cells(board)) if m in legal] or legal
        return str(good[self.rng.integers(len(good))]) if good else "[B2]"


def _board(view: dict) -> tuple[str, ...] | None:
    """The board tuple from `view["board"]`, or None when the view does not hold a sane board."""
    cells = view.get("board")
    if not isinstance(cells, dict):
        return None
    board = tuple(str(cells.get(c, EMPTY)) for c in CELLS)
    if any(m not in (*MARKS, EMPTY) for m in board):
        return None
    x, o = board.count("X"), board.count("O")
    return board if x - o in (0, 1) else None


BOTS = {"random": RandomBot, "strong": MinimaxBot, "minimax": MinimaxBot}
