"""Advantages and policy-gradient losses against values computed by hand.

Tolerances: these compute on a handful of float64 (or float32) numbers, so a correct result is
within a few ulps (1e-16 or 1e-7 relative) of the hand value; pytest.approx's default (rel 1e-6)
is "equal up to round-off" here, and any formula error moves a value by far more. Where a test
uses another tolerance it says why.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trainers.learn.algorithms import (
    LOSSES,
    DecisionBaseline,
    RoleBaseline,
    aggregate,
    decoupled_ppo_loss,
    group_baseline_advantages,
    kl_penalty,
    policy_loss,
    ppo_clip_loss,
    reinforce_loss,
)

LOG = math.log


def _logp(*rows: list[float]) -> torch.Tensor:
    return torch.log(torch.tensor(rows, dtype=torch.float64)).requires_grad_()


def _mask(*rows: list[int]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.bool)


# ---- advantages


def test_group_baseline_subtracts_each_group_mean():
    adv = group_baseline_advantages(torch.tensor([1.0, 3.0, 5.0, 0.0]), torch.tensor([0, 0, 1, 1]))
    assert adv.tolist() == pytest.approx([-1.0, 1.0, 2.5, -2.5])


def test_group_baseline_divides_by_unbiased_std():
    # group 0: {1, 3}, sample std sqrt(2); group 1: {5, 0}, sample std sqrt(12.5)
    adv = group_baseline_advantages(
        torch.tensor([1.0, 3.0, 5.0, 0.0]), torch.tensor([7, 7, 2, 2]), normalize_std=True, eps=0.0
    )
    s = 1 / math.sqrt(2)
    assert adv.tolist() == pytest.approx([-s, s, s, -s])


def test_group_baseline_interleaved_hashable_ids_and_singletons():
    rewards = [2.0, 10.0, 4.0, 7.0]
    groups = [("seed1", "red"), ("seed1", "blue"), ("seed1", "red"), ("seed2", "red")]
    for normalize in (False, True):
        adv = group_baseline_advantages(rewards, groups, normalize_std=normalize)
        assert adv[1].item() == 0.0 and adv[3].item() == 0.0  # singletons: no signal
        assert adv[0].item() == pytest.approx(-adv[2].item())
    assert group_baseline_advantages(rewards, groups)[0].item() == pytest.approx(-1.0)


def test_group_baseline_rejects_mismatched_ids():
    with pytest.raises(ValueError):
        group_baseline_advantages(torch.zeros(3), [0, 1])


def test_role_baseline_scores_against_previous_batches_then_updates():
    rb = RoleBaseline(alpha=0.5)
    roles = [("kuhn_poker_v0", "player_0"), ("kuhn_poker_v0", "player_0"), ("kuhn_poker_v0", "x")]
    assert rb.advantages(torch.tensor([1.0, 3.0, -1.0]), roles).tolist() == [1.0, 3.0, -1.0]
    rb.update(torch.tensor([1.0, 3.0, -1.0]), roles)
    # b = 0.5 * 0 + 0.5 * 1 = 0.5, then 0.5 * 0.5 + 0.5 * 3 = 1.75
    assert rb.baseline(roles[0]) == pytest.approx(1.75)
    assert rb.baseline(roles[2]) == pytest.approx(-0.5)
    assert rb.count(roles[0]) == 2
    adv = rb.advantages(torch.tensor([2.0, 0.0]), [roles[0], roles[2]])
    assert adv.tolist() == pytest.approx([0.25, 0.5])


def test_role_baseline_state_round_trips_through_json():
    rb = RoleBaseline(alpha=0.9, initial=0.1)
    rb.update([1.0, -2.0, float("nan")], [("rps_v0", "player_0"), "solo", "solo"])
    restored = RoleBaseline()
    restored.load_state_dict(json.loads(json.dumps(rb.state_dict())))
    assert restored.alpha == 0.9 and restored.initial == 0.1
    assert restored.baselines == rb.baselines
    assert restored.count("solo") == 1  # the nan reward was skipped
    with pytest.raises(TypeError):
        rb.update([1.0], [frozenset({"not json"})])


# ---- aggregation and REINFORCE


def test_decision_baseline_falls_back_to_the_role_until_a_state_is_known():
    b = DecisionBaseline(alpha=0.5, min_count=2)
    # Nothing known: every decision is scored against the role's initial 0.
    assert b.advantages([1.0, -1.0], ["p0", "p0"], [("K",), ("J", "J:cb")]) == [
        (1.0,),
        (-1.0, -1.0),
    ]
    b.update([1.0, -1.0], ["p0", "p0"], [("K",), ("J", "J:cb")])
    # role p0: 0 -> 0.5 -> -0.25. K seen once (< min_count): still the role's baseline.
    assert b.roles.baseline("p0") == pytest.approx(-0.25)
    assert b.count("p0", "K") == 1 and b.baseline("p0", "K") == pytest.approx(-0.25)
    b.update([3.0], ["p0"], [("K",)])
    # K's own mean: a running mean while young (1, then (1 + 3) / 2), no start-up bias.
    assert b.count("p0", "K") == 2 and b.baseline("p0", "K") == pytest.approx(2.0)
    b.update([4.0], ["p0"], [("K",)])  # then the EMA: 2 + 0.5 * (4 - 2)
    (adv,) = b.advantages([2.0], ["p0"], [("K",)])
    assert adv == (pytest.approx(-1.0),)
    # Another role never shares a state's baseline.
    assert b.baseline("p1", "K") == 0.0


def test_decision_baseline_credits_the_move_not_the_deal():
    """Kuhn's J facing a bet: folding loses 1, calling loses 2. Against the role's baseline both
    look bad (a J hand loses); against the state's own baseline folding is the better move."""
    b = DecisionBaseline(alpha=0.5, min_count=1)
    for _ in range(20):
        b.update([-1.0, -2.0, 2.0], ["p1"] * 3, [("J:b",), ("J:b",), ("K:b",)])
    fold, call = b.advantages([-1.0, -2.0], ["p1", "p1"], [("J:b",), ("J:b",)])
    assert fold[0] > 0 > call[0]
    role = RoleBaseline(alpha=0.5)
    role.update([-1.0, -2.0, 2.0] * 20, ["p1"] * 60)
    assert (role.advantages([-1.0, -2.0], ["p1", "p1"]) < 0).all()


def test_decision_q_scores_the_move_by_its_running_mean_return():
    """With move keys, a lucky or unlucky single return no longer decides the sign."""
    b = DecisionBaseline(alpha=0.5, min_count=2)
    for _ in range(10):
        b.update([-1.0, -2.0], ["p1", "p1"], [("J:b",), ("J:b",)], [("fold",), ("call",)])
    # a running mean of a constant return is that constant (the first step is 1)
    assert b.action_value("p1", "J:b", "fold") == pytest.approx(-1.0)
    assert b.action_value("p1", "J:b", "call") == pytest.approx(-2.0)
    assert b.action_value("p1", "J:b", "bet") is None  # never seen
    v = b.baseline("p1", "J:b")
    # A fold that happened to score -3 still counts as the better move, a call scoring +5 worse.
    (fold,), (call,), (bet,) = b.advantages(
        [-3.0, 5.0, 0.5], ["p1"] * 3, [("J:b",)] * 3, [("fold",), ("call",), ("bet",)]
    )
    assert fold == pytest.approx(-1.0 - v) and fold > 0 > call
    assert bet == pytest.approx(0.5 - v)  # unknown move: its own return, as decision_ema does
    with pytest.raises(ValueError, match="actions"):
        b.advantages([1.0], ["p1"], [("J:b", "x")], [("fold",)])


def test_decision_baseline_is_bounded_and_round_trips_through_json():
    b = DecisionBaseline(alpha=0.9, min_count=1, max_states=3)
    for i in range(5):
        b.update([float(i)], [("main", "player_0")], [(f"s{i}",)])
    assert len(b) == 3 and b.count(("main", "player_0"), "s0") == 0  # oldest dropped
    b.update([1.0], [("main", "player_0")], [("s2",)])  # seen again: now the most recent
    b.update([1.0], [("main", "player_0")], [("s5",)])
    assert b.count(("main", "player_0"), "s2") == 2 and b.count(("main", "player_0"), "s3") == 0
    restored = DecisionBaseline()
    restored.load_state_dict(json.loads(json.dumps(b.state_dict())))
    assert restored.state_dict() == b.state_dict()
    key = (("main", "player_0"), "s5")
    assert restored.baseline(*key) == b.baseline(*key)
    # A checkpoint written with the role baseline loads into the decision baseline.
    role = RoleBaseline()
    role.update([2.0], ["p0"])
    restored.load_state_dict(json.loads(json.dumps(role.state_dict())))
    assert restored.roles.baseline("p0") == role.baseline("p0") and len(restored) == 0
    with pytest.raises(ValueError, match="same advantage setting"):
        RoleBaseline().load_state_dict(b.state_dict())
    with pytest.raises(ValueError, match="rewards"):
        b.advantages([1.0, 2.0], ["p0"], [("s",)])
    with pytest.raises(ValueError, match="min_count"):
        DecisionBaseline(min_count=0)


def test_reinforce_token_mean_value_and_gradient_ignore_padding():
    logp = torch.tensor([[LOG(0.5), LOG(0.25), -math.inf]], dtype=torch.float64).requires_grad_()
    loss, stats = reinforce_loss(logp, torch.tensor([2.0]), _mask([1, 1, 0]))
    assert loss.item() == pytest.approx(-2.0 * (LOG(0.5) + LOG(0.25)) / 2)
    loss.backward()
    assert logp.grad.tolist() == [[-1.0, -1.0, 0.0]]  # -A / n_tokens, nothing at the pad
    assert stats["tokens"] == 2.0 and stats["adv_mean"] == 2.0


def test_token_mean_and_sequence_mean_differ_as_defined():
    values = torch.tensor([[1.0, 9.0, 9.0, 9.0], [2.0, 2.0, 2.0, 5.0]])
    mask = _mask([1, 0, 0, 0], [1, 1, 1, 0])
    assert aggregate(values, mask, "token_mean").item() == pytest.approx((1 + 6) / 4)
    assert aggregate(values, mask, "sequence_mean").item() == pytest.approx((1 + 2) / 2)
    # a sequence without masked tokens is left out, not averaged in as 0
    with_empty = torch.cat([values, torch.full((1, 4), 7.0)])
    mask_empty = _mask([1, 0, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0])
    assert aggregate(with_empty, mask_empty, "sequence_mean").item() == pytest.approx(1.5)
    with pytest.raises(ValueError):
        aggregate(values, mask, "sum")


def test_empty_mask_gives_zero_loss_not_nan():
    logp = torch.full((2, 3), -math.inf).requires_grad_()
    loss, _ = ppo_clip_loss(logp, torch.zeros(2, 3), torch.ones(2), torch.zeros(2, 3, dtype=bool))
    loss.backward()
    assert loss.item() == 0.0 and not torch.isnan(logp.grad).any()


# ---- PPO clip


def test_ppo_clip_two_tokens_positive_advantage():
    logp = _logp([1.5, 0.5])  # behaviour log-probs 0 -> ratios 1.5 and 0.5
    loss, stats = ppo_clip_loss(logp, torch.zeros(1, 2), torch.tensor([1.0]), _mask([1, 1]))
    # min(1.5, 1.2) = 1.2 and min(0.5, 0.8) = 0.5 -> loss -(1.2 + 0.5) / 2
    assert loss.item() == pytest.approx(-0.85)
    loss.backward()
    assert logp.grad[0].tolist() == pytest.approx([0.0, -0.25])  # clipped token: no gradient
    assert stats["clip_fraction"] == 0.5
    assert stats["ratio_mean"] == pytest.approx(1.0)
    assert stats["ratio_max"] == pytest.approx(1.5) and stats["ratio_min"] == pytest.approx(0.5)
    k3 = ((1.5 - 1) - LOG(1.5) + (0.5 - 1) - LOG(0.5)) / 2
    assert stats["approx_kl"] == pytest.approx(k3)


def test_ppo_clip_two_tokens_negative_advantage():
    logp = _logp([1.5, 0.5])
    loss, stats = ppo_clip_loss(logp, torch.zeros(1, 2), torch.tensor([-1.0]), _mask([1, 1]))
    # min(-1.5, -1.2) = -1.5 and min(-0.5, -0.8) = -0.8 -> loss (1.5 + 0.8) / 2
    assert loss.item() == pytest.approx(1.15)
    loss.backward()
    assert logp.grad[0].tolist() == pytest.approx([0.75, 0.0])
    assert stats["clip_fraction"] == 0.5


def test_ppo_clip_higher_widens_only_the_upper_bound():
    logp = _logp([1.5, 0.5])
    loss, _ = ppo_clip_loss(
        logp, torch.zeros(1, 2), torch.tensor([1.0]), _mask([1, 1]), clip_eps_high=0.28
    )
    assert loss.item() == pytest.approx(-(1.28 + 0.5) / 2)


def test_ppo_on_policy_gradient_equals_reinforce():
    torch.manual_seed(0)
    base = torch.randn(3, 5, dtype=torch.float64).log_softmax(-1)
    mask = torch.rand(3, 5) > 0.3
    adv = torch.randn(3)
    a = base.clone().requires_grad_()
    b = base.clone().requires_grad_()
    ppo, stats = ppo_clip_loss(a, base, adv, mask)
    rf, _ = reinforce_loss(b, adv, mask)
    ppo.backward()
    rf.backward()
    assert torch.allclose(a.grad, b.grad)
    assert stats["clip_fraction"] == 0.0 and stats["approx_kl"] == pytest.approx(0.0)


def test_behaviour_logp_is_treated_as_data():
    behaviour = torch.zeros(1, 2, requires_grad=True)
    loss, _ = ppo_clip_loss(_logp([0.9, 1.1]), behaviour, torch.ones(1), _mask([1, 1]))
    loss.backward()
    assert behaviour.grad is None


def test_losses_validate_shapes():
    with pytest.raises(ValueError):
        reinforce_loss(torch.zeros(2, 3), torch.zeros(2), torch.ones(2, 4))
    with pytest.raises(ValueError):
        reinforce_loss(torch.zeros(2, 3), torch.zeros(3), torch.ones(2, 3))
    with pytest.raises(ValueError):
        ppo_clip_loss(torch.zeros(2, 3), torch.zeros(2, 2), torch.zeros(2), torch.ones(2, 3))


# ---- KL


def test_k3_equals_exp_r_minus_1_minus_r():
    logp = _logp([0.5, 0.2])
    ref = torch.log(torch.tensor([[0.25, 0.4]], dtype=torch.float64))
    r = [LOG(0.25 / 0.5), LOG(0.4 / 0.2)]  # log ref - log pi per token
    kl, stats = kl_penalty(logp, ref, _mask([1, 1]), kind="k3")
    expected = sum(math.exp(x) - 1 - x for x in r) / 2
    assert kl.item() == pytest.approx(expected)
    assert stats["kl"] == pytest.approx(expected)
    assert kl_penalty(logp, ref, _mask([1, 1]), "k1")[0].item() == pytest.approx(-sum(r) / 2)
    assert kl_penalty(logp, ref, _mask([1, 1]), "k2")[0].item() == pytest.approx(
        sum(x * x / 2 for x in r) / 2
    )


def test_kl_is_zero_at_the_reference_and_k3_never_negative():
    torch.manual_seed(1)
    ref = torch.randn(4, 6).log_softmax(-1)
    mask = torch.ones(4, 6, dtype=torch.bool)
    for kind in ("k1", "k2", "k3"):
        # identical inputs: every term is exactly 0 (x - x, exp(0) - 1 - 0)
        assert kl_penalty(ref.clone(), ref, mask, kind)[0].item() == 0.0
    other = torch.randn(4, 6).log_softmax(-1)
    assert kl_penalty(other, ref, mask, "k3")[0].item() > 0
    with pytest.raises(ValueError):
        kl_penalty(other, ref, mask, "k4")


def test_kl_gradient_does_not_reach_the_reference():
    ref = torch.log(torch.tensor([[0.3, 0.6]])).requires_grad_()
    logp = _logp([0.5, 0.5]).float().detach().requires_grad_()
    kl, _ = kl_penalty(logp, ref, _mask([1, 1]))
    kl.backward()
    assert ref.grad is None and logp.grad is not None


# ---- decoupled PPO (AReaL)


def test_decoupled_equals_ppo_when_proximal_is_behaviour():
    torch.manual_seed(2)
    behaviour = torch.randn(3, 4, dtype=torch.float64).log_softmax(-1)
    new = (behaviour + 0.3 * torch.randn(3, 4, dtype=torch.float64)).detach()
    mask = torch.rand(3, 4) > 0.2
    adv = torch.randn(3)
    a, b = new.clone().requires_grad_(), new.clone().requires_grad_()
    ppo, ppo_stats = ppo_clip_loss(a, behaviour, adv, mask)
    dec, dec_stats = decoupled_ppo_loss(b, behaviour, behaviour, adv, mask)
    ppo.backward()
    dec.backward()
    assert dec.item() == pytest.approx(ppo.item())
    assert torch.allclose(a.grad, b.grad)
    assert dec_stats["weight_mean"] == pytest.approx(1.0)
    assert dec_stats["clip_fraction"] == ppo_stats["clip_fraction"]


def test_decoupled_clips_around_proximal_and_weights_by_behaviour():
    proximal = torch.log(torch.tensor([[0.4, 0.4]], dtype=torch.float64))
    behaviour = proximal - LOG(2.0)  # pi_prox / pi_behaviour = 2
    logp = (proximal + torch.tensor([[LOG(1.5), LOG(1.1)]])).requires_grad_()
    adv, mask = torch.tensor([1.0]), _mask([1, 1])
    loss, stats = decoupled_ppo_loss(logp, proximal, behaviour, adv, mask)
    # ratios vs proximal 1.5 (clipped to 1.2) and 1.1, each weighted by w = 2
    assert loss.item() == pytest.approx(-2.0 * (1.2 + 1.1) / 2)
    assert stats["weight_mean"] == pytest.approx(2.0) and stats["clip_fraction"] == 0.5
    loss.backward()
    assert logp.grad[0].tolist() == pytest.approx([0.0, -2.0 * 1.1 / 2])


def test_decoupled_weight_cap_masks_or_truncates():
    proximal = torch.zeros(1, 2, dtype=torch.float64)
    behaviour = torch.tensor([[-LOG(2.0), 0.0]], dtype=torch.float64)  # weights 2 and 1
    logp = proximal.clone().requires_grad_()
    adv, mask = torch.tensor([1.0]), _mask([1, 1])
    masked, stats = decoupled_ppo_loss(logp, proximal, behaviour, adv, mask, weight_cap=1.5)
    assert masked.item() == pytest.approx(-(0.0 + 1.0) / 2)  # token dropped, still in denominator
    assert stats["capped_fraction"] == 0.5
    truncated, _ = decoupled_ppo_loss(
        logp, proximal, behaviour, adv, mask, weight_cap=1.5, cap_mode="truncate"
    )
    assert truncated.item() == pytest.approx(-(1.5 + 1.0) / 2)
    with pytest.raises(ValueError):
        decoupled_ppo_loss(logp, proximal, behaviour, adv, mask, cap_mode="clip")


# ---- registry


def test_policy_loss_dispatches_by_name_and_asks_for_missing_inputs():
    assert set(LOSSES) == {"reinforce", "ppo_clip", "decoupled_ppo"}
    logp, mask, adv = _logp([1.5, 0.5]), _mask([1, 1]), torch.tensor([1.0])
    loss, _ = policy_loss(
        "ppo_clip", logp=logp, adv=adv, mask=mask, behaviour_logp=torch.zeros(1, 2)
    )
    assert loss.item() == pytest.approx(-0.85)
    with pytest.raises(ValueError, match="behaviour_logp"):
        policy_loss("ppo_clip", logp=logp, adv=adv, mask=mask)
    with pytest.raises(ValueError, match="proximal_logp"):
        policy_loss("decoupled_ppo", logp=logp, adv=adv, mask=mask, behaviour_logp=logp.detach())
    with pytest.raises(ValueError, match="unknown loss"):
        policy_loss("dpo", logp=logp, adv=adv, mask=mask)
    rf, _ = policy_loss("reinforce", logp=logp, adv=adv, mask=mask, aggregation="sequence_mean")
    assert rf.item() == pytest.approx(-(LOG(1.5) + LOG(0.5)) / 2)


def test_a_tied_group_has_exactly_zero_advantage_even_normalised():
    """Hypothesis found it: three equal rewards whose float mean misses them by 4e-16, which the
    std normalisation turned into advantages of 4e-10 (1 / eps times the rounding error)."""
    rewards = torch.tensor([2.765181363079612] * 3 + [1.0, 2.0], dtype=torch.float64)
    for normalize in (False, True):
        adv = group_baseline_advantages(rewards, [0, 0, 0, 1, 1], normalize_std=normalize)
        assert adv[:3].tolist() == [0.0, 0.0, 0.0] and adv[3] < 0 < adv[4]


# ---- invariants


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.floats(-10, 10, allow_nan=False)), min_size=1, max_size=12
    ),
    st.booleans(),
)
def test_group_advantages_sum_to_zero_in_every_group(samples, normalize):
    groups = [g for g, _ in samples]
    rewards = torch.tensor([r for _, r in samples], dtype=torch.float64)
    adv = group_baseline_advantages(rewards, groups, normalize_std=normalize)
    for g in set(groups):
        members = [i for i, x in enumerate(groups) if x == g]
        # float64, |rewards| <= 10 (z-scores <= sqrt(12)): centring and summing n terms is exact
        # up to ~n * 10 * 2.2e-16; 1e-12 * n is 500x that
        assert abs(float(adv[members].sum())) < 1e-12 * max(1.0, len(members))
