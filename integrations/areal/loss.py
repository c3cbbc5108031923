"""LoRA League's decoupled PPO loss in AReaL's terms: the documented mapping, tested for parity.

`trainers.learn.algorithms.losses.decoupled_ppo_loss` (aggregation "token_mean") and AReaL's
`areal.utils.functional.ppo_actor_loss_fn` compute the same loss and gradients when called as

    ours                             AReaL
    logp, proximal_logp,             logprobs, proximal_logprobs,
    behaviour_logp, adv [B, T]       old_logprobs, advantages [B, T]
    mask                             loss_mask
    clip_eps, clip_eps_high          eps_clip, eps_clip_higher
    weight_cap=None                  rejection_sampling: token level, ratio metric, upper=1e9
    weight_cap=c, cap_mode="mask"    rejection_sampling: token level, ratio, upper=c, action="mask"
    weight_cap=c, "truncate"         rejection_sampling: token level, ratio, upper=c, action="clamp"
    (no dual clip)                   c_clip=None, importance_sampling_level="token"

`weight_cap=None` is not AReaL's `rejection_sampling=None`: that drops the behaviour weight
pi_proximal / pi_behaviour altogether (standard PPO around the proximal policy), where ours keeps
it uncapped; an upper bound of 1e9 keeps it (it differs only for a weight above 1e9, a log-ratio
above 20.7). AReaL wants a cap above 1 (below, every token whose policy moved would be capped).
Advantages per sequence ([B]) are broadcast over the tokens first; AReaL takes [B, T].
"""

from __future__ import annotations

from typing import Any, Literal

#: AReaL's upper bound standing for our "no cap" (`weight_cap=None`).
NO_CAP = 1e9


def areal_loss_kwargs(
    clip_eps: float = 0.2,
    clip_eps_high: float | None = None,
    weight_cap: float | None = None,
    cap_mode: Literal["mask", "truncate"] = "mask",
) -> dict[str, Any]:
    """The keyword arguments of AReaL's `ppo_actor_loss_fn` (beside the tensors) under which it
    computes `decoupled_ppo_loss(..., clip_eps, clip_eps_high, weight_cap, cap_mode)`."""
    from areal.api.cli_args import RejectionSamplingConfig

    actions = {"mask": "mask", "truncate": "clamp"}
    if cap_mode not in actions:
        raise ValueError(f"cap_mode must be 'mask' or 'truncate', got {cap_mode!r}")
    rejection = RejectionSamplingConfig(
        level="token",
        action=actions[cap_mode],
        metric="ratio",
        upper=NO_CAP if weight_cap is None else float(weight_cap),
    )
    return {
        "eps_clip": clip_eps,
        "eps_clip_higher": clip_eps_high,
        "c_clip": None,
        "rejection_sampling": rejection,
        "importance_sampling_level": "token",
    }
