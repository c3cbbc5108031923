"""The training objective of one scored micro-batch: the configured policy loss
(`algorithms.LOSSES`), the entropy bonus and the KL penalty to the base model, with the stats
`Learner.update()` reports."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from trainers.learn.algorithms import aggregate, approx_kl, kl_penalty, policy_loss
from trainers.learn.samples import Batch, pad_flat
from trainers.learn.scoring import entropy
from trainers.learn.settings import LearnerConfig

__all__ = ["micro_batch_loss"]


def micro_batch_loss(
    cfg: LearnerConfig,
    batch: Batch,
    flat: torch.Tensor,
    rows: torch.Tensor,
    kl_coef: float,
    reference: Callable[[], torch.Tensor],
) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of `batch` from its scores (`Scorer.score`: [N] log-probs `flat` and their [N, V]
    distributions `rows`) and its stats. `reference()` gives the padded base-model log-probs; it
    is called only when the KL is needed (kl_coef > 0 or `track_kl`)."""
    if cfg.entropy_coef > 0:
        entropy_flat = entropy(rows)
    else:
        with torch.no_grad():  # only logged: no [N, V] graph kept for it
            entropy_flat = entropy(rows.detach())
    logp, mask = pad_flat(flat, batch.counts)
    mean_entropy = aggregate(pad_flat(entropy_flat, batch.counts)[0], mask, cfg.aggregation)
    behaviour, _ = pad_flat(batch.behaviour, batch.counts)
    loss, stats = policy_loss(
        cfg.loss,
        logp=logp,
        adv=pad_flat(batch.advantages, batch.counts)[0],
        mask=mask,
        behaviour_logp=behaviour,
        proximal_logp=logp.detach(),  # the weights before this step
        clip_eps=cfg.clip_eps,
        clip_eps_high=cfg.clip_eps_high,
        weight_cap=cfg.weight_cap,
        aggregation=cfg.aggregation,
    )
    out = {
        "policy_loss": float(loss.detach()),
        "clip_fraction": stats.get("clip_fraction", 0.0),
        # Always against the behaviour policy (decoupled_ppo's own is against the proximal).
        "approx_kl": approx_kl(logp, behaviour, mask),
        "kl": math.nan,  # not measured (kl_coef 0 and track_kl off): not zero
        "entropy": float(mean_entropy.detach()),
    }
    if cfg.entropy_coef > 0:
        loss = loss - cfg.entropy_coef * mean_entropy
    if kl_coef > 0 or cfg.track_kl:
        kl, kl_stats = kl_penalty(logp, reference(), mask, cfg.kl_estimator, cfg.aggregation)
        out["kl"] = kl_stats["kl"]
        if kl_coef > 0:
            loss = loss + kl_coef * kl
    out["loss"] = float(loss.detach())
    return loss, out
