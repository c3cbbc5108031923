"""Players against each other: the capability radar (axes in 0..1) and the payoff heatmap
(row player's win rate against the column player)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from experiments.analysis import RunData, capability_table, payoff_frame
from experiments.figures.common import Palette, no_data

__all__ = ["draw_heatmap", "draw_payoff", "draw_radar", "fig_heatmap", "fig_radar"]


def draw_radar(ax: Axes, table: pd.DataFrame, palette: Palette, title: str) -> None:
    """One closed polygon per player over the capability axes (all in 0..1)."""
    if table.empty or table.shape[1] == 0:
        no_data(ax, title, "no capability values")
        return
    axes = list(table.columns)
    angles = np.linspace(0.0, 2.0 * math.pi, len(axes), endpoint=False).tolist()
    for player, row in table.iterrows():
        values = row.fillna(0.0).to_list()
        colour = palette.get(str(player))
        closed_angles, closed_values = [*angles, angles[0]], [*values, values[0]]
        ax.plot(closed_angles, closed_values, color=colour, marker="o", label=str(player))
        ax.fill(closed_angles, closed_values, color=colour, alpha=0.12)
    ax.set_theta_offset(math.pi / 2.0)  # first axis at the top
    ax.set_xticks(angles)
    ax.set_xticklabels(axes, fontsize="small")
    for label, angle in zip(ax.get_xticklabels(), angles, strict=True):
        side = math.sin(angle)  # after the offset, sin < 0 is the right-hand side
        label.set_horizontalalignment(
            "center" if abs(side) < 0.1 else "right" if side > 0 else "left"
        )
    ax.set_ylim(0.0, 1.0)
    ax.set_yticks([0.25, 0.5, 0.75, 1.0])
    ax.set_yticklabels(["0.25", "0.5", "0.75", "1"], fontsize="x-small", color="0.4")
    ax.set_title(title, pad=18)
    ax.legend(loc="upper right", bbox_to_anchor=(1.35, 1.12), fontsize="small", title="player")
    if table.isna().to_numpy().any():
        ax.text(
            0.5,
            -0.12,
            "a player without a value on an axis is drawn at 0",
            transform=ax.transAxes,
            ha="center",
            fontsize="x-small",
            color="0.4",
        )


def fig_radar(run: RunData, palette: Palette) -> Figure:
    fig = Figure(figsize=(8, 7), layout="constrained")
    ax = fig.add_subplot(projection="polar")
    draw_radar(ax, capability_table(run), palette, f"Agent capabilities (0..1): {run.name}")
    return fig


def draw_heatmap(ax: Axes, payoff: pd.DataFrame, games: pd.DataFrame, title: str) -> None:
    """Annotated win-rate heatmap; blank cells: the pair never met."""
    if payoff.empty or payoff.notna().sum().sum() == 0:
        no_data(ax, title, "no games between players")
        return
    counts = games.reindex(index=payoff.index, columns=payoff.columns)
    labels = payoff.map(lambda x: "" if pd.isna(x) else f"{x:.2f}")
    if counts.notna().to_numpy().any():
        n = counts.map(lambda x: "" if pd.isna(x) or x == 0 else f"\n({int(x)})")
        labels = labels + n.where(payoff.notna(), "")
    sns.heatmap(
        payoff,
        ax=ax,
        annot=labels.to_numpy(),
        fmt="",
        cmap="RdBu",
        center=0.5,
        vmin=0.0,
        vmax=1.0,
        square=True,
        linewidths=0.5,
        linecolor="white",
        cbar_kws={"label": "row player's win rate"},
    )
    ax.set_facecolor("0.92")
    ax.grid(False)
    ax.set_title(title)
    ax.set_xlabel("opponent (column player)")
    ax.set_ylabel("player (row)")
    ax.tick_params(axis="x", labelrotation=30)
    ax.tick_params(axis="y", labelrotation=0)


def draw_payoff(run: RunData, ax: Axes) -> None:
    """The payoff heatmap of `run` on `ax`, games played in brackets."""
    draw_heatmap(
        ax,
        payoff_frame(run.league, "win_rate"),
        payoff_frame(run.league, "games", dropna=False),
        "Payoff: row player's win rate vs column player\n"
        "(games played in brackets; grey: never met)",
    )


def fig_heatmap(run: RunData, palette: Palette) -> Figure:
    fig = Figure(figsize=(9, 7.5), layout="constrained")
    draw_payoff(run, fig.add_subplot())
    fig.suptitle(run.name)
    return fig
