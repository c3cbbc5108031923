"""A population run's figures (meta-strategy, PBT lineage, hyperparameters per member): drawn from
what the run wrote, one bar, arrow or line per thing; none at all for the single learner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.text import Annotation

from experiments.analysis import (
    hyperparameter_trends,
    lineage_frame,
    load_run,
    meta_frame,
    population_members,
)
from experiments.report import (
    FIGURE_FILES,
    POPULATION_FIGURE_FILES,
    fig_hyperparameters,
    fig_lineage,
    fig_meta,
    palette_of,
    population_figures,
    write_report,
)
from tests.analysis.images import assert_valid_png
from tests.analysis.population_run import COPIES, MEMBERS


@pytest.fixture(scope="module")
def population(population_run):
    return load_run(population_run.path)


def test_population_tables_read_league_json_and_tensorboard(population, population_run):
    assert population_members(population.league) == list(MEMBERS)
    meta = meta_frame(population.league)
    assert list(meta.columns) == ["alpharank", "nash"]
    assert list(meta.index) == [*MEMBERS, "red@v5"]
    for solver, probabilities in population_run.meta.items():
        assert meta[solver].to_dict() == pytest.approx(probabilities)
        assert meta[solver].sum() == pytest.approx(1.0)
    lineage = lineage_frame(population.league)
    assert list(lineage[["step", "member", "copied_from"]].itertuples(index=False, name=None)) == [
        (step, member, source) for step, member, source, _ in COPIES
    ]
    assert list(lineage["lr_after"]) == [new["lr"] for *_, new in COPIES]
    assert lineage.loc[0, "lr_before"] == 1e-3
    trends = hyperparameter_trends(population.scalars)
    assert sorted(trends) == ["kl_coef", "lr"]  # pbt/copies is not a hyperparameter
    for (name, member), values in population_run.hyperparameters.items():
        assert trends[name][member].to_dict() == pytest.approx(values)


def test_single_learner_has_no_population_tables_nor_figures(synthetic_run):
    run = load_run(synthetic_run.path)
    assert population_members(run.league) == []
    assert meta_frame(run.league).empty and lineage_frame(run.league).empty
    assert hyperparameter_trends(run.scalars) == {}
    assert population_figures(run) == {}


def test_meta_figure_draws_one_bar_per_player_and_solver(population, population_run):
    fig = fig_meta(population, palette_of(population))
    axes = [ax for ax in fig.axes if ax.patches]
    assert len(axes) == 2
    for ax, (solver, probabilities) in zip(axes, population_run.meta.items(), strict=True):
        assert solver.replace("alpharank", "alpha-rank").lower() in ax.get_title().lower()
        heights = [bar.get_height() for bar in ax.patches]
        assert heights == pytest.approx(list(probabilities.values()))
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert labels == list(probabilities)
        hatched = [bar.get_hatch() for bar in ax.patches]
        assert hatched == [None, None, "//"]  # the snapshot red@v5


def test_lineage_figure_draws_an_arrow_per_copy(population):
    fig = fig_lineage(population, palette_of(population))
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == list(MEMBERS)
    row = {m: i for i, m in enumerate(MEMBERS)}
    arrows = [t for t in ax.texts if isinstance(t, Annotation) and t.arrow_patch is not None]
    assert len(arrows) == len(COPIES)
    for arrow, (step, member, source, _) in zip(arrows, COPIES, strict=True):
        assert arrow.xy == pytest.approx((step, row[member]))  # the head at the copy
        assert arrow.xyann == pytest.approx((step, row[source]))  # the tail at its source
    labels = [t.get_text() for t in ax.texts if not isinstance(t, Annotation)]
    assert labels == [f"lr {new['lr']:.3g}" for *_, new in COPIES]
    (markers,) = ax.collections[1:]  # after the members' rows
    assert len(markers.get_offsets()) == len(COPIES)
    assert ax.get_xlim()[1] >= 4  # the run's last step


def test_hyperparameter_figure_draws_a_line_per_member(population, population_run):
    fig = fig_hyperparameters(population, palette_of(population))
    assert len(fig.axes) == 2
    for ax, name in zip(fig.axes, ("kl_coef", "lr"), strict=True):
        assert name in ax.get_title()
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == list(MEMBERS)
        for line in lines:
            expected = population_run.hyperparameters[(name, line.get_label())]
            assert list(line.get_xdata()) == list(expected)
            assert np.asarray(line.get_ydata()) == pytest.approx(list(expected.values()))
        (stars,) = ax.collections
        assert len(stars.get_offsets()) == len(COPIES)
    assert fig.axes[1].get_yscale() == "log"


def test_report_draws_population_figures_for_a_population_only(
    population, synthetic_run, tmp_path: Path
):
    written = write_report(population, tmp_path / "population")
    assert [p.name for p in written] == [*FIGURE_FILES, *POPULATION_FIGURE_FILES]
    for path in written:
        assert_valid_png(path)
    single = write_report(synthetic_run.path, tmp_path / "single")
    assert [p.name for p in single] == list(FIGURE_FILES)
    assert sorted(p.name for p in (tmp_path / "single").iterdir()) == sorted(FIGURE_FILES)
