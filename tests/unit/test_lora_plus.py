"""LoRA+: B matrices learn at lr * lora_plus_ratio, A matrices at lr (a real tiny learner)."""

from __future__ import annotations

import pytest
import torch

from tests.unit.test_learner import make_learner, on_policy, random_samples
from trainers.learn.settings import LearnerConfig


def _largest_moves(learner, before: dict[str, torch.Tensor]) -> tuple[float, float]:
    """The largest change of any A entry and of any B entry since `before`."""
    after, _ = learner.adapter_weights("red")
    moved = {k: float((after[k] - before[k]).abs().max()) for k in before}
    a = max(v for k, v in moved.items() if "lora_A" in k)
    b = max(v for k, v in moved.items() if "lora_B" in k)
    return a, b


@pytest.mark.parametrize("ratio", [1.0, 4.0])
def test_first_adam_step_moves_b_by_lr_times_ratio(tiny_model, ratio):
    # Adam's first step moves every parameter with a gradient by lr (its update is m / sqrt(v)
    # = +-1 after bias correction); B starts at 0, so A has no gradient yet and stays put.
    learner = make_learner(tiny_model, lr=1e-3, lora_plus_ratio=ratio, max_grad_norm=None)
    samples = on_policy(learner, "red", random_samples(learner, n=4))
    before, _ = learner.adapter_weights("red")
    learner.update("red", samples, kl_coef=0.0, lr_scale=0.5)
    a, b = _largest_moves(learner, before)
    assert a == 0.0
    assert b == pytest.approx(1e-3 * 0.5 * ratio, rel=1e-3)


def test_lora_plus_ratio_must_be_positive():
    with pytest.raises(ValueError, match="lora_plus_ratio"):
        LearnerConfig(lora_plus_ratio=0.0)


def test_plain_lora_keeps_one_parameter_group(tiny_model):
    """Ratio 1 builds the optimizer as before LoRA+ existed, so older checkpoints still load."""
    plain = make_learner(tiny_model, lora_plus_ratio=1.0)
    plus = make_learner(tiny_model, lora_plus_ratio=4.0)
    assert len(plain._optimizers["red"].param_groups) == 1
    assert [g["lr_ratio"] for g in plus._optimizers["red"].param_groups] == [1.0, 4.0]
