"""Draw a run's figures as PNG files: `python -m experiments.report RUN_DIR [--out DIR]`.

Reads only what the run wrote (through `experiments.analysis`) and writes, by default into
RUN_DIR/visualization_outputs/:

    training_trends.png           per player: return, win rate, invalid moves, Elo; team win
                                  rate, cooperation, losses and KL per adapter, throughput
    agent_performance.png         bars per player: mean return, win rate, invalid moves, Elo
    capability_radar.png          one polygon per player over 0..1 capability axes
    payoff_heatmap.png            row player's win rate against column player (games in brackets)
    performance_surface_3d.png    mean episode return over training step x player
    return_vs_invalid_scatter.png mean return against invalid-move rate, per player and step
    dashboard.png                 the main panels on one page

A panel without data says so instead of failing. Figures are drawn on `matplotlib.figure.Figure`
objects (no pyplot state), so `write_report` can be called from a notebook as well.
"""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from experiments.analysis import (
    NotARunDirectoryError,
    RunData,
    capability_table,
    load_run,
    payoff_frame,
    player_summary,
    ratings_frame,
    trend,
)
from trainers.run import layout as rf

__all__ = ["FIGURE_FILES", "main", "player_palette", "write_report"]

logger = logging.getLogger(__name__)

FIGURE_FILES = (
    "training_trends.png",
    "agent_performance.png",
    "capability_radar.png",
    "payoff_heatmap.png",
    "performance_surface_3d.png",
    "return_vs_invalid_scatter.png",
    "dashboard.png",
)
Palette = dict[str, tuple[float, float, float]]


# ---- shared pieces


def player_palette(players: Sequence[str]) -> Palette:
    """One fixed colour per player, the same in every figure."""
    colours = sns.color_palette("tab10" if len(players) <= 10 else "husl", max(len(players), 1))
    return {p: tuple(colours[i]) for i, p in enumerate(players)}


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


# ---- panels


def draw_trend(ax: Axes, panel: TrendPanel, palette: Palette) -> None:
    """Lines over training steps, one per column of the panel's frame (player, adapter...)."""
    wide = panel.wide.dropna(axis=1, how="all")
    if wide.empty:
        no_data(ax, panel.title, f"nothing logged under {panel.source}")
        return
    for column in wide.columns:
        series = wide[column].dropna()
        ax.plot(
            series.index,
            series.to_numpy(),
            marker="o",
            markersize=3,
            label=str(column),
            color=palette.get(str(column)),
        )
    ax.set_title(f"{panel.title}\n[{panel.source}]")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training step")
    ax.set_ylabel(panel.ylabel)
    ax.legend(fontsize="small", title=panel.legend if len(wide.columns) > 1 else None)


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


# ---- figures


@dataclass(frozen=True)
class TrendPanel:
    """One training-trend panel: a wide frame (index step, one column per line) and labels."""

    title: str
    ylabel: str
    wide: pd.DataFrame
    source: str
    legend: str = "player"


def _combined(scalars: pd.DataFrame, tags: dict[str, str]) -> pd.DataFrame:
    """Several tags on one panel; columns named by label (and player, for per-player tags)."""
    parts = []
    for label, tag in tags.items():
        wide = trend(scalars, tag)
        own = tag.rsplit("/", 1)[-1]
        parts.append(wide.rename(columns=lambda c, lb=label, o=own: lb if c == o else f"{lb}: {c}"))
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, axis=1).sort_index() if parts else pd.DataFrame()


def trend_panels(run: RunData) -> list[TrendPanel]:
    """The nine training-trend panels, per player where the trainer logs per player."""
    ret, ret_src = per_step(run, rf.TAG_RETURN, "mean_return")
    win, win_src = per_step(run, rf.TAG_WIN_RATE, "win_rate")
    invalid, invalid_src = per_step(run, rf.TAG_INVALID_RATE, "invalid_move_rate")
    scalars = run.scalars
    coop_tags = {"task completion": rf.TAG_TASK_COMPLETION, "cooperation": rf.TAG_COOPERATION}
    return [
        TrendPanel("Mean episode return per player", "episode return", ret, ret_src),
        TrendPanel("Win rate per player", "win rate (draw = 0.5)", win, win_src),
        TrendPanel("Invalid-move rate per player", "invalid-move rate", invalid, invalid_src),
        TrendPanel(
            "Learner's team win rate vs each opponent",
            "win rate",
            trend(scalars, rf.TAG_TEAM_WIN_RATE),
            rf.TAG_TEAM_WIN_RATE,
            "opponent",
        ),
        TrendPanel("Elo rating per player", "Elo", trend(scalars, rf.TAG_ELO), rf.TAG_ELO),
        TrendPanel(
            "Cooperative games: task completion, cooperation",
            "rate / group score",
            _combined(scalars, coop_tags),
            f"{rf.TAG_TASK_COMPLETION}, {rf.TAG_COOPERATION}",
            "series",
        ),
        TrendPanel(
            "Policy loss per adapter",
            "loss",
            trend(scalars, rf.TAG_POLICY_LOSS),
            rf.TAG_POLICY_LOSS,
            "adapter",
        ),
        TrendPanel(
            "KL to the reference policy per adapter",
            "KL (nats / token)",
            trend(scalars, rf.TAG_KL),
            rf.TAG_KL,
            "adapter",
        ),
        TrendPanel(
            "Rollout throughput",
            "episodes / s",
            trend(scalars, rf.TAG_EPISODES_PER_S),
            rf.TAG_EPISODES_PER_S,
        ),
    ]


def fig_trends(run: RunData, palette: Palette) -> Figure:
    fig = Figure(figsize=(19, 14), layout="constrained")
    axes = fig.subplots(3, 3)
    for ax, panel in zip(axes.flat, trend_panels(run), strict=True):
        draw_trend(ax, panel, palette)
    fig.suptitle(f"Training trends over steps: {run.name}", fontsize=15)
    return fig


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


def fig_radar(run: RunData, palette: Palette) -> Figure:
    fig = Figure(figsize=(8, 7), layout="constrained")
    ax = fig.add_subplot(projection="polar")
    draw_radar(ax, capability_table(run), palette, f"Agent capabilities (0..1): {run.name}")
    return fig


def _heatmap(run: RunData, ax: Axes) -> None:
    draw_heatmap(
        ax,
        payoff_frame(run.league, "win_rate"),
        payoff_frame(run.league, "games", dropna=False),
        "Payoff: row player's win rate vs column player\n"
        "(games played in brackets; grey: never met)",
    )


def fig_heatmap(run: RunData, palette: Palette) -> Figure:
    fig = Figure(figsize=(9, 7.5), layout="constrained")
    _heatmap(run, fig.add_subplot())
    fig.suptitle(run.name)
    return fig


def fig_surface(run: RunData, palette: Palette) -> Figure:
    fig = Figure(figsize=(11, 8), layout="constrained")
    ax = fig.add_subplot(projection="3d")
    wide, source = per_step(run, rf.TAG_RETURN, "mean_return")
    draw_surface(ax, wide, f"Mean episode return over step x player: {run.name}", source, palette)
    return fig


def fig_scatter(run: RunData, palette: Palette) -> Figure:
    fig = Figure(figsize=(9, 6.5), layout="constrained")
    draw_scatter(
        fig.add_subplot(),
        run.matches,
        palette,
        f"Mean return vs invalid-move rate, per player and step: {run.name}",
    )
    return fig


def draw_evaluation(ax: Axes, run: RunData, palette: Palette) -> None:
    """The learner's win rate against each fixed reference, with its 95% interval as a band."""
    from trainers.league.evaluation import TAG_EVAL, TAG_EVAL_HIGH, TAG_EVAL_LOW

    rate = trend(run.scalars, TAG_EVAL)
    title = "Evaluation: learner vs fixed references (95% interval)"
    if rate.empty:
        no_data(ax, title, f"nothing logged under {TAG_EVAL}")
        return
    low, high = trend(run.scalars, TAG_EVAL_LOW), trend(run.scalars, TAG_EVAL_HIGH)
    for ref in rate.columns:
        series = rate[ref].dropna()
        color = palette.get(str(ref))
        ax.plot(series.index, series.to_numpy(), marker="o", label=str(ref), color=color)
        if ref in low.columns and ref in high.columns:
            band = pd.concat([low[ref], high[ref]], axis=1).dropna()
            ax.fill_between(band.index, band.iloc[:, 0], band.iloc[:, 1], alpha=0.2, color=color)
    ax.axhline(0.5, color="0.6", linewidth=0.8, linestyle="--")
    ax.set_ylim(0, 1)
    ax.set_title(f"{title}\n[{TAG_EVAL}]")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training step")
    ax.set_ylabel("win rate (draw = 0.5)")
    ax.legend(fontsize="small", title="reference")


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
    _heatmap(run, fig.add_subplot(grid[1, 1]))
    draw_scatter(
        fig.add_subplot(grid[1, 2]), run.matches, palette, "Mean return vs invalid-move rate"
    )
    fig.suptitle(f"LoRA League run dashboard: {run.name}", fontsize=18)
    return fig


FIGURES: dict[str, Callable[[RunData, Palette], Figure]] = dict(
    zip(
        FIGURE_FILES,
        (
            fig_trends,
            fig_performance,
            fig_radar,
            fig_heatmap,
            fig_surface,
            fig_scatter,
            fig_dashboard,
        ),
        strict=True,
    )
)


def write_report(
    run: RunData | str | Path, out: str | Path | None = None, dpi: int = 110
) -> list[Path]:
    """Draw every figure of a run into `out` (default RUN_DIR/visualization_outputs)."""
    if not isinstance(run, RunData):
        run = load_run(run)
    out_dir = Path(out) if out is not None else run.path / rf.FIGURES
    out_dir.mkdir(parents=True, exist_ok=True)
    palette = palette_of(run)
    written = []
    with mpl.rc_context():
        sns.set_theme(style="whitegrid", context="notebook")
        for name, draw in FIGURES.items():
            path = out_dir / name
            draw(run, palette).savefig(path, dpi=dpi)
            logger.debug("wrote %s", path)
            written.append(path)
    return written


def palette_of(run: RunData) -> Palette:
    """The palette every figure of `run` uses (the notebook's too)."""
    return player_palette(_players(run))


def _players(run: RunData) -> list[str]:
    """Every player any figure may show: from matches, then from per-player tags."""
    players = dict.fromkeys(run.players)
    for tag in (rf.TAG_RETURN, rf.TAG_WIN_RATE, rf.TAG_ELO, rf.TAG_POLICY_LOSS, rf.TAG_KL):
        players.update(dict.fromkeys(str(c) for c in trend(run.scalars, tag).columns))
    return list(players)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.report",
        description=(
            "Draw the figures of a LoRA League training run as PNG files: training trends, "
            "per-agent performance bars, a capability radar, the payoff heatmap, a 3D surface of "
            "return over step x player, a return vs invalid-move scatter and a dashboard. Reads "
            "only the files the run wrote (layout: trainers/run/layout.py)."
        ),
        epilog="Example: python -m experiments.report runs/team_battle__1__20261128-101500",
    )
    parser.add_argument(
        "run_dir",
        type=Path,
        help="run directory (holds config.json, matches.csv, league.json, events.out.tfevents.*)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"folder for the PNG files (default: RUN_DIR/{rf.FIGURES})",
    )
    parser.add_argument("--dpi", type=int, default=110, help="resolution of the PNGs (default 110)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    mpl.use("Agg")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        written = write_report(args.run_dir, args.out, args.dpi)
    except NotARunDirectoryError as err:
        logger.error("%s", err)
        return 2
    print(f"wrote {len(written)} figures:")
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
