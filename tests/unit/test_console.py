"""The quiet console: the user sees warnings, the bar and the summary; the log gets the rest."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import logging, os, subprocess, sys
    sys.path.insert(0, {root!r})
    from trainers.run.console import Console

    console = Console(verbose={verbose})
    console.configure_logging()
    logging.getLogger("trainers.x").info("said before the run folder existed")
    console.attach({run!r})
    logging.getLogger("vllm.engine").info("INFO engine line")
    logging.getLogger("trainers.y").warning("a warning for the user")
    logging.getLogger("vllm.engine").warning("an engine warning")
    print("a stray print")
    os.write(2, b"a C library line\\n")
    subprocess.run([sys.executable, "-c", "print('child INFO line')"], check=True)
    console.print("SUMMARY")
    console.close()
    print("after close")
    """
)


def run_script(tmp_path: Path, verbose: bool) -> tuple[str, str]:
    code = SCRIPT.format(root=str(ROOT), run=str(tmp_path), verbose=verbose)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout + done.stderr, (tmp_path / "train.log").read_text()


def test_quiet_console_shows_only_what_is_for_the_user(tmp_path):
    seen, log = run_script(tmp_path, verbose=False)
    assert seen.splitlines() == ["a warning for the user", "SUMMARY", "after close"]
    for line in (
        "said before the run folder existed",
        "INFO engine line",
        "a warning for the user",
        "an engine warning",
        "a stray print",
        "a C library line",
        "child INFO line",
    ):
        assert line in log, line
    assert "SUMMARY" not in log


def test_verbose_console_shows_everything_and_still_writes_the_log(tmp_path):
    seen, log = run_script(tmp_path, verbose=True)
    for line in ("INFO engine line", "child INFO line", "a stray print", "SUMMARY"):
        assert line in seen, line
    assert "INFO engine line" in log and "said before the run folder existed" in log
