"""What foreign games print goes to the log (`logging`), never to the terminal.

Some TextArena games print on make, reset or every step, and pyspiel warns from C++ when some
games load; the adapters capture it (Python streams for TextArena, file descriptors around an
OpenSpiel load) and log it at INFO, so it lands in the run's train.log.
"""

from __future__ import annotations

import logging
import sys
import threading

import pytest

import envs

pytest.importorskip("textarena")
pytest.importorskip("pyspiel")

# (env id, a piece of what it prints; measured with textarena 0.7.4 and open_spiel 2.0.2)
PRINTING_GAMES = [
    ("textarena/LogicPuzzle-v0", "Correct: 0, Total: 18"),  # every step
    ("textarena/LogicPuzzle-v0-hard", "Correct: 0, Total: 18"),
    ("textarena/SettlersOfCatan-v0", "Corner(tiles="),  # make and reset
    ("textarena/RushHour-v0", "Generated puzzle in"),
    ("openspiel/quoridor", "has known issues"),  # C++ std::cerr, when the game loads
]


def play_a_few_moves(env, moves: int = 4) -> None:
    for _ in range(moves):
        if not env.agents:
            return
        _, _, terminated, truncated, info = env.last()
        if terminated or truncated:
            env.step(None)
            continue
        env.step((info.get("legal_moves") or ["[0]"])[0])


@pytest.mark.parametrize(("env_id", "printed"), PRINTING_GAMES)
def test_a_game_prints_nothing_on_the_terminal_and_its_text_reaches_the_log(
    env_id: str, printed: str, capfd, caplog
):
    from envs.openspiel import game as openspiel_game

    openspiel_game._load_game.cache_clear()  # pyspiel warns when a game loads; loads are cached
    caplog.set_level(logging.INFO, logger="envs")
    env = envs.make(env_id)
    env.reset(seed=1)
    play_a_few_moves(env)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert printed in caplog.text
    assert all(r.levelno == logging.INFO for r in caplog.records if printed in r.getMessage())


def test_python_output_goes_to_the_log(capfd, caplog):
    from envs.textarena.game import output_to_log

    caplog.set_level(logging.INFO, logger="envs")
    stdout, stderr = sys.stdout, sys.stderr
    with output_to_log("textarena/Demo-v0"):
        print("to stdout")
        print("to stderr", file=sys.stderr)
    assert sys.stdout is stdout and sys.stderr is stderr
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    for text in ("textarena/Demo-v0", "to stdout", "to stderr"):
        assert text in caplog.text


WARNS = """
import logging, sys, warnings
from envs.textarena.game import output_to_log
logging.basicConfig(filename=sys.argv[1], level=logging.INFO)
with output_to_log("textarena/Demo-v0"):
    warnings.warn("a game's warning", UserWarning, stacklevel=1)
"""


def test_python_warnings_go_to_the_log(tmp_path):
    """A plain process (pytest records warnings itself): the warning lands in the log file."""
    import subprocess

    log = tmp_path / "train.log"
    done = subprocess.run(
        [sys.executable, "-c", WARNS, str(log)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
    assert "a game's warning" in log.read_text()


def test_other_threads_print_through_while_a_game_is_captured(capsys, caplog):
    """Games roll out in a background thread while the learner runs: its output is not the
    game's."""
    from envs.textarena.game import output_to_log

    caplog.set_level(logging.INFO, logger="envs")
    with output_to_log("textarena/Demo-v0"):
        other = threading.Thread(target=print, args=("the learner speaks",))
        other.start()
        other.join()
        print("the game speaks")
    out, _ = capsys.readouterr()
    assert out == "the learner speaks\n"
    assert "the game speaks" in caplog.text and "learner" not in caplog.text


def test_nothing_printed_logs_nothing(caplog):
    from envs.textarena.game import output_to_log

    caplog.set_level(logging.DEBUG)
    with output_to_log("textarena/Demo-v0"):
        pass
    assert caplog.records == []


def test_c_level_output_goes_to_the_log_even_when_the_load_fails(capfd, caplog):
    import os

    from envs.openspiel.game import c_output_to_log

    caplog.set_level(logging.INFO, logger="envs")
    with pytest.raises(RuntimeError), c_output_to_log("openspiel/demo"):
        os.write(2, b"from C++\n")
        raise RuntimeError("load failed")
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert "from C++" in caplog.text
