"""The adaptive LR / KL controller follows its documented rule, step by step."""

from __future__ import annotations

import json

import pytest

from trainers.learn.algorithms import AdaptiveConfig, AdaptiveLoRAController, Change

KL_ONLY = AdaptiveConfig(kl_target=0.1, kl_coef=0.05, adapt_lr=False)
LR_ONLY = AdaptiveConfig(adapt_kl=False, warmup_steps=5, lr_cooldown=5)


def test_kl_above_band_doubles_below_band_halves_inside_keeps():
    ctl = AdaptiveLoRAController("red", KL_ONLY)
    (up,) = ctl.step(0.0, kl=0.16)  # > 0.1 * 1.5
    assert (up.name, up.old, up.new, up.adapter, up.step) == ("kl_coef", 0.05, 0.1, "red", 1)
    assert ctl.step(0.0, kl=0.1) == []  # inside [0.0667, 0.15]
    (down,) = ctl.step(0.0, kl=0.05)  # < 0.1 / 1.5
    assert down.new == pytest.approx(0.05) and ctl.kl_coef == pytest.approx(0.05)
    assert ctl.step(0.0, kl=None) == [] and ctl.step(0.0, kl=float("nan")) == []


def test_kl_coef_stays_within_bounds_and_a_clamped_noop_is_not_reported():
    cfg = AdaptiveConfig(kl_target=0.1, kl_coef=0.5, kl_coef_max=0.8, adapt_lr=False)
    ctl = AdaptiveLoRAController("blue", cfg)
    assert [c.new for c in ctl.step(0.0, kl=1.0)] == [0.8]
    assert ctl.step(0.0, kl=1.0) == []
    assert ctl.kl_coef == 0.8


def test_stagnating_reward_raises_lr_after_warmup_and_respects_cooldown():
    ctl = AdaptiveLoRAController("red", LR_ONLY)
    changes = [(c.step, c.new) for _ in range(12) for c in ctl.step(1.0)]
    assert changes == [(5, pytest.approx(1.2)), (10, pytest.approx(1.44))]


def test_falling_reward_lowers_lr_and_rising_reward_keeps_it():
    falling = AdaptiveLoRAController("red", LR_ONLY)
    changes = [c for r in range(10, 4, -1) for c in falling.step(float(r))]
    assert [(c.step, c.name, c.new) for c in changes] == [(5, "lr_scale", 0.5)]
    assert "falling" in changes[0].reason
    rising = AdaptiveLoRAController("red", LR_ONLY)
    assert [c for r in range(12) for c in rising.step(float(r))] == []
    assert rising.reward_slope > 0


def test_lr_not_raised_while_kl_is_too_high():
    cfg = AdaptiveConfig(kl_target=0.1, warmup_steps=2, lr_cooldown=0)
    ctl = AdaptiveLoRAController("red", cfg)
    for _ in range(4):
        assert all(c.name == "kl_coef" for c in ctl.step(1.0, kl=1.0))
    assert ctl.lr_scale == 1.0
    assert any(c.name == "lr_scale" for c in ctl.step(1.0, kl=0.1))


def test_lr_scale_bounded():
    cfg = AdaptiveConfig(adapt_kl=False, warmup_steps=2, lr_cooldown=0, lr_scale_max=1.5)
    ctl = AdaptiveLoRAController("red", cfg)
    for _ in range(20):
        ctl.step(0.0)
    assert ctl.lr_scale == 1.5


def test_state_dict_json_round_trip_continues_identically():
    a = AdaptiveLoRAController("red", AdaptiveConfig(warmup_steps=3, lr_cooldown=2))
    rewards = [0.0, 0.5, 0.4, 0.4, 0.4, 0.39, 0.2, 0.1, 0.1, 0.1]
    kls = [0.01, 0.05, 0.02, 0.02, 0.03, 0.04, 0.1, 0.01, 0.02, 0.02]
    for r, k in zip(rewards[:4], kls[:4], strict=True):
        a.step(r, k)
    b = AdaptiveLoRAController("red", AdaptiveConfig(warmup_steps=3, lr_cooldown=2))
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    for r, k in zip(rewards[4:], kls[4:], strict=True):
        assert a.step(r, k) == b.step(r, k)
    assert (a.kl_coef, a.lr_scale, a.steps) == (b.kl_coef, b.lr_scale, b.steps)


def test_change_is_loggable_and_config_is_validated():
    change = Change("red", 3, "kl_coef", 0.1, 0.2, "kl high")
    assert json.loads(json.dumps(change.to_dict()))["new"] == 0.2
    with pytest.raises(ValueError):
        AdaptiveConfig(kl_tolerance=1.0)
    with pytest.raises(ValueError):
        AdaptiveConfig(lr_scale=5.0, lr_scale_max=3.0)
