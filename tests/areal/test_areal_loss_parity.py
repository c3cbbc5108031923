"""Our decoupled PPO loss against AReaL's own `ppo_actor_loss_fn`: the same loss and the same
gradients, to 1e-6, under the mapping `integrations.areal.areal_loss_kwargs` documents."""

from __future__ import annotations

import itertools

import pytest
import torch

pytest.importorskip("areal")
from areal.utils.functional import ppo_actor_loss_fn

from integrations.areal import NO_CAP, areal_loss_kwargs
from trainers.learn.algorithms.losses import decoupled_ppo_loss

TOLERANCE = 1e-6
SEEDS = range(6)
CLIPS = [(0.2, None), (0.1, 0.28), (0.3, 0.2)]  # (clip_eps, clip_eps_high)
CAPS = [(None, "mask"), (2.0, "mask"), (1.3, "mask"), (2.0, "truncate"), (1.3, "truncate")]
MASKS = ["random", "full", "with_empty_row"]


def case(seed: int, mask_kind: str, per_token_adv: bool, b: int = 5, t: int = 17):
    """Random policy, proximal and behaviour log-probs a few versions apart (importance weights
    from about 0.3 to 3, so caps of 1.3 and 2 bite), advantages of both signs."""
    gen = torch.Generator().manual_seed(seed)
    behaviour = -torch.rand(b, t, generator=gen) * 4 - 0.05
    proximal = behaviour + torch.randn(b, t, generator=gen) * 0.6
    logp = proximal + torch.randn(b, t, generator=gen) * 0.3
    adv = torch.randn(b, t, generator=gen) if per_token_adv else torch.randn(b, generator=gen)
    if mask_kind == "full":
        mask = torch.ones(b, t, dtype=torch.bool)
    else:
        mask = torch.rand(b, t, generator=gen) < 0.6
        if mask_kind == "with_empty_row":
            mask[1] = False
    return logp, proximal, behaviour, adv, mask


def both_losses(logp, proximal, behaviour, adv, mask, clip, cap):
    (clip_eps, clip_high), (weight_cap, cap_mode) = clip, cap
    ours_logp = logp.clone().requires_grad_(True)
    ours, _ = decoupled_ppo_loss(
        ours_logp, proximal, behaviour, adv, mask, clip_eps, clip_high,
        weight_cap=weight_cap, cap_mode=cap_mode, aggregation="token_mean",
    )  # fmt: skip
    ours.backward()
    theirs_logp = logp.clone().requires_grad_(True)
    adv_tokens = adv.unsqueeze(-1).expand_as(logp) if adv.dim() == 1 else adv
    theirs, _ = ppo_actor_loss_fn(
        logprobs=theirs_logp,
        proximal_logprobs=proximal,
        old_logprobs=behaviour,
        advantages=adv_tokens,
        loss_mask=mask,
        **areal_loss_kwargs(clip_eps, clip_high, weight_cap, cap_mode),
    )
    theirs.backward()
    return ours.detach(), ours_logp.grad, theirs.detach(), theirs_logp.grad


@pytest.mark.parametrize("seed", SEEDS)
def test_decoupled_loss_matches_areal(seed):
    """Every clip range, cap and cap mode, mask shape and advantage shape, on each seed."""
    checked = 0
    for clip, cap, mask_kind, per_token in itertools.product(CLIPS, CAPS, MASKS, (False, True)):
        inputs = case(seed, mask_kind, per_token)
        ours, ours_grad, theirs, theirs_grad = both_losses(*inputs, clip, cap)
        where = f"clip={clip} cap={cap} mask={mask_kind} per_token_adv={per_token}"
        assert abs(float(ours) - float(theirs)) <= TOLERANCE, where
        assert torch.allclose(ours_grad, theirs_grad, rtol=0, atol=TOLERANCE), where
        assert not ours_grad[~inputs[4]].any(), where  # nothing flows off the mask
        checked += 1
    assert checked == len(CLIPS) * len(CAPS) * len(MASKS) * 2


def test_the_cases_exercise_clipping_and_both_caps():
    """The random cases are not all inside the clip range and under the cap: the comparison
    covers the branches that matter (clipped tokens, masked and truncated weights)."""
    logp, proximal, behaviour, adv, mask = case(0, "random", True)
    ratio = torch.exp(logp - proximal)[mask]
    weight = torch.exp(proximal - behaviour)[mask]
    assert ((ratio > 1.2) | (ratio < 0.8)).float().mean() > 0.2
    assert (weight > 2.0).any() and (weight < 1.3).any()
    for cap_mode in ("mask", "truncate"):
        _, stats = decoupled_ppo_loss(
            logp, proximal, behaviour, adv, mask, weight_cap=1.3, cap_mode=cap_mode
        )
        assert stats["capped_fraction"] > 0.1


def test_no_cap_maps_to_a_huge_bound_not_to_none():
    """AReaL's `rejection_sampling=None` drops the behaviour weight (plain PPO around the
    proximal policy); our uncapped weight is its ratio bound at NO_CAP."""
    logp, proximal, behaviour, adv, mask = case(3, "random", False)
    adv_tokens = adv.unsqueeze(-1).expand_as(logp)
    ours, _ = decoupled_ppo_loss(logp, proximal, behaviour, adv, mask, weight_cap=None)
    kwargs = areal_loss_kwargs(weight_cap=None)
    assert kwargs["rejection_sampling"].upper == NO_CAP
    bound, _ = ppo_actor_loss_fn(logp, proximal, behaviour, adv_tokens, loss_mask=mask, **kwargs)
    dropped, _ = ppo_actor_loss_fn(
        logp, proximal, behaviour, adv_tokens, 0.2, mask, rejection_sampling=None
    )
    assert abs(float(ours) - float(bound)) <= TOLERANCE
    assert abs(float(ours) - float(dropped)) > 1e-3
    # ... and AReaL's None is our loss with the proximal policy as the behaviour policy (w = 1)
    same, _ = decoupled_ppo_loss(logp, proximal, proximal, adv, mask)
    assert abs(float(same) - float(dropped)) <= TOLERANCE


def test_mapping_refuses_what_areal_cannot_express():
    with pytest.raises(ValueError, match="cap_mode"):
        areal_loss_kwargs(cap_mode="clip")
    with pytest.raises(ValueError, match=r"upper must be > 1\.0"):
        areal_loss_kwargs(weight_cap=0.9)
