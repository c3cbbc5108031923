"""The dashboard's evaluation panel draws the mode's own figure with its band."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure  # a Figure of its own: no pyplot, no display

from experiments.figures.trends import draw_evaluation
from experiments.run_data import RunData


def run_with(values: dict[str, list[float]]) -> RunData:
    rows = [
        (step, tag, value, 0.0)
        for tag, series in values.items()
        for step, value in zip((0, 5, 10), series, strict=True)
    ]
    scalars = pd.DataFrame(rows, columns=["step", "tag", "value", "wall_time"])
    return RunData(Path("run"), scalars, pd.DataFrame(), {}, {}, {})


def drawn(run: RunData):
    ax = Figure().subplots()
    draw_evaluation(ax, run, palette={})
    return ax


def test_the_mode_figure_comes_before_the_bots_win_rates():
    run = run_with({
        "eval/exploitability/last": [0.45, 0.3, 0.2],
        "eval/exploitability/meta": [0.45, 0.25, 0.15],
        "eval/win_rate/bot:random": [0.5, 0.6, 0.7],
    })  # fmt: skip
    ax = drawn(run)
    assert "eval/exploitability" in ax.get_title()
    assert sorted(line.get_label() for line in ax.get_lines()) == ["last", "meta"]
    assert list(ax.get_lines()[0].get_ydata()) == [0.45, 0.3, 0.2]


def test_a_rate_is_drawn_with_its_interval_band():
    run = run_with({
        "eval/success_rate/pair": [0.2, 0.5, 0.8],
        "eval/success_rate_low/pair": [0.1, 0.4, 0.7],
        "eval/success_rate_high/pair": [0.3, 0.6, 0.9],
    })  # fmt: skip
    ax = drawn(run)
    assert "eval/success_rate" in ax.get_title() and len(ax.collections) == 1  # the band
    assert ax.get_ylim() == (0.0, 1.0)


def test_a_run_without_evaluation_says_so():
    ax = drawn(run_with({"charts/episode_return/main": [0.0, 0.1, 0.2]}))
    assert not ax.get_lines() and any("eval/" in t.get_text() for t in ax.texts)
