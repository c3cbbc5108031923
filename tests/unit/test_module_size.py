"""No Python module of the packages, and no test file, is over 500 lines (STYLE.md: a module does
one thing; a long one is usually two jobs, and its seam is the place to split it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("envs", "agents", "trainers", "experiments", "benchmarks", "integrations", "scripts")
TESTS = "tests"
MAX_LINES = 500


def tracked_python_files(folders: tuple[str, ...]) -> list[Path]:
    """The tracked .py files under `folders` that are on disk; every .py file there outside a git
    checkout (an unpacked source archive)."""
    present = [f for f in folders if (ROOT / f).is_dir()]
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", *present],
            cwd=ROOT,
            capture_output=True,
            check=True,
            text=True,
        ).stdout.split("\0")
    except (OSError, subprocess.CalledProcessError):
        return sorted(p for f in present for p in (ROOT / f).rglob("*.py"))
    return sorted(
        ROOT / name for name in listed if name.endswith(".py") and (ROOT / name).is_file()
    )


def test_no_module_or_test_file_is_over_500_lines():
    files = tracked_python_files((*FOLDERS, TESTS))
    assert any(f.is_relative_to(ROOT / "trainers") for f in files)  # the listing found the code
    assert any(f.is_relative_to(ROOT / TESTS) for f in files)
    sizes = {f: len(f.read_text(encoding="utf-8").splitlines()) for f in files}
    over = sorted((f.relative_to(ROOT).as_posix(), n) for f, n in sizes.items() if n > MAX_LINES)
    assert not over, f"over {MAX_LINES} lines (split each by what it does): " + ", ".join(
        f"{path} ({lines})" for path, lines in over
    )
