"""The nested config and its command line: every field reachable, presets plus overrides, the
flat `config.json` round trip, validation with what to fix."""

from __future__ import annotations

import contextlib
import io

import pytest

from experiments import cli
from experiments.team_battle import PRESETS
from trainers.config import TrainerConfig


def help_text() -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        cli.parse(PRESETS, "team battle", "prog", ["--help"])
    return out.getvalue()


def test_help_lists_every_field_and_the_presets():
    text = help_text()
    for name in TrainerConfig.field_groups():
        if name == "env_kwargs":  # shown as one flag per key of the preset's kwargs
            assert "--questions" in text
            continue
        flag = name.replace("_", "-")
        assert f"--{flag}" in text or f"--no-{flag}" in text, name
    assert "smoke" in text and "gpu" in text


@pytest.mark.parametrize("spelling", [["smoke"], ["--preset", "smoke"], ["--preset=smoke"]])
def test_a_preset_then_an_override(spelling):
    cfg = cli.parse(PRESETS, "d", "prog", [*spelling, "--iterations", "3", "--lr", "1e-3"])
    assert cfg.run.iterations == 3 and cfg.learn.lr == 1e-3
    assert cfg.serving.model == "tiny"  # the rest is the preset's
    assert cli.parse(PRESETS, "d", "prog", []).serving.model == "default"
    with pytest.raises(SystemExit):
        cli.parse(PRESETS, "d", "prog", ["nope"])


def test_flat_names_route_to_their_groups_and_unknown_ones_fail():
    cfg = TrainerConfig.build(lr=1e-3, seed=7, bots=("random",), weight_decay=0.1)
    assert (cfg.learn.lr, cfg.run.seed, cfg.league.bots) == (1e-3, 7, ("random",))
    assert cfg.learn.learner_config(1.0).weight_decay == 0.1  # reaches the learner
    with pytest.raises(ValueError, match="unknown config fields"):
        TrainerConfig.build(nope=1)


def test_an_old_flat_config_json_loads_with_defaults_for_new_fields():
    old = TrainerConfig().to_dict()
    for new in ("weight_decay", "betas", "aggregation", "track_kl", "lora_dropout"):
        old.pop(new)
    cfg = TrainerConfig.from_dict(old)
    assert cfg == TrainerConfig()
    assert TrainerConfig.from_dict(cfg.to_dict()) == cfg


def test_learner_fields_are_validated_with_the_run():
    with pytest.raises(ValueError, match="unknown aggregation"):
        TrainerConfig.build(aggregation="sum").validate()
