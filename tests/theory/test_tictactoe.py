"""Tic-tac-toe theory: the exact game value by full traversal of the `TicTacToe` rules class, and
the minimax bot against itself and against random play."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pytest

from agents.arena import play_episode
from agents.scripted import make_bot
from envs.tictactoe import theory
from envs.tictactoe.rules import EMPTY_BOARD, TicTacToe


@dataclass(frozen=True)
class Node:
    """What the subtree below a board holds: its minimax value for X, and its complete games."""

    value: float
    games: int
    x_wins: int
    o_wins: int
    draws: int


def _solve(game: TicTacToe, memo: dict[tuple[str, ...], Node]) -> Node:
    """Minimax over the real game class: every move is `submit`ted to a copy of `game`."""
    board = game.state.board
    if board in memo:
        return memo[board]
    if game.is_over():
        x = game.scores["player_0"]
        node = Node(x, 1, int(x > 0), int(x < 0), int(x == 0))
    else:
        (agent,) = game.to_act()
        children = []
        for move in game.legal_moves(agent):
            child = copy.deepcopy(game)
            assert child.submit(agent, move).valid
            children.append(_solve(child, memo))
        pick = max if agent == "player_0" else min
        node = Node(
            pick(c.value for c in children),
            sum(c.games for c in children),
            sum(c.x_wins for c in children),
            sum(c.o_wins for c in children),
            sum(c.draws for c in children),
        )
    memo[board] = node
    return node


@pytest.fixture(scope="module")
def solved() -> dict[tuple[str, ...], Node]:
    memo: dict[tuple[str, ...], Node] = {}
    _solve(TicTacToe(seed=0), memo)
    return memo


def test_game_value_is_a_draw_by_full_traversal(solved):
    assert solved[EMPTY_BOARD].value == 0


def test_traversal_reaches_the_known_counts(solved):
    # 5,478 legal positions; 255,168 complete games: 131,184 won by X, 77,904 by O, 46,080 drawn.
    root = solved[EMPTY_BOARD]
    assert len(solved) == 5478
    assert (root.games, root.x_wins, root.o_wins, root.draws) == (255168, 131184, 77904, 46080)


def test_the_bots_solver_agrees_with_the_game_class_on_every_position(solved):
    for board, node in solved.items():
        mover_sign = 1 if board.count("X") == board.count("O") else -1  # X or O to move
        assert np.sign(theory.value(board)) == mover_sign * node.value, board


def test_solver_prefers_faster_wins():
    board = tuple("XX.OO....")  # X wins now on C1
    assert theory.value(board) == 1 + 4  # four cells left empty after C1
    assert theory.best_cells(board) == ["C1"]


def _match(kind_0: str, kind_1: str, seed: int):
    seats = {
        "player_0": make_bot("tictactoe_v0", kind_0, seed=2 * seed),
        "player_1": make_bot("tictactoe_v0", kind_1, seed=2 * seed + 1),
    }
    return play_episode("tictactoe_v0", seats, seed=seed)


def test_minimax_against_itself_always_draws():
    for seed in range(20):
        result = _match("strong", "strong", seed)
        assert result.raw_scores == {"player_0": 0.0, "player_1": 0.0}, result.transcript


def test_minimax_never_loses_to_random_play():
    seeds = range(150)
    as_x = [_match("strong", "random", s).raw_scores["player_0"] for s in seeds]
    as_o = [_match("random", "strong", s).raw_scores["player_1"] for s in seeds]
    assert min(as_x) >= 0 and min(as_o) >= 0
    # Against uniform play X wins about 97% of games and O about 79%.
    assert np.mean(as_x) > 0.9 and np.mean(as_o) > 0.6, (np.mean(as_x), np.mean(as_o))
