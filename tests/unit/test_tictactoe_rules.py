"""Tic-tac-toe rules, move parser, scoring and forfeit."""

from __future__ import annotations

import pytest

from agents.policy import ActRequest
from agents.scripted import make_bot
from envs.tictactoe.rules import (
    CELLS,
    EMPTY_BOARD,
    INDEX,
    TicTacToe,
    empty_cells,
    is_final,
    place,
    render,
    to_move,
    winner,
)


def board_of(rows: str) -> tuple[str, ...]:
    """'XO. .X. ..O' -> board tuple (rows 1-3, columns A-C)."""
    return tuple(rows.replace(" ", ""))


def play(game: TicTacToe, *cells: str) -> None:
    for cell in cells:
        (agent,) = game.to_act()
        assert game.submit(agent, f"[{cell}]").valid


# ---------------------------------------------------------------------- pure rules
def test_cells_are_column_letter_then_row_number_from_the_top_left():
    assert CELLS[:4] == ("A1", "B1", "C1", "A2")
    assert (INDEX["A1"], INDEX["C1"], INDEX["B2"], INDEX["A3"], INDEX["C3"]) == (0, 2, 4, 6, 8)
    board = place(place(EMPTY_BOARD, "C1"), "A3")
    assert render(board) == "   A B C\n1  . . X\n2  . . .\n3  O . ."


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("XXX OO. ...", "X"),
        ("XX. OOO X..", "O"),
        ("X.O X.O X..", "X"),
        ("..X .OX .OX", "X"),
        (".O. .OX .OX", "O"),
        ("X.O .XO ..X", "X"),
        ("X.O .OX O.X", "O"),
        ("XOX XOO OXX", None),
        ("XO. ... ...", None),
    ],
)
def test_winner_finds_every_line(rows, expected):
    assert winner(board_of(rows)) == expected


def test_turns_alternate_and_occupied_cells_are_refused():
    board = place(EMPTY_BOARD, "B2")
    assert board[INDEX["B2"]] == "X" and to_move(board) == "O"
    board = place(board, "A1")
    assert board[INDEX["A1"]] == "O" and to_move(board) == "X"
    assert "B2" not in empty_cells(board) and len(empty_cells(board)) == 7
    with pytest.raises(ValueError, match="not empty"):
        place(board, "B2")
    assert is_final(board_of("XOX XOO OXX")) and not is_final(board)


# ---------------------------------------------------------------------- parser
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'll take the centre: [B2]!", "B2"),
        ("[b2]", "B2"),
        ("[ c3 ]", "C3"),
        ("Thinking [hmm]... A1 is taken, so [A2]", "A2"),
        ("[A2] and again [a2]", "A2"),
        ("[A1] is taken, [C1]", "C1"),  # A1 is occupied: ignored
        ("[B2] or [C3]", None),  # two empty cells
        ("B2", None),  # no brackets
        ("[A1]", None),  # occupied
        ("[D1] [A4] [B 2] [2B] []", None),
        ("", None),
    ],
)
def test_parse_move_finds_one_empty_cell_in_chatter(text, expected):
    game = TicTacToe(seed=0)
    play(game, "A1")  # X on A1; O to move
    assert game.parse_move("player_1", text) == expected


def test_legal_moves_are_the_empty_cells():
    game = TicTacToe(seed=0)
    assert game.legal_moves("player_0") == [f"[{c}]" for c in CELLS]
    play(game, "B2", "A1")
    assert "[B2]" not in game.legal_moves("player_0") and len(game.legal_moves("player_0")) == 7


# ---------------------------------------------------------------------- scoring
def test_x_completes_a_row_and_wins():
    game = TicTacToe(seed=0)
    play(game, "A1", "A2", "B1", "B2", "C1")
    assert game.over and game.to_act() == []
    assert game.scores == {"player_0": 1.0, "player_1": -1.0}
    assert game.view("player_1")["winner"] == "X"
    assert "player_0 (X) completes a line and wins." in game.transcript()


def test_o_completes_a_diagonal_and_wins():
    game = TicTacToe(seed=0)
    play(game, "A1", "C1", "B1", "B2", "C2", "A3")
    assert game.over and game.scores == {"player_0": -1.0, "player_1": 1.0}


def test_a_full_board_without_a_line_is_a_draw():
    game = TicTacToe(seed=0)
    play(game, "A1", "B2", "C3", "B1", "B3", "A3", "C1", "C2", "A2")
    assert game.over and game.scores == {"player_0": 0.0, "player_1": 0.0}
    assert "draw" in game.transcript()


def test_out_of_turn_moves_raise_and_turns_alternate():
    game = TicTacToe(seed=0)
    assert game.to_act() == ["player_0"]
    with pytest.raises(RuntimeError):
        game.submit("player_1", "[A1]")
    play(game, "A1")
    assert game.to_act() == ["player_1"]


@pytest.mark.parametrize("moves_before", [(), ("B2",)])
def test_three_invalid_moves_forfeit_the_game_as_a_loss(moves_before):
    game = TicTacToe(seed=0)
    play(game, *moves_before)
    (loser,) = game.to_act()
    winner_ = game.opponent(loser)
    for _ in range(3):
        report = game.submit(loser, "I pass")
    assert report.forfeited and game.over and game.forfeited_by == loser
    assert game.scores[loser] == pytest.approx(-1.3)  # loss + 3 invalid-move penalties
    assert game.scores[winner_] == pytest.approx(1.0)


def test_prompts_show_the_board_and_the_grammar():
    game = TicTacToe(seed=0)
    play(game, "C1")
    rules = game.rules_text("player_1")
    assert "play O" in rules and "[B2]" in rules and "A1 is the top-left" in rules
    prompt = game.turn_prompt("player_1")
    assert "1  . . X" in prompt and "Empty cells: A1, B1, A2" in prompt
    assert game.view("player_1")["board"]["C1"] == "X" and game.view("player_1")["mark"] == "O"


# ---------------------------------------------------------------------- bots
def _request(game: TicTacToe) -> ActRequest:
    (agent,) = game.to_act()
    info = {"legal_moves": game.legal_moves(agent), "view": game.view(agent)}
    return ActRequest(agent, "", info)


def test_minimax_bot_wins_at_once_and_blocks():
    bot = make_bot("tictactoe_v0", "strong", seed=0)
    game = TicTacToe(seed=0)
    play(game, "A1", "A2", "B1", "B2")  # X can win on C1 (O threatens C2)
    assert bot.choose(_request(game)) == "[C1]"
    game = TicTacToe(seed=0)
    play(game, "A1", "B2", "B1")  # O must block C1
    assert bot.choose(_request(game)) == "[C1]"


def test_minimax_bot_falls_back_to_a_legal_move_on_a_broken_view():
    bot = make_bot("tictactoe_v0", "strong", seed=0)
    legal = ["[A1]", "[C3]"]
    for view in (
        {},
        {"board": "garbage"},
        {"board": {"A1": "Z"}},
        {"board": {c: "X" for c in CELLS}},
    ):
        assert bot.choose(ActRequest("player_0", "", {"legal_moves": legal, "view": view})) in legal
