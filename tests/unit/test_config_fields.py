"""Each config field is defined once, with one default; choice fields are `Literal`s that the
command line lists and checks, equal to the registries they name; a config file with a field
this code does not know is refused, naming it."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import io
import json
from collections import defaultdict

import pytest

from experiments import cli
from experiments.team_battle import PRESETS
from trainers.config import ConfigError, LearnConfig, TrainerConfig
from trainers.learn.settings import LearnerConfig, LoRASettings

CHOICES = TrainerConfig.choices()


def defining_classes() -> dict[str, set[str]]:
    """Field name -> the classes whose own body defines it (inherited fields count once)."""
    roots = [g.default_factory for g in dataclasses.fields(TrainerConfig)]
    classes = {c for root in (*roots, LearnerConfig, LoRASettings) for c in root.__mro__}
    out = defaultdict(set)
    for cls in classes:
        for name in inspect.get_annotations(cls):
            if name in {f.name for f in dataclasses.fields(cls)}:
                out[name].add(cls.__qualname__)
    return out


def test_no_field_is_defined_twice():
    twice = {name: owners for name, owners in defining_classes().items() if len(owners) > 1}
    # The one exception is not a copy: the learner scores under the rollout's temperature,
    # which `learner_config(temperature)` takes as a required argument, never by name.
    assert twice == {"temperature": {"LearnerConfig", "RolloutConfig"}}


def test_the_run_sets_every_learner_field_but_the_learners_own():
    """A learner field the config lacked would silently keep the learner's default."""
    learner = {f.name for f in dataclasses.fields(LearnerConfig)}
    lora = {f.name for f in dataclasses.fields(LoRASettings)}
    assert learner - set(TrainerConfig.field_groups()) == {"cast_base", "device"}
    assert lora <= set(TrainerConfig.field_groups())


def test_a_hand_built_learner_has_the_runs_defaults():
    # kept: kl_coef 0.02 and learner_dtype bfloat16, the values every run used
    assert LearnConfig().learner_config(temperature=1.0) == LearnerConfig()
    assert LearnConfig().lora_settings() == LoRASettings()
    assert (LearnerConfig().kl_coef, LearnerConfig().learner_dtype) == (0.02, "bfloat16")


def test_every_config_field_reaches_the_learner():
    changed = LearnConfig(kl_coef=0.5, learner_dtype="float32", loss="reinforce", lora_rank=4)
    config, lora = changed.learner_config(temperature=2.0), changed.lora_settings()
    assert (config.kl_coef, config.learner_dtype, config.loss) == (0.5, "float32", "reinforce")
    assert (config.temperature, lora.lora_rank) == (2.0, 4)


def registries() -> dict[str, tuple[str, ...]]:
    from agents.serving import BACKENDS
    from trainers.league.matchmaking import MATCHMAKERS
    from trainers.league.modes import MODES, SHARES
    from trainers.learn.algorithms import AGGREGATIONS, KL_ESTIMATORS, LOSSES
    from trainers.learn.estimators import ESTIMATORS
    from trainers.learn.settings import DTYPES

    return {
        "mode": MODES,
        "share": SHARES,
        "backend": BACKENDS,
        "advantage": tuple(ESTIMATORS),
        "matchmaking": tuple(MATCHMAKERS),
        "loss": tuple(LOSSES),
        "aggregation": tuple(AGGREGATIONS),
        "kl_estimator": tuple(KL_ESTIMATORS),
        "learner_dtype": DTYPES,
    }


def test_choice_fields_are_the_registries():
    expected = registries()
    assert set(expected) | {"dtype"} <= set(CHOICES)
    for name, registry in expected.items():
        assert CHOICES[name] == tuple(registry), name


def help_text() -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        cli.parse(PRESETS, "team battle", "prog", ["--help"])
    return out.getvalue()


def test_help_lists_the_choices_of_every_choice_field():
    text = help_text()
    for name, allowed in CHOICES.items():
        assert f"--{name.replace('_', '-')} {{{','.join(allowed)}}}" in text, name


@pytest.mark.parametrize("name", sorted(CHOICES))
def test_the_command_line_refuses_a_bad_choice(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.parse(PRESETS, "d", "prog", [f"--{name.replace('_', '-')}", "nope"])
    assert exit_.value.code == 2 and "nope" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(CHOICES))
def test_validate_refuses_a_bad_choice_set_in_python(name):
    message = f"unknown {name} 'nope'; choose one of {CHOICES[name][0]}"
    with pytest.raises(ConfigError, match=message):
        TrainerConfig.build(**{name: "nope"}).validate()


def test_a_config_file_with_an_unknown_field_is_refused_naming_it():
    data = {**TrainerConfig().to_dict(), "kl_coeff": 0.1, "old_flag": True}
    with pytest.raises(ConfigError, match=r"unknown config fields \['kl_coeff', 'old_flag'\]"):
        TrainerConfig.from_dict(data)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_a_config_file_written_now_loads_back(preset):
    cfg = PRESETS[preset]
    assert TrainerConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_a_learner_error_found_by_validate_is_a_config_error():
    with pytest.raises(ConfigError, match="kl_coef must be >= 0"):
        TrainerConfig.build(kl_coef=-1.0).validate()
