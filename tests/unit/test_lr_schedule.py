"""The lr decay schedule (`lr_decay_factor`) and its config check."""

from __future__ import annotations

import pytest

from trainers.config import ConfigError, TrainerConfig
from trainers.learn.step import lr_decay_factor


def test_constant_when_decay_starts_at_the_end():
    assert [lr_decay_factor(s, 10, 1.0) for s in range(1, 11)] == [1.0] * 10


def test_linear_decay_after_the_start_never_reaching_zero():
    factors = [lr_decay_factor(s, 10, 0.6) for s in range(1, 11)]
    assert factors[:6] == [1.0] * 6
    assert factors[6:] == pytest.approx([1.0, 0.75, 0.5, 0.25])
    assert lr_decay_factor(1, 4, 0.0) == 1.0 and lr_decay_factor(4, 4, 0.0) == 0.25


def test_decay_start_is_checked():
    with pytest.raises(ValueError):
        lr_decay_factor(1, 10, 1.5)
    with pytest.raises(ConfigError, match="lr_decay_start"):
        TrainerConfig.build(lr_decay_start=-0.1).validate()
