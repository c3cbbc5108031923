"""Token-level policy-gradient losses over padded [B, T] tensors.

Every loss takes per-token log-probs `logp` [B, T] of the sampled tokens under the policy being
trained (with grad), an advantage `adv` ([B] per sequence, broadcast over its tokens, or [B, T]),
and a `mask` [B, T] that is True exactly on the agent's own tokens (its moves in the episode's one
growing chat; prompts, other agents' text and padding are False). Values at masked-out positions
are never read, so padding may hold anything, -inf included.

Each returns `(loss, stats)`: a scalar to minimise and a dict of plain floats to log.

Aggregation (`aggregation=`):
- "token_mean": sum over all masked tokens / their count. Every token weighs the same, so long
  answers are not diluted (DAPO's choice).
- "sequence_mean": mean over tokens within each sequence, then over sequences (the original GRPO).
  Every episode weighs the same; sequences without a masked token are left out.

Estimators (Schulman, "Approximating KL Divergence", 2020), with log r = log q(x) - log p(x) for
x ~ p: k1 = -log r (unbiased, high variance, can be negative), k2 = (log r)^2 / 2 (biased, low
variance), k3 = (r - 1) - log r (unbiased, low variance, never negative).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Literal

import torch

__all__ = [
    "AGGREGATIONS",
    "KL_ESTIMATORS",
    "LOSSES",
    "aggregate",
    "approx_kl",
    "decoupled_ppo_loss",
    "kl_penalty",
    "policy_loss",
    "ppo_clip_loss",
    "reinforce_loss",
]

Aggregation = Literal["token_mean", "sequence_mean"]
AGGREGATIONS: tuple[str, ...] = ("token_mean", "sequence_mean")
KL_ESTIMATORS: tuple[str, ...] = ("k1", "k2", "k3")
Stats = dict[str, float]


# ALGO LOGIC: shapes, masking and aggregation shared by every loss


def _check_inputs(logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    if logp.dim() != 2:
        raise ValueError(f"logp must be [B, T], got shape {tuple(logp.shape)}")
    if mask.shape != logp.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} != logp shape {tuple(logp.shape)}")
    return mask.bool()


def _broadcast_adv(adv: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    adv = torch.as_tensor(adv, dtype=logp.dtype, device=logp.device).detach()
    if adv.dim() == 1:
        adv = adv.unsqueeze(-1)
    if adv.dim() != 2 or adv.shape[0] != logp.shape[0] or adv.shape[1] not in (1, logp.shape[1]):
        raise ValueError(f"adv must be [B] or [B, T] for logp {tuple(logp.shape)}")
    return adv.expand_as(logp)


def _clean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero outside the mask, so that -inf padding never turns into nan (in values or grads)."""
    return torch.where(mask, values, torch.zeros_like(values))


def aggregate(values: torch.Tensor, mask: torch.Tensor, aggregation: Aggregation) -> torch.Tensor:
    """Reduce per-token `values` [B, T] over `mask` to a scalar (see the module docstring)."""
    mask = mask.bool()
    values = _clean(values, mask)
    weights = mask.to(values.dtype)
    if aggregation == "token_mean":
        return values.sum() / weights.sum().clamp(min=1.0)
    if aggregation == "sequence_mean":
        per_seq = values.sum(-1) / weights.sum(-1).clamp(min=1.0)
        has_tokens = weights.sum(-1) > 0
        return per_seq.sum() / has_tokens.sum().clamp(min=1).to(values.dtype)
    raise ValueError(
        f"unknown aggregation {aggregation!r}; choose one of {', '.join(AGGREGATIONS)}"
    )


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> float:
    if not bool(mask.any()):
        return 0.0
    return float(values.detach()[mask].float().mean())


def _masked_extreme(values: torch.Tensor, mask: torch.Tensor, largest: bool) -> float:
    if not bool(mask.any()):
        return 0.0
    picked = values.detach()[mask]
    return float(picked.max() if largest else picked.min())


def _k3(log_r: torch.Tensor) -> torch.Tensor:
    return torch.expm1(log_r) - log_r


def _clipped_surrogate(
    log_ratio: torch.Tensor, adv: torch.Tensor, clip_eps: float, clip_eps_high: float | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO's pessimistic objective min(r A, clip(r) A) per token, the ratio, and where it clips.

    "Clipped" means the clip is active: the gradient of that token is zero (r above 1 + eps with
    A > 0, or below 1 - eps with A < 0), which is the fraction TRL logs.
    """
    high = clip_eps if clip_eps_high is None else clip_eps_high
    if clip_eps <= 0 or high <= 0:
        raise ValueError(f"clip epsilons must be positive, got {clip_eps} and {high}")
    ratio = torch.exp(log_ratio)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + high) * adv
    objective = torch.minimum(unclipped, clipped)
    active = ((ratio > 1.0 + high) & (adv > 0)) | ((ratio < 1.0 - clip_eps) & (adv < 0))
    return objective, ratio, active


def approx_kl(logp: torch.Tensor, old_logp: torch.Tensor, mask: torch.Tensor) -> float:
    """k3 estimate of KL(old || new) on tokens sampled from old, as CleanRL logs it."""
    return _masked_mean(_k3(logp.detach() - old_logp), mask)


def _ratio_stats(
    ratio: torch.Tensor, log_ratio: torch.Tensor, active: torch.Tensor, mask: torch.Tensor
) -> Stats:
    return {
        "clip_fraction": _masked_mean(active.float(), mask),
        "approx_kl": _masked_mean(_k3(log_ratio), mask),  # as approx_kl()
        "ratio_mean": _masked_mean(ratio, mask),
        "ratio_min": _masked_extreme(ratio, mask, largest=False),
        "ratio_max": _masked_extreme(ratio, mask, largest=True),
    }


# ALGO LOGIC: the losses


def reinforce_loss(
    logp: torch.Tensor,
    adv: torch.Tensor,
    mask: torch.Tensor,
    aggregation: Aggregation = "token_mean",
) -> tuple[torch.Tensor, Stats]:
    """REINFORCE: minimise -A * log pi(token). On-policy only: no ratio, no clip.

    With group or role baselines in `adv` this is GRPO without the clip (on fresh samples the
    ratio is 1, so the two coincide on the first epoch).
    """
    mask = _check_inputs(logp, mask)
    adv = _broadcast_adv(adv, logp)
    logp = _clean(logp, mask)
    loss = aggregate(-adv * logp, mask, aggregation)
    stats = {
        "loss": float(loss.detach()),
        "adv_mean": _masked_mean(adv, mask),
        "logp_mean": _masked_mean(logp, mask),
        "tokens": float(mask.sum()),
    }
    return loss, stats


def ppo_clip_loss(
    logp: torch.Tensor,
    behaviour_logp: torch.Tensor,
    adv: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float = 0.2,
    clip_eps_high: float | None = None,
    aggregation: Aggregation = "token_mean",
) -> tuple[torch.Tensor, Stats]:
    """PPO-clip with the behaviour log-probs the server returned with each token.

    ratio = pi(token) / pi_behaviour(token);
    loss = -min(ratio A, clip(ratio, 1 - eps, 1 + eps_high) A).
    `clip_eps_high` (DAPO's clip-higher) defaults to `clip_eps`. The behaviour log-probs are
    detached: they are data, not a function of the weights being trained.
    """
    mask = _check_inputs(logp, mask)
    if behaviour_logp.shape != logp.shape:
        raise ValueError("behaviour_logp must have logp's shape")
    adv = _broadcast_adv(adv, logp)
    log_ratio = _clean(logp, mask) - _clean(behaviour_logp.detach(), mask)
    objective, ratio, active = _clipped_surrogate(log_ratio, adv, clip_eps, clip_eps_high)
    loss = aggregate(-objective, mask, aggregation)
    stats = {"loss": float(loss.detach()), **_ratio_stats(ratio, log_ratio, active, mask)}
    stats["tokens"] = float(mask.sum())
    return loss, stats


def decoupled_ppo_loss(
    logp: torch.Tensor,
    proximal_logp: torch.Tensor,
    behaviour_logp: torch.Tensor,
    adv: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float = 0.2,
    clip_eps_high: float | None = None,
    weight_cap: float | None = None,
    cap_mode: Literal["mask", "truncate"] = "mask",
    aggregation: Aggregation = "token_mean",
) -> tuple[torch.Tensor, Stats]:
    """AReaL's decoupled PPO objective, for samples produced by an older (stale) policy version.

    PPO's clip does two jobs at once: it keeps the update close to the policy that produced the
    data, and it corrects for off-policy sampling. With asynchronous rollouts the behaviour policy
    may be several versions old, so AReaL decouples them:

        loss = -w * min(r A, clip(r, 1 - eps, 1 + eps_high) A),
        r = pi(token) / pi_proximal(token),  w = sg[pi_proximal(token) / pi_behaviour(token)]

    The trust region is around the proximal policy (the learner's weights before this update,
    recomputed on the sampled tokens); the importance weight w corrects from behaviour to proximal
    and is a detached constant. `weight_cap` bounds w: `cap_mode="mask"` drops tokens with w above
    the cap (AReaL's `behav_imp_weight_cap`; they still count in the token-mean denominator),
    `"truncate"` uses min(w, cap) (truncated importance sampling). With proximal == behaviour,
    w = 1 and this is exactly `ppo_clip_loss`.
    """
    mask = _check_inputs(logp, mask)
    if proximal_logp.shape != logp.shape or behaviour_logp.shape != logp.shape:
        raise ValueError("proximal_logp and behaviour_logp must have logp's shape")
    if weight_cap is not None and weight_cap <= 0:
        raise ValueError(f"weight_cap must be positive, got {weight_cap}")
    if cap_mode not in ("mask", "truncate"):
        raise ValueError(f"cap_mode must be 'mask' or 'truncate', got {cap_mode!r}")
    adv = _broadcast_adv(adv, logp)
    proximal = _clean(proximal_logp.detach(), mask)
    behaviour_log_w = proximal - _clean(behaviour_logp.detach(), mask)
    weight = torch.exp(behaviour_log_w)
    over_cap = torch.zeros_like(mask)
    if weight_cap is not None:
        over_cap = (weight > weight_cap) & mask
        if cap_mode == "mask":
            weight = torch.where(over_cap, torch.zeros_like(weight), weight)
        else:
            weight = weight.clamp(max=weight_cap)
    log_ratio = _clean(logp, mask) - proximal
    objective, ratio, active = _clipped_surrogate(log_ratio, adv, clip_eps, clip_eps_high)
    loss = aggregate(-weight * objective, mask, aggregation)
    stats = {"loss": float(loss.detach()), **_ratio_stats(ratio, log_ratio, active, mask)}
    stats.update(
        {
            "behaviour_kl": _masked_mean(_k3(behaviour_log_w), mask),
            "weight_mean": _masked_mean(weight, mask),
            "weight_max": _masked_extreme(weight, mask, largest=True),
            "capped_fraction": _masked_mean(over_cap.float(), mask),
            "tokens": float(mask.sum()),
        }
    )
    return loss, stats


def kl_penalty(
    logp: torch.Tensor,
    ref_logp: torch.Tensor,
    mask: torch.Tensor,
    kind: Literal["k1", "k2", "k3"] = "k3",
    aggregation: Aggregation = "token_mean",
) -> tuple[torch.Tensor, Stats]:
    """KL(pi || pi_ref) estimated on the sampled tokens, to add to a loss as `kl_coef * kl`.

    log r = ref_logp - logp per token; k1 = -log r, k2 = (log r)^2 / 2, k3 = exp(log r) - 1 - log r.
    k3 (the default, as in GRPO) is unbiased when tokens come from pi and never negative. The
    reference log-probs (the base model, adapters off) are detached.
    """
    mask = _check_inputs(logp, mask)
    if ref_logp.shape != logp.shape:
        raise ValueError("ref_logp must have logp's shape")
    log_r = _clean(ref_logp.detach(), mask) - _clean(logp, mask)
    if kind == "k1":
        per_token = -log_r
    elif kind == "k2":
        per_token = 0.5 * log_r.square()
    elif kind == "k3":
        per_token = _k3(log_r)
    else:
        raise ValueError(f"unknown KL estimator {kind!r}; choose one of {', '.join(KL_ESTIMATORS)}")
    kl = aggregate(per_token, mask, aggregation)
    return kl, {"kl": float(kl.detach()), "kl_max": _masked_extreme(per_token, mask, largest=True)}


# ALGO LOGIC: one entry point by name, for a trainer config field `loss: str`

LOSSES: Mapping[str, Callable[..., tuple[torch.Tensor, Stats]]] = MappingProxyType(
    {
        "reinforce": reinforce_loss,
        "ppo_clip": ppo_clip_loss,
        "decoupled_ppo": decoupled_ppo_loss,
    }
)


def policy_loss(
    name: str,
    *,
    logp: torch.Tensor,
    adv: torch.Tensor,
    mask: torch.Tensor,
    behaviour_logp: torch.Tensor | None = None,
    proximal_logp: torch.Tensor | None = None,
    clip_eps: float = 0.2,
    clip_eps_high: float | None = None,
    weight_cap: float | None = None,
    cap_mode: Literal["mask", "truncate"] = "mask",
    aggregation: Aggregation = "token_mean",
) -> tuple[torch.Tensor, Stats]:
    """Call the loss registered as `name`, passing it the inputs it needs.

    `ppo_clip` needs `behaviour_logp`; `decoupled_ppo` needs `behaviour_logp` and `proximal_logp`.
    Arguments a loss does not use are ignored, so one config can switch losses by name.
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    if name == "reinforce":
        return reinforce_loss(logp, adv, mask, aggregation=aggregation)
    if behaviour_logp is None:
        raise ValueError(f"loss {name!r} needs behaviour_logp (the server's per-token log-probs)")
    if name == "ppo_clip":
        return ppo_clip_loss(
            logp, behaviour_logp, adv, mask, clip_eps, clip_eps_high, aggregation=aggregation
        )
    if proximal_logp is None:
        raise ValueError(
            "loss 'decoupled_ppo' needs proximal_logp (the learner's log-probs before this update)"
        )
    return decoupled_ppo_loss(
        logp,
        proximal_logp,
        behaviour_logp,
        adv,
        mask,
        clip_eps,
        clip_eps_high,
        weight_cap=weight_cap,
        cap_mode=cap_mode,
        aggregation=aggregation,
    )
