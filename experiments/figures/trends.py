"""Training trends over steps: per player, per opponent of the learner, per adapter, and the
learner's evaluation against fixed references with its 95% interval."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from experiments.analysis import RunData, trend
from experiments.figures.common import Palette, no_data, per_step
from trainers.run import layout as rf

__all__ = ["TrendPanel", "draw_evaluation", "draw_trend", "fig_trends", "trend_panels"]


@dataclass(frozen=True)
class TrendPanel:
    """One training-trend panel: a wide frame (index step, one column per line) and labels."""

    title: str
    ylabel: str
    wide: pd.DataFrame
    source: str
    legend: str = "player"


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


#: The evaluation families a run may log, the first present drawn: the mode's own figure
#: before the bots' win rates.
EVAL_FAMILIES = {
    "exploitability": ("exact exploitability (lower is better)", "exploitability", None),
    "success_rate": ("the learned pair, alone and beside the partner", "success rate", (0, 1)),
    "panel_score": ("raw score per round vs the panel", "score per round", None),
    "win_rate": ("learner vs fixed references", "win rate (draw = 0.5)", (0.0, 1.0)),
}


def draw_evaluation(ax: Axes, run: RunData, palette: Palette) -> None:
    """The mode's evaluation figure for each reference, with its 95% interval as a band: the
    win rates (team battle), the cooperative pair's success rate, the dilemma panel's scores or
    Kuhn's exploitability (`trainers.league.mode_eval`)."""
    title = "Evaluation (95% interval)"
    present = [f for f in EVAL_FAMILIES if not trend(run.scalars, f"eval/{f}").empty]
    if not present:
        no_data(ax, title, "nothing logged under eval/")
        return
    family = present[0]
    what, ylabel, ylim = EVAL_FAMILIES[family]
    tag = f"eval/{family}"
    value = trend(run.scalars, tag)
    low, high = trend(run.scalars, f"{tag}_low"), trend(run.scalars, f"{tag}_high")
    for ref in value.columns:
        series = value[ref].dropna()
        color = palette.get(str(ref))
        ax.plot(series.index, series.to_numpy(), marker="o", label=str(ref), color=color)
        if ref in low.columns and ref in high.columns:
            band = pd.concat([low[ref], high[ref]], axis=1).dropna()
            ax.fill_between(band.index, band.iloc[:, 0], band.iloc[:, 1], alpha=0.2, color=color)
    if family == "win_rate":
        ax.axhline(0.5, color="0.6", linewidth=0.8, linestyle="--")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(f"Evaluation: {what}\n[{tag}]")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small", title="reference")
