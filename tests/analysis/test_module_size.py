"""The analysis side stays readable: no module of experiments/ over 500 lines (STYLE.md: a module
does one thing)."""

from __future__ import annotations

from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
MAX_LINES = 500


@pytest.mark.parametrize(
    "module", sorted(EXPERIMENTS.rglob("*.py")), ids=lambda p: str(p.relative_to(EXPERIMENTS))
)
def test_module_is_at_most_500_lines(module: Path):
    lines = len(module.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module.name} has {lines} lines; split it by what it does"
