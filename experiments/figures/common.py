"""What every figure of a run shares: one colour per player, the empty-panel note, and
per-player series read from TensorBoard or, where the run did not log them, from matches.csv."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from experiments.analysis import RunData, player_summary, trend
from trainers.run import layout as rf

__all__ = ["Palette", "no_data", "palette_of", "per_step", "player_palette"]

Palette = dict[str, tuple[float, float, float]]


def player_palette(players: Sequence[str]) -> Palette:
    """One fixed colour per player, the same in every figure."""
    colours = sns.color_palette("tab10" if len(players) <= 10 else "husl", max(len(players), 1))
    return {p: tuple(colours[i]) for i, p in enumerate(players)}


def palette_of(run: RunData) -> Palette:
    """The palette every figure of `run` uses (the notebook's too)."""
    return player_palette(_players(run))


def _players(run: RunData) -> list[str]:
    """Every player any figure may show: from matches, then from per-player tags."""
    players = dict.fromkeys(run.players)
    for tag in (rf.TAG_RETURN, rf.TAG_WIN_RATE, rf.TAG_ELO, rf.TAG_POLICY_LOSS, rf.TAG_KL):
        players.update(dict.fromkeys(str(c) for c in trend(run.scalars, tag).columns))
    return list(players)


def no_data(ax: Axes, title: str, reason: str = "no data in this run") -> None:
    """Mark a panel as empty: keep its title, say why, hide the axes."""
    ax.set_title(title)
    write = getattr(ax, "text2D", ax.text)  # 3D axes place 2D text with text2D
    write(
        0.5,
        0.5,
        f"No data\n({reason})",
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=12,
        color="0.35",
        bbox={"boxstyle": "round", "facecolor": "0.95", "edgecolor": "0.7"},
    )
    ax.set_axis_off()


def per_step(run: RunData, tag: str, column: str) -> tuple[pd.DataFrame, str]:
    """Per-player series of a TensorBoard tag; from matches.csv when the run did not log it."""
    wide = trend(run.scalars, tag)
    if not wide.empty:
        return wide, tag
    if run.matches.empty:
        return wide, f"{tag} or {rf.MATCHES}"
    summary = player_summary(run.matches, by=("step", "player")).reset_index()
    return summary.pivot(index="step", columns="player", values=column), rf.MATCHES
