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

and, for a population run (`--population N`), where it logged them:

    meta_strategy.png             the meta-solvers' distribution over members and snapshots
    pbt_lineage.png               members over training steps, an arrow at each PBT copy
    pbt_hyperparameters.png       each member's lr and KL coefficient over training steps

A panel without data says so instead of failing, so a run that stopped early is drawn as far as
it got; a folder that is not a run gets one line and exit status 2. The figures themselves live
in `experiments.figures` (one module per family); their `fig_*` functions are exported here too.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib as mpl
import seaborn as sns
from matplotlib.figure import Figure

from experiments.analysis import NotARunDirectoryError, RunData, load_run
from experiments.figures import (
    POPULATION_FIGURES,
    Palette,
    fig_dashboard,
    fig_heatmap,
    fig_hyperparameters,
    fig_lineage,
    fig_meta,
    fig_performance,
    fig_radar,
    fig_scatter,
    fig_surface,
    fig_trends,
    palette_of,
    player_palette,
    population_figures,
)
from trainers.run import layout as rf

__all__ = [
    "FIGURES",
    "FIGURE_FILES",
    "POPULATION_FIGURE_FILES",
    "fig_dashboard",
    "fig_heatmap",
    "fig_hyperparameters",
    "fig_lineage",
    "fig_meta",
    "fig_performance",
    "fig_radar",
    "fig_scatter",
    "fig_surface",
    "fig_trends",
    "main",
    "palette_of",
    "player_palette",
    "population_figures",
    "write_report",
]

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
#: A population run's figures (`experiments.figures.population`), drawn where it has their data.
POPULATION_FIGURE_FILES = tuple(POPULATION_FIGURES)


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
    """Draw every figure of a run into `out` (default RUN_DIR/visualization_outputs): the
    `FIGURES`, and a population run's own where it has their data."""
    if not isinstance(run, RunData):
        run = load_run(run)
    out_dir = Path(out) if out is not None else run.path / rf.FIGURES
    out_dir.mkdir(parents=True, exist_ok=True)
    palette = palette_of(run)
    written = []
    with mpl.rc_context():
        sns.set_theme(style="whitegrid", context="notebook")
        for name, draw in {**FIGURES, **population_figures(run)}.items():
            path = out_dir / name
            draw(run, palette).savefig(path, dpi=dpi)
            logger.debug("wrote %s", path)
            written.append(path)
    return written


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.report",
        description=(
            "Draw the figures of a LoRA League training run as PNG files: training trends, "
            "per-agent performance bars, a capability radar, the payoff heatmap, a 3D surface of "
            "return over step x player, a return vs invalid-move scatter and a dashboard; for a "
            "population run also the meta-strategy, the PBT lineage and each member's "
            "hyperparameters. Reads only the files the run wrote (layout: "
            "trainers/run/layout.py)."
        ),
        epilog="Example: python -m experiments.report runs/team_battle__1__20261128-101500",
    )
    parser.add_argument(
        "run_dir",
        type=Path,
        help=f"run directory (holds {rf.RUN_MARKER}); a run that stopped early is drawn as far as "
        "it got",
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
        run = load_run(args.run_dir)
    except NotARunDirectoryError as err:
        logger.error("%s", err)
        return 2
    if run.missing:
        logger.warning("%s", run.describe_missing())
    written = write_report(run, args.out, args.dpi)
    print(f"wrote {len(written)} figures:")
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
