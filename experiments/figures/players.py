"""Per-player performance: bars over every game, mean return against invalid-move rate per
step, and mean return over training step x player as a 3D surface."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from experiments.analysis import RunData, player_summary, ratings_frame
from experiments.figures.common import Palette, no_data, per_step
from trainers.run import layout as rf

__all__ = [
    "draw_bars",
    "draw_scatter",
    "draw_surface",
    "fig_performance",
    "fig_scatter",
    "fig_surface",
]


def draw_bars(
    ax: Axes,
    values: pd.Series,
    title: str,
    ylabel: str,
    palette: Palette,
    errors: pd.Series | None = None,
) -> None:
    """One bar per player (index of `values`), labelled with its value."""
    values = values.dropna()
    if values.empty:
        no_data(ax, title)
        return
    players = [str(p) for p in values.index]
    yerr = None if errors is None else errors.reindex(values.index).fillna(0.0).to_numpy()
    bars = ax.bar(
        players,
        values.to_numpy(dtype=float),
        yerr=yerr,
        capsize=4,
        color=[palette.get(p, "0.5") for p in players],
    )
    ax.bar_label(bars, fmt="%.2f", padding=2, fontsize="small")
    ax.set_title(title)
    ax.set_xlabel("player")
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", labelrotation=20)
    ax.axhline(0.0, color="0.3", linewidth=0.8)


def fig_performance(run: RunData, palette: Palette) -> Figure:
    fig = Figure(figsize=(18, 5), layout="constrained")
    axes = fig.subplots(1, 4)
    summary = player_summary(run.matches)
    ratings = ratings_frame(run.league, run.scalars)
    elo = ratings["elo"] if "elo" in ratings else pd.Series(dtype=float)
    draw_bars(
        axes[0],
        summary["mean_return"],
        "Mean episode return (± sd)",
        "episode return",
        palette,
        summary["std_return"],
    )
    draw_bars(axes[1], summary["win_rate"], "Win rate (draw = 0.5)", "win rate", palette)
    draw_bars(
        axes[2],
        summary["invalid_move_rate"],
        "Invalid-move rate",
        "invalid moves / moves",
        palette,
    )
    draw_bars(
        axes[3], elo.reindex(summary.index) if len(summary) else elo, "Elo rating", "Elo", palette
    )
    if not elo.dropna().empty:
        axes[3].set_ylim(elo.min() - 60.0, elo.max() + 60.0)
    fig.suptitle(f"Per-agent performance over all games: {run.name}", fontsize=15)
    return fig


def draw_scatter(ax: Axes, matches: pd.DataFrame, palette: Palette, title: str) -> None:
    """Mean return against invalid-move rate, one point per player and step (later = larger)."""
    if matches.empty:
        no_data(ax, title, "matches.csv has no rows")
        return
    points = player_summary(matches, by=("step", "player")).reset_index()
    points = points.dropna(subset=["invalid_move_rate", "mean_return"])
    if points.empty:
        no_data(ax, title, "no moves recorded")
        return
    for player, rows in points.groupby("player", sort=True):
        ax.plot(
            rows["invalid_move_rate"],
            rows["mean_return"],
            color=palette.get(str(player)),
            alpha=0.35,
            linewidth=1,
        )
    sns.scatterplot(
        data=points,
        x="invalid_move_rate",
        y="mean_return",
        hue="player",
        hue_order=[p for p in palette if p in set(points["player"])],
        palette=palette,
        size="step",
        sizes=(25, 160),
        ax=ax,
        edgecolor="white",
    )
    ax.set_title(f"{title}\n(lines join each player's steps in order)")
    ax.set_xlabel("invalid-move rate (invalid moves / moves)")
    ax.set_ylabel("mean episode return")
    ax.legend(fontsize="x-small", loc="best")


def fig_scatter(run: RunData, palette: Palette) -> Figure:
    fig = Figure(figsize=(9, 6.5), layout="constrained")
    draw_scatter(
        fig.add_subplot(),
        run.matches,
        palette,
        f"Mean return vs invalid-move rate, per player and step: {run.name}",
    )
    return fig


def draw_surface(ax: Axes, wide: pd.DataFrame, title: str, source: str, palette: Palette) -> None:
    """3D surface of mean return over (training step, player); each player's values as a line."""
    wide = wide.dropna(axis=1, how="all")
    if wide.empty:
        no_data(ax, title, f"nothing logged under {source}")
        return
    filled = wide.sort_index().ffill().bfill()
    steps = filled.index.to_numpy(dtype=float)
    players = [str(c) for c in filled.columns]
    x, y = np.meshgrid(steps, np.arange(len(players), dtype=float))
    z = filled.to_numpy(dtype=float).T
    if len(steps) >= 2 and len(players) >= 2:
        surface = ax.plot_surface(
            x,
            y,
            z,
            cmap="viridis",
            vmin=float(np.nanmin(z)),
            vmax=float(np.nanmax(z)),
            edgecolor="0.25",
            linewidth=0.3,
            alpha=0.85,
        )
        ax.figure.colorbar(surface, ax=ax, shrink=0.6, pad=0.12, label="mean episode return")
    else:
        ax.scatter(x.ravel(), y.ravel(), z.ravel(), c=z.ravel(), cmap="viridis", s=40)
    for i, player in enumerate(players):
        ax.plot(
            steps, np.full_like(steps, i), z[i], color=palette.get(player), marker="o", zorder=5
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_yticks(range(len(players)))
    ax.set_yticklabels(players, fontsize="small")
    ax.set_xlabel("training step")
    ax.set_ylabel("player", labelpad=12)
    ax.set_zlabel("mean episode return")
    ax.set_title(f"{title}\n[{source}]")
    ax.view_init(elev=28, azim=-60)


def fig_surface(run: RunData, palette: Palette) -> Figure:
    fig = Figure(figsize=(11, 8), layout="constrained")
    ax = fig.add_subplot(projection="3d")
    wide, source = per_step(run, rf.TAG_RETURN, "mean_return")
    draw_surface(ax, wide, f"Mean episode return over step x player: {run.name}", source, palette)
    return fig
