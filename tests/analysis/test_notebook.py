"""notebooks/analysis.ipynb: committed without outputs, runs top to bottom against a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.analysis.images import assert_valid_png
from trainers.run import layout as rf

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "analysis.ipynb"
FIGURES = ("trends", "performance", "radar", "payoff", "scatter", "surface")
#: A population run's own figures (`experiments.figures.population`), its only.
POPULATION_FIGURES = ("meta_strategy", "pbt_lineage", "pbt_hyperparameters")


def test_notebook_is_committed_without_outputs():
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and "LORA_LEAGUE_RUN_DIR" in code[0].source
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None


def execute_notebook(run_dir: Path | None, monkeypatch, cwd: Path | None = None):
    """Execute the notebook top to bottom against `run_dir` (None: LORA_LEAGUE_RUN_DIR unset)
    from `cwd` (default: its own folder); return it and the CellExecutionError it stopped on."""
    import nbclient
    import nbformat
    from nbclient.exceptions import CellExecutionError

    if run_dir is None:
        monkeypatch.delenv("LORA_LEAGUE_RUN_DIR", raising=False)
    else:
        monkeypatch.setenv("LORA_LEAGUE_RUN_DIR", str(run_dir))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    resources = {"metadata": {"path": str(cwd or NOTEBOOK.parent)}}
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources=resources)
    try:
        client.execute()
    except CellExecutionError as error:
        return nb, error
    return nb, None


def run_notebook(run_dir: Path, monkeypatch, population: bool = False) -> None:
    """Execute the notebook against `run_dir`; check every figure it saves (a population's
    own figures with `population`, and none of them without)."""
    out = Path(run_dir) / rf.FIGURES
    for old in out.glob("notebook_*.png"):
        old.unlink()
    nb, error = execute_notebook(run_dir, monkeypatch)
    assert error is None, error
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    for name in FIGURES + (POPULATION_FIGURES if population else ()):
        assert_valid_png(out / f"notebook_{name}.png")
    if not population:
        assert not [
            p
            for p in out.glob("notebook_*.png")
            if p.stem.removeprefix("notebook_") in POPULATION_FIGURES
        ]


@pytest.mark.slow
def test_notebook_runs_against_the_run(run_dir: Path, monkeypatch):
    run_notebook(run_dir, monkeypatch)


@pytest.mark.slow
def test_notebook_draws_a_population(population_run, monkeypatch):
    run_notebook(population_run.path, monkeypatch, population=True)
