"""A run's figures, one module per family; each `fig_*(run, palette)` returns a
`matplotlib.figure.Figure` (no pyplot state), so a notebook and the report draw the same ones.

- `common`: the player palette, the empty-panel note, per-player series;
- `trends`: training trends over steps, evaluation against fixed references;
- `players`: per-player bars, return against invalid moves, return over step x player (3D);
- `league`: capability radar, payoff heatmap;
- `population`: a population's meta-strategy, PBT lineage and hyperparameters per member;
- `dashboard`: the main panels on one page.
"""

from experiments.figures.common import Palette, palette_of, player_palette
from experiments.figures.dashboard import fig_dashboard
from experiments.figures.league import fig_heatmap, fig_radar
from experiments.figures.players import fig_performance, fig_scatter, fig_surface
from experiments.figures.population import (
    POPULATION_FIGURES,
    fig_hyperparameters,
    fig_lineage,
    fig_meta,
    population_figures,
)
from experiments.figures.trends import fig_trends

__all__ = [
    "POPULATION_FIGURES",
    "Palette",
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
    "palette_of",
    "player_palette",
    "population_figures",
]
