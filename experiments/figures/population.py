"""A population's figures (`--population N`): the meta-strategy over members and snapshots, the
PBT lineage, and each member's hyperparameters over training. The single learner's run has
none of them: `population_figures(run)` is empty for it, so nothing is drawn and nothing said."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from experiments.analysis import (
    RunData,
    hyperparameter_trends,
    lineage_frame,
    meta_frame,
    population_members,
)
from experiments.figures.common import Palette, no_data

__all__ = [
    "POPULATION_FIGURES",
    "draw_hyperparameter",
    "draw_lineage",
    "draw_meta",
    "fig_hyperparameters",
    "fig_lineage",
    "fig_meta",
    "population_figures",
]

GREY = (0.55, 0.55, 0.55)
SOLVER_TITLES = {"alpharank": "alpha-rank", "nash": "Nash (zero-sum, exact LP)"}


def owner(player: str) -> str:
    """The member a player belongs to: `main0@v3` (a snapshot) -> `main0`."""
    return player.split("@", 1)[0]


def last_step(run: RunData) -> int:
    """The last training step the run logged (0 before any)."""
    steps = [0]
    for frame in (run.scalars, run.metrics):
        if not frame.empty and "step" in frame:
            steps.append(int(frame["step"].max()))
    return max(steps)


# ---------------------------------------------------------------------------------- meta


def draw_meta(ax: Axes, probabilities: pd.Series, title: str, palette: Palette) -> None:
    """One bar per player the solver weighs: members solid, snapshots hatched in their member's
    colour, the probability above each bar."""
    shown = probabilities.dropna()
    if shown.empty:
        no_data(ax, title, "the solver weighed no player")
        return
    names = [str(p) for p in shown.index]
    colours = [palette.get(owner(p), GREY) for p in names]
    bars = ax.bar(names, shown.to_numpy(), color=colours, edgecolor="0.25")
    for bar, name in zip(bars, names, strict=True):
        if owner(name) != name:
            bar.set_hatch("//")
            bar.set_alpha(0.6)
    ax.bar_label(bars, fmt="%.2f", fontsize="x-small")
    ax.set_ylim(0.0, min(1.05, max(float(shown.max()) * 1.2, 0.1)))
    ax.set_title(title)
    ax.set_ylabel("probability")
    ax.tick_params(axis="x", labelrotation=45)


def fig_meta(run: RunData, palette: Palette) -> Figure:
    """The meta-strategies of league.json's "meta" (the last iteration's), one panel a solver."""
    frame = meta_frame(run.league)
    width = max(10.0, 3.0 + 0.45 * len(frame) * max(frame.shape[1], 1))
    fig = Figure(figsize=(width, 5), layout="constrained")
    axes = fig.subplots(1, max(frame.shape[1], 1), squeeze=False)[0]
    for ax, solver in zip(axes, frame.columns, strict=False):
        draw_meta(ax, frame[solver], SOLVER_TITLES.get(str(solver), str(solver)), palette)
    fig.suptitle(
        f"Meta-strategy over members and snapshots (hatched)\n{run.name} [league.json: meta]"
    )
    return fig


# ---------------------------------------------------------------------------------- lineage


def draw_lineage(
    ax: Axes, members: list[str], lineage: pd.DataFrame, steps: int, palette: Palette
) -> None:
    """Members as rows over training steps; each PBT copy an arrow at its step from the source
    member's row to the copy's, in the source's colour, a marker at the copy, and the copy's new
    lr beside it. Copies in the same round are set slightly apart."""
    rows = {m: i for i, m in enumerate(members)}
    colours = [palette.get(m, GREY) for m in members]
    ax.hlines(list(rows.values()), 0, max(steps, 1), colors=colours, linewidth=4, alpha=0.45)
    copies = lineage[lineage["member"].isin(rows) & lineage["copied_from"].isin(rows)]
    xs, ys, edge = [], [], []
    for _, copy in copies.iterrows():
        same_round = copies.index[copies["step"] == copy["step"]].tolist()
        x = float(copy["step"]) + 0.12 * same_round.index(copy.name)
        source, target = rows[copy["copied_from"]], rows[copy["member"]]
        ax.annotate(
            "",
            xy=(x, target),
            xytext=(x, source),
            arrowprops={"arrowstyle": "-|>", "color": palette.get(copy["copied_from"], GREY),
                        "linewidth": 1.6, "shrinkA": 3, "shrinkB": 6},
        )  # fmt: skip
        if pd.notna(copy.get("lr_after")):
            ax.text(x + 0.05, target - 0.22, f"lr {copy['lr_after']:.3g}", fontsize="x-small")
        xs.append(x)
        ys.append(target)
        edge.append(palette.get(copy["member"], GREY))
    if xs:
        ax.scatter(xs, ys, s=60, marker="o", color="white", edgecolors=edge, linewidths=2, zorder=3)
    ax.set_yticks(list(rows.values()), members)
    ax.set_ylim(len(members) - 0.4, -0.6)  # first member on top
    ax.set_xlim(-0.3, max(steps, 1) + 0.6)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training step (a copy happens after that step's update)")
    ax.set_ylabel("member")
    ax.grid(axis="y", visible=False)


def fig_lineage(run: RunData, palette: Palette) -> Figure:
    members = population_members(run.league)
    fig = Figure(figsize=(10, 1.6 + 0.55 * len(members)), layout="constrained")
    lineage = lineage_frame(run.league)
    draw_lineage(fig.add_subplot(), members, lineage, last_step(run), palette)
    every = (run.league.get("population") or {}).get("pbt_every", 0)
    copies = (
        f"{len(lineage)} copies (arrow: source -> copy, with its new lr)"
        if len(lineage)
        else "no copy yet: no member was rated clearly below another"
    )
    fig.suptitle(f"PBT lineage, a round every {every} iterations: {copies}\n{run.name} "
                 "[league.json: lineage]")  # fmt: skip
    return fig


# ---------------------------------------------------------------------------------- hyperparameters


def draw_hyperparameter(
    ax: Axes, name: str, wide: pd.DataFrame, lineage: pd.DataFrame, palette: Palette
) -> None:
    """One step line per member over training, the first members widest so that equal values
    all show; a star where a PBT copy set the member's value."""
    wide = wide.dropna(axis=1, how="all")
    title = f"{name} per member [pbt/{name}/<member>]"
    if wide.empty:
        no_data(ax, title, f"nothing logged under pbt/{name}")
        return
    widths = np.linspace(4.0, 1.2, len(wide.columns)) if len(wide.columns) > 1 else [1.5]
    for member, width in zip(wide.columns, widths, strict=True):
        series = wide[member].dropna()
        ax.plot(series.index, series.to_numpy(), drawstyle="steps-post", marker="o",
                markersize=2 + width, linewidth=width, label=str(member),
                color=palette.get(str(member)))  # fmt: skip
    points = [
        (int(r["step"]), float(wide.at[int(r["step"]), r["member"]]), r["member"])
        for _, r in lineage.iterrows()
        if r["member"] in wide.columns and int(r["step"]) in wide.index
    ]
    points = [p for p in points if np.isfinite(p[1])]
    if points:
        ax.scatter([p[0] for p in points], [p[1] for p in points], s=90, marker="*",
                   color=[palette.get(p[2], GREY) for p in points], edgecolors="0.2",
                   zorder=3, label="PBT copy")  # fmt: skip
    if (wide.to_numpy()[np.isfinite(wide.to_numpy())] > 0).all():
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.set_xlabel("training step")
    ax.set_ylabel(name)
    ax.legend(fontsize="small", title="member")


def fig_hyperparameters(run: RunData, palette: Palette) -> Figure:
    trends = hyperparameter_trends(run.scalars)
    fig = Figure(figsize=(6.5 * max(len(trends), 1), 4.8), layout="constrained")
    axes = fig.subplots(1, max(len(trends), 1), squeeze=False)[0]
    lineage = lineage_frame(run.league)
    members = population_members(run.league)
    for ax, (name, wide) in zip(axes, trends.items(), strict=False):
        order = [m for m in members if m in wide] + [c for c in wide if c not in members]
        draw_hyperparameter(ax, name, wide[order], lineage, palette)
    fig.suptitle(f"Hyperparameters per member (stars: PBT copies)\n{run.name}")
    return fig


# ---------------------------------------------------------------------------------- which

#: File name -> figure, for a population run.
POPULATION_FIGURES: dict[str, Callable[[RunData, Palette], Figure]] = {
    "meta_strategy.png": fig_meta,
    "pbt_lineage.png": fig_lineage,
    "pbt_hyperparameters.png": fig_hyperparameters,
}


def population_figures(run: RunData) -> dict[str, Callable[[RunData, Palette], Figure]]:
    """The population figures `run` has data for: the meta-strategy where league.json holds
    one, the lineage where the population evolves (`--pbt-every`) or copied, the
    hyperparameters where `pbt/` scalars were logged; none for a run of the single learner."""
    if len(population_members(run.league)) < 2:
        return {}
    population = run.league.get("population") or {}
    has = {
        fig_meta: not meta_frame(run.league).empty,
        fig_lineage: bool(population.get("pbt_every")) or not lineage_frame(run.league).empty,
        fig_hyperparameters: bool(hyperparameter_trends(run.scalars)),
    }
    return {name: draw for name, draw in POPULATION_FIGURES.items() if has[draw]}
