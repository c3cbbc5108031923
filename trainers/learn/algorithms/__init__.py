"""Policy-gradient algorithms as pure functions of tensors.

- `advantages`: group baselines (GRPO-style), SPIRAL's role-conditioned EMA baseline and a
  per-decision (state) baseline.
- `losses`: REINFORCE, PPO-clip, AReaL's decoupled PPO and the k1/k2/k3 KL penalty over padded
  [B, T] token log-probs with a mask of the agent's own tokens; `LOSSES` / `policy_loss(name, ...)`
  select one by name.
- `adaptive`: a per-adapter controller of the LR scale and the KL coefficient.

This is the only part of `trainers` that imports torch.
"""

from __future__ import annotations

from trainers.learn.algorithms.adaptive import AdaptiveConfig, AdaptiveLoRAController, Change
from trainers.learn.algorithms.advantages import (
    DecisionBaseline,
    RoleBaseline,
    group_baseline_advantages,
)
from trainers.learn.algorithms.losses import (
    AGGREGATIONS,
    KL_ESTIMATORS,
    LOSSES,
    aggregate,
    approx_kl,
    decoupled_ppo_loss,
    kl_penalty,
    policy_loss,
    ppo_clip_loss,
    reinforce_loss,
)

__all__ = [
    "AGGREGATIONS",
    "KL_ESTIMATORS",
    "LOSSES",
    "AdaptiveConfig",
    "AdaptiveLoRAController",
    "Change",
    "DecisionBaseline",
    "RoleBaseline",
    "aggregate",
    "approx_kl",
    "decoupled_ppo_loss",
    "group_baseline_advantages",
    "kl_penalty",
    "policy_loss",
    "ppo_clip_loss",
    "reinforce_loss",
]
