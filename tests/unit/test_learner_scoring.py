"""The learner's scoring on the tiny model: log-probs against an independent reference (peft's
forward and the server's logits processing), batching, legal-move masks, gradients, and bf16."""

from __future__ import annotations

import math

import pytest
import torch

from tests.unit.test_learner import (
    MOVES,
    TOLERANCE,
    chat_sample,
    make_learner,
    random_samples,
    randomize,
)
from trainers.learn.learner import Learner, TrainSample


def reference_logprobs(learner: Learner, adapter: str | None, sample: TrainSample) -> list[float]:
    """Independent of the learner's scoring: peft's full forward, then the server's
    `process_logits` on the row before each completion token."""
    from agents.serving.choices import ChoiceMask
    from agents.serving.formats import FormatMask
    from agents.serving.hf_backend import process_logits

    ids = torch.tensor([list(sample.token_ids)])
    model = learner.peft
    with torch.no_grad():
        if adapter is None:
            with model.disable_adapter():
                logits = model(input_ids=ids).logits[0]
        else:
            model.set_adapter(adapter)
            logits = model(input_ids=ids).logits[0]
    out = []
    for turn in sample.turns:
        mask = ChoiceMask(learner.tokenizer, turn.choices) if turn.choices else None
        if turn.pattern:
            mask = FormatMask(learner.tokenizer, turn.pattern, learner.vocab_size)
        for k, token in enumerate(turn.ids):
            allowed = mask.allowed(turn.ids[:k]) if mask else None
            row = logits[turn.start + k - 1]
            out.append(float(process_logits(row, learner.config.temperature, 1.0, allowed)[token]))
    return out


# ---------------------------------------------------------------------------------- scoring


def test_own_positions_logprobs_equal_a_full_projection_reference(tiny_model):
    learner = make_learner(tiny_model, temperature=0.7)
    randomize(learner, "red", seed=1)
    samples = random_samples(learner)
    own = learner.logprobs("red", samples)
    full = learner.logprobs("red", samples, projection="full")
    assert [len(x) for x in own] == [len(s.positions) for s in samples]
    for sample, a, b in zip(samples, own, full, strict=True):
        ref = torch.tensor(reference_logprobs(learner, "red", sample))
        assert torch.allclose(a, ref, atol=TOLERANCE), (a - ref).abs().max()
        assert torch.allclose(b, ref, atol=TOLERANCE)
    base = learner.logprobs(None, samples)
    ref_base = torch.tensor(reference_logprobs(learner, None, samples[0]))
    assert torch.allclose(base[0], ref_base, atol=TOLERANCE)
    assert not torch.allclose(base[0], own[0], atol=1e-3)  # the adapter matters: 100x round-off


def test_scores_do_not_depend_on_batching(tiny_model):
    samples = random_samples(make_learner(tiny_model))
    one = make_learner(tiny_model, micro_batch_size=1)
    many = make_learner(tiny_model, micro_batch_size=8)
    for learner in (one, many):
        randomize(learner, "red", seed=2)
    for a, b in zip(one.logprobs("red", samples), many.logprobs("red", samples), strict=True):
        assert torch.allclose(a, b, atol=TOLERANCE)


def test_choice_masking_renormalises_over_the_allowed_tokens(tiny_model):
    from agents.serving.choices import ChoiceMask

    learner = make_learner(tiny_model)
    randomize(learner, "red", seed=3)
    mask = ChoiceMask(learner.tokenizer, MOVES)
    first = mask.allowed([])
    assert len(first) >= 1
    # Every allowed first token, scored as a one-token completion: their probabilities sum to 1.
    samples = [chat_sample(learner, (token,)) for token in first]
    total = sum(float(lp.exp()) for (lp,) in learner.logprobs("red", samples))
    # a softmax over the allowed tokens sums to 1 up to fp32 round-off of a few terms (~1e-7 each)
    assert total == pytest.approx(1.0, abs=1e-5)
    # A whole move: the masked log-probs match the reference, forced tokens score 0, and they
    # differ from the unconstrained scores of the same tokens.
    move = tuple(learner.tokenizer("[paper]", add_special_tokens=False)["input_ids"])
    move = (*move, learner.tokenizer.eos_token_id)
    constrained = chat_sample(learner, move)
    free = chat_sample(learner, move, choices=None)
    (masked,), (unmasked,) = learner.logprobs("red", [constrained]), learner.logprobs("red", [free])
    ref = torch.tensor(reference_logprobs(learner, "red", constrained))
    assert torch.allclose(masked, ref, atol=TOLERANCE)
    # renormalising over a subset can only raise a log-prob: >= up to the scoring round-off
    assert bool((masked >= unmasked - TOLERANCE).all()) and float((masked - unmasked).max()) > 1e-3
    # only EOS may end "[paper]": a log-softmax over one allowed logit is 0 up to one exp/log
    assert float(masked[-1]) == pytest.approx(0.0, abs=1e-6)
    full = learner.logprobs("red", [constrained], projection="full")[0]
    assert torch.allclose(full, masked, atol=TOLERANCE)


def test_format_masking_scores_a_talk_move_under_its_format(tiny_model):
    from dataclasses import replace

    from agents.serving.formats import FormatMask
    from envs.prisoners_dilemma.rules import TALK_FORMAT

    learner = make_learner(tiny_model)
    randomize(learner, "red", seed=4)
    tok = learner.tokenizer
    move = (*tok("[say I trust you.]", add_special_tokens=False)["input_ids"], tok.eos_token_id)
    free = chat_sample(learner, move, choices=None)
    talk = TrainSample(
        free.token_ids, [replace(free.turns[0], pattern=TALK_FORMAT)], free.advantage
    )
    (masked,), (unmasked,) = learner.logprobs("red", [talk]), learner.logprobs("red", [free])
    ref = torch.tensor(reference_logprobs(learner, "red", talk))
    assert torch.allclose(masked, ref, atol=TOLERANCE)
    assert torch.allclose(
        learner.logprobs("red", [talk], projection="full")[0], ref, atol=TOLERANCE
    )
    # a subset's renormalised log-probs can only be higher; a forced token scores ~0
    assert bool((masked >= unmasked - TOLERANCE).all()) and float((masked - unmasked).max()) > 1e-3
    forced = [k for k, row in enumerate(FormatMask(tok, TALK_FORMAT).rows(move)) if row.sum() == 1]
    assert len(move) - 1 in forced  # after "]" only the end of sequence
    assert all(float(masked[k]) == pytest.approx(0.0, abs=1e-6) for k in forced)
    # the learner's mask: a format row per token, beside legal-move rows of another turn
    both = learner.scorer.legal_mask([talk, chat_sample(learner, move[:1])])
    assert both.shape == (len(move) + 1, learner.vocab_size)
    assert torch.equal(
        both[: len(move)].cpu(), FormatMask(tok, TALK_FORMAT, learner.vocab_size).rows(move)
    )


def test_scoring_with_grad_reaches_only_the_adapter(tiny_model):
    learner = make_learner(tiny_model)
    samples = random_samples(learner, n=2)
    loss = -sum(lp.sum() for lp in learner.logprobs("red", samples, grad=True))
    loss.backward()
    assert all(p.grad is not None for p in learner.parameters("red"))
    assert all(p.grad is None for p in learner.parameters("blue"))
    assert not any(p.requires_grad for n, p in learner.peft.named_parameters() if "lora" not in n)


# ---------------------------------------------------------------------------------- precision


def test_bfloat16_autocast_trains_and_scores_close_to_float32(tiny_model):
    fp32 = make_learner(tiny_model)
    bf16 = make_learner(tiny_model, learner_dtype="bfloat16")
    samples = random_samples(fp32, n=3)
    for learner in (fp32, bf16):
        randomize(learner, "red", seed=6)
    for a, b in zip(fp32.logprobs("red", samples), bf16.logprobs("red", samples), strict=True):
        # bf16 keeps ~3 significant digits of the tiny model's large logits
        assert b.dtype == torch.float32 and float((a - b).abs().mean()) < 0.1
    stats = bf16.update("red", samples)
    assert stats["skipped"] == 0.0 and math.isfinite(stats["loss"])
    assert all(p.dtype == torch.float32 for p in bf16.parameters("red"))  # fp32 master weights


def test_a_bf16_stored_base_scores_and_steps_exactly_as_autocast_casting_it(tiny_model):
    cast = make_learner(tiny_model, learner_dtype="bfloat16")
    plain = make_learner(tiny_model, learner_dtype="bfloat16", cast_base=False)
    body = cast.peft.get_base_model()
    linears = [m for n, m in body.named_modules() if type(m) is torch.nn.Linear and "lora" not in n]
    assert {m.weight.dtype for m in linears if m is not body.get_output_embeddings()} == {
        torch.bfloat16
    }
    assert body.get_input_embeddings().weight.dtype == torch.float32  # tied head, norms: fp32
    assert all(p.dtype == torch.float32 for n in ("red", "blue") for p in cast.parameters(n))
    samples = random_samples(cast, n=3)
    for learner in (cast, plain):
        randomize(learner, "red", seed=6)
    for a, b in zip(cast.logprobs("red", samples), plain.logprobs("red", samples), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # autocast rounds the same way
    stepped = []
    for learner in (cast, plain):
        learner.update("red", samples)
        stepped.append([p.detach().clone() for p in learner.parameters("red")])
    for a, b in zip(*stepped, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # the same step
