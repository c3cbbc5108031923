"""The main panels of a run on one page."""

from __future__ import annotations

from matplotlib.figure import Figure

from experiments.analysis import RunData, capability_table, player_summary
from experiments.figures.common import Palette
from experiments.figures.league import draw_payoff, draw_radar
from experiments.figures.players import draw_bars, draw_scatter
from experiments.figures.trends import draw_evaluation, draw_trend, trend_panels

__all__ = ["fig_dashboard"]


def fig_dashboard(run: RunData, palette: Palette) -> Figure:
    fig = Figure(figsize=(24, 13), layout="constrained")
    grid = fig.add_gridspec(2, 3)
    draw_trend(fig.add_subplot(grid[0, 0]), trend_panels(run)[0], palette)
    draw_evaluation(fig.add_subplot(grid[0, 1]), run, palette)
    summary = player_summary(run.matches)
    draw_bars(
        fig.add_subplot(grid[0, 2]),
        summary["mean_return"],
        "Mean episode return per player (± sd)",
        "episode return",
        palette,
        summary["std_return"],
    )
    radar = fig.add_subplot(grid[1, 0], projection="polar")
    draw_radar(radar, capability_table(run), palette, "Agent capabilities (0..1)")
    draw_payoff(run, fig.add_subplot(grid[1, 1]))
    draw_scatter(
        fig.add_subplot(grid[1, 2]), run.matches, palette, "Mean return vs invalid-move rate"
    )
    fig.suptitle(f"LoRA League run dashboard: {run.name}", fontsize=18)
    return fig
