"""Shared-prefix scoring (`trainers.learn.prefix`) gives the plain pass's log-probs and LoRA
gradients on real multi-turn chats.

Episodes of kuhn_poker_v0 and team_quiz_v0 are played by `LLMAgent` through the transformers
policy server on the tiny model against a random bot (free text, and constrained to the legal
moves so that the learner's log-probs are taken under legal-move masks); each agent's chat
becomes a `TrainSample`. A micro-batch of them, as `prefix_micro_batches` groups them, is scored
twice by the learner's scorer (body, own-position head, masks), plain and with the shared
prefix, and the same loss is backpropagated through both. A learner-level test checks that
`Learner.update` takes the same step either way.

Tolerance. Both passes do the same arithmetic in fp32 on the same weights, but the prefix rows go
through matmuls of other shapes (batch 1 instead of B; the suffix attends to a cache instead of
one long sequence), so MKL sums in another order: each op differs by a few fp32 ulps (relative
~1e-7), and the differences grow through the layers to about 1e-6 in the log-probs of this
model (measured: < 1e-5 on every chat here). Log-probs are compared at 1e-4 absolute (the
learner/server agreement test's bound), gradients at 1e-4 of their norm: both far below any
difference a wrong mask, position or missing prefix gradient makes (>= 1e-2 here; a scored row
from the wrong position or the prefix's gradient left out fails by orders of magnitude).
"""

from __future__ import annotations

import pytest
import torch

from trainers.episode import Trajectory, turns_from_chat
from trainers.learn.prefix import (
    MIN_PREFIX,
    body_hidden,
    body_positions,
    common_prefix_length,
    prefix_micro_batches,
)

LOGPROB_TOL = 1e-4
GRAD_REL_TOL = 1e-4
GAMES = {"kuhn_poker_v0": {}, "team_quiz_v0": {"questions": 2}}


@pytest.fixture(scope="module")
def server(hf_server):
    return hf_server  # tests/conftest.py: the reference server on the tiny model


@pytest.fixture(scope="module")
def learner(tiny_model):
    from trainers.learn.learner import Learner, LearnerConfig, LoRASettings

    learner = Learner(
        tiny_model,
        ["red"],
        LoRASettings(lora_rank=8, lora_alpha=16),
        LearnerConfig(micro_batch_size=8, learner_dtype="float32", kl_coef=0.0),
    )
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # random B: the adapter changes outputs and A gets gradients
        for key, param in learner._params["red"].items():
            if "lora_B" in key:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.3)
    return learner


def play(server, learner, env_id: str, constrained: bool) -> list:
    """Every agent's chat of a few episodes (until one chat has several turns, as Kuhn poker's
    check-bet-call lines do), as TrainSamples with different positive advantages."""
    import envs
    from agents.arena import play_episode
    from agents.llm_agent import LLMAgent
    from agents.scripted import make_bot
    from agents.serving import SamplingSettings
    from trainers.learn.learner import samples_from_trajectories

    ref = server.publish("red", *learner.adapter_weights("red"))
    agent = LLMAgent("red", server, ref, SamplingSettings(max_tokens=8), constrained=constrained)
    trajectories = []
    for seed in range(24):
        if len(trajectories) >= 8 and sum(len(t.turns) >= 2 for t in trajectories) >= 2:
            break
        # The agent against a random bot on alternating sides: the bot's bets give Kuhn chats
        # their second turn (an agent playing itself tends to repeat one line).
        agents = envs.make(env_id, **GAMES[env_id]).possible_agents
        bot = make_bot(env_id, "random", seed=seed)
        seats = {a: agent if (i + seed) % 2 == 0 else bot for i, a in enumerate(agents)}
        play_episode(env_id, seats, seed=seed, **GAMES[env_id])
        for seat, chat in sorted(agent.end_game(0).items()):
            trajectory = Trajectory(seat, "red", seat, (ref.name, ref.version), True)
            trajectory.token_ids = list(chat.token_ids)
            trajectory.turns = turns_from_chat(chat)
            trajectories.append(trajectory)
    advantages = [1.0 + 0.25 * i for i in range(len(trajectories))]  # > 0: no cancelling
    return samples_from_trajectories(trajectories, advantages)


def score(learner, batch, shared_prefix: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The batch's completion-token log-probs (the learner's scorer) and the gradient of a
    weighted sum of them."""
    params = learner._params["red"]
    for p in params.values():
        p.grad = None
    scores, _ = learner.scorer.score(batch, shared_prefix=shared_prefix)
    (scores * batch.advantages).sum().backward()
    return scores.detach(), {k: p.grad.clone() for k, p in params.items()}


@pytest.mark.parametrize("env_id", sorted(GAMES))
@pytest.mark.parametrize("constrained", [False, True], ids=["free", "masked"])
def test_shared_prefix_scores_and_gradients_equal_the_plain_pass(
    server, learner, env_id, constrained
):
    samples = play(server, learner, env_id, constrained)
    groups = prefix_micro_batches([s.token_ids[: s.positions[-1]] for s in samples], 8)
    assert sorted(i for g in groups for i in g) == list(range(len(samples)))
    # A micro-batch of several chats, one of them multi-turn.
    group = next(g for g in groups if len(g) >= 2 and any(len(samples[i].turns) >= 2 for i in g))
    batch = learner.scorer.collate([samples[i] for i in group])
    assert (batch.allowed is not None) == constrained  # masked turns really are masked
    prefix = common_prefix_length(batch.input_ids, batch.attention_mask)
    assert prefix >= MIN_PREFIX  # the rules text is shared: the prefix path really runs
    learner.peft.set_adapter("red")
    plain, plain_grads = score(learner, batch, shared_prefix=False)
    shared, shared_grads = score(learner, batch, shared_prefix=True)
    gap = float((plain - shared).abs().max())
    assert gap <= LOGPROB_TOL, f"{env_id}: log-prob gap {gap}"
    assert plain_grads.keys() == shared_grads.keys()
    for key, grad in plain_grads.items():
        norm = float(grad.norm())
        assert norm > 0, f"{key}: no gradient (the check could not fail)"
        rel = float((grad - shared_grads[key]).norm()) / norm
        assert rel <= GRAD_REL_TOL, f"{env_id} {key}: gradient differs by {rel:.2e} of its norm"


@pytest.mark.parametrize("shared_prefix", [False, True], ids=["plain", "shared"])
def test_body_positions_counts_what_the_body_really_runs(server, learner, shared_prefix):
    samples = play(server, learner, "kuhn_poker_v0", constrained=True)
    group = next(g for g in prefix_micro_batches([s.token_ids for s in samples], 8) if len(g) > 2)
    batch = learner.scorer.collate([samples[i] for i in group])
    seen = []
    embed = learner.peft.get_base_model().get_input_embeddings()
    hook = embed.register_forward_hook(lambda m, args, out: seen.append(args[0].numel()))
    try:
        with torch.no_grad():
            learner.scorer.score(batch, shared_prefix=shared_prefix)
    finally:
        hook.remove()
    rows, width = batch.input_ids.shape
    counted = body_positions(batch.input_ids, batch.attention_mask, shared_prefix=shared_prefix)
    assert counted == sum(seen)
    assert (counted < rows * width) == shared_prefix  # the shared path really ran fewer


def test_common_prefix_keeps_a_suffix_token_in_every_row():
    ids = torch.tensor([[5, 6, 7, 8, 9], [5, 6, 7, 1, 0], [5, 6, 7, 8, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0], [1, 1, 1, 1, 0]])
    assert common_prefix_length(ids, mask) == 3
    same = torch.tensor([[5, 6, 7, 0], [5, 6, 7, 8]])
    assert common_prefix_length(same, torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])) == 2
    assert common_prefix_length(ids[:, :0], mask[:, :0]) == 0


def test_a_short_prefix_or_a_single_row_runs_the_plain_pass():
    calls = []

    class Body:
        def __call__(self, **kwargs):
            calls.append(kwargs)
            out = type("Out", (), {})()
            out.last_hidden_state = torch.zeros(*kwargs["input_ids"].shape, 2)
            return out

    ids = torch.arange(40).repeat(2, 1)
    mask = torch.ones_like(ids)
    body_hidden(Body(), ids[:1], mask[:1])
    body_hidden(Body(), ids, mask, min_prefix=64)
    assert [c["input_ids"].shape for c in calls] == [(1, 40), (2, 40)]
    assert all(c["use_cache"] is False for c in calls)


def test_micro_batches_group_chats_that_share_a_prefix():
    seat_a, seat_b = list(range(100, 160)), list(range(200, 260))
    rows = [(seat_a if i % 2 else seat_b) + [i % 5, 7, i] for i in range(12)]
    groups = prefix_micro_batches(rows, 4)
    assert sorted(i for g in groups for i in g) == list(range(12))
    assert all(len(g) <= 4 for g in groups)
    assert all(len({i % 2 for i in g}) == 1 for g in groups)  # never two seats in one batch
    with pytest.raises(ValueError):
        prefix_micro_batches(rows, 0)


def test_an_update_with_the_shared_prefix_accumulates_the_plain_gradient(server, learner):
    """Whole `Learner.update()`s (micro-batches grouped by prefix vs by length, KL penalty on)
    accumulate the same gradient. (Compared before the AdamW step: Adam's first step divides
    each gradient by its own magnitude, which turns rounding in near-zero entries into
    differences of a whole step.)"""
    from dataclasses import replace

    samples = play(server, learner, "team_quiz_v0", constrained=True)
    params = learner._params["red"]
    start = {k: p.detach().clone() for k, p in params.items()}
    grads = {}
    base, step = learner.config, learner._step

    def capture(adapter, lr_scale):
        grads[learner.config.shared_prefix] = {k: p.grad.clone() for k, p in params.items()}
        return step(adapter, lr_scale)

    learner._step = capture
    try:
        for shared in (False, True):
            learner.config = replace(base, shared_prefix=shared, micro_batch_size=4)
            with torch.no_grad():
                for key, param in params.items():
                    param.copy_(start[key])
            stats = learner.update("red", samples, kl_coef=0.1)
            assert stats["kl"] == stats["kl"]  # measured (not NaN): the reference pass ran
    finally:
        del learner._step
        learner.config = base
        with torch.no_grad():
            for key, param in params.items():
                param.copy_(start[key])
    plain = torch.cat([g.flatten() for g in grads[False].values()])
    shared = torch.cat([g.flatten() for g in grads[True].values()])
    assert float(plain.norm()) > 0
    rel = float((plain - shared).norm() / plain.norm())
    assert rel <= GRAD_REL_TOL, f"accumulated gradients differ by {rel:.2e} of their norm"


@pytest.mark.parametrize("shared_prefix", [False, True], ids=["plain", "shared"])
def test_eager_attention_scores_and_gradients_equal_sdpa(server, learner, shared_prefix):
    """The scorer runs eager attention on a CPU for small micro-batches (faster there) and
    SDPA for large ones: the same attention, so the same log-probs and LoRA gradients."""
    from trainers.learn import scoring

    samples = play(server, learner, "team_quiz_v0", constrained=True)
    batch = learner.scorer.collate(samples[:8])
    assert learner.scorer.attention(batch) == "eager"  # a CPU and a small batch
    learner.peft.set_adapter("red")
    results = {}
    original = learner.scorer.attention
    try:
        for impl in ("eager", "sdpa"):
            learner.scorer.attention = lambda _batch, impl=impl: impl
            results[impl] = score(learner, batch, shared_prefix=shared_prefix)
            assert learner.scorer._body.config._attn_implementation == impl
    finally:
        learner.scorer.attention = original
    (eager, eager_grads), (sdpa, sdpa_grads) = results["eager"], results["sdpa"]
    gap = float((eager - sdpa).abs().max())
    assert gap <= LOGPROB_TOL, f"log-prob gap {gap}"
    for key, grad in sdpa_grads.items():
        norm = float(grad.norm())
        assert norm > 0, f"{key}: no gradient (the check could not fail)"
        rel = float((grad - eager_grads[key]).norm()) / norm
        assert rel <= GRAD_REL_TOL, f"{key}: gradient differs by {rel:.2e} of its norm"
    # Above the memory bound the scorer keeps SDPA (its memory does not grow with width^2).
    rows, width = batch.input_ids.shape
    per_batch = rows * width * width * learner.scorer._weights_per_position * 6
    bound = scoring.EAGER_ATTENTION_BYTES
    try:
        scoring.EAGER_ATTENTION_BYTES = per_batch - 1
        assert learner.scorer.attention(batch) == "sdpa"
    finally:
        scoring.EAGER_ATTENTION_BYTES = bound
