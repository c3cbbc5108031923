"""The learning benchmarks measure the experiments' own recipes: each scenario is its
experiment's default preset, changed only where the run is kept and shown."""

from __future__ import annotations

from dataclasses import fields

import pytest

from benchmarks import learning
from experiments import competitive, cooperative, mixed, team_battle
from trainers.config import RunConfig

PRESET_OF = {
    "kuhn": competitive.DEFAULT,
    "signal": cooperative.DEFAULT,
    "team_battle": team_battle.DEFAULT,
    "dilemma": mixed.DEFAULT,
}


def test_every_scenario_of_a_mode_comes_from_its_experiment():
    assert set(learning.SCENARIOS) - set(PRESET_OF) == {"rps"}  # no experiment plays RPS


def test_measurement_only_fields_cannot_change_what_is_learned():
    kept = {f.name for f in fields(RunConfig)} - {"iterations", "seed", "resume"}
    assert set(learning.MEASUREMENT_ONLY) <= kept | {"experiment"}


@pytest.mark.parametrize("scenario", sorted(PRESET_OF))
def test_a_scenario_learns_with_its_experiments_default(scenario):
    bench = learning.SCENARIOS[scenario].config.to_dict()
    preset = PRESET_OF[scenario].to_dict()
    assert set(bench) == set(preset)
    differ = {k: (preset[k], bench[k]) for k in bench if bench[k] != preset[k]}
    assert set(differ) <= set(learning.MEASUREMENT_ONLY), differ


@pytest.mark.parametrize("module", [competitive, cooperative])
def test_the_default_recipes_are_valid_and_the_smoke_runs_stay_small(module):
    module.DEFAULT.validate()
    smoke = module.PRESETS["smoke"]
    smoke.validate()
    assert smoke.serving.model == "tiny" and smoke.run.iterations == 2
    assert smoke.rollout.games_per_iteration <= 4
