"""The learner on the tiny model: steps, checkpoints, validation (its scoring and precision:
`test_learner_scoring.py`, which shares the helpers here)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch

from trainers.episode import Trajectory, TurnTokens
from trainers.learn.learner import (
    Learner,
    LearnerConfig,
    LoRASettings,
    TrainSample,
    samples_from_trajectories,
)

MOVES = ("[rock]", "[paper]", "[scissors]")
LORA = LoRASettings(lora_rank=8, lora_alpha=16)
# The learner's defaults are the trainer's (bf16 autocast, a KL penalty); these tests score to
# fp32 round-off and take plain policy-gradient steps unless they ask for more.
EXACT = {"learner_dtype": "float32", "kl_coef": 0.0}
# Log-probs of the same weights scored two ways (own positions vs full projection, other batching,
# the transformers reference forward) differ only by fp32 round-off: each dot product of width 256
# carries ~sqrt(256) * 6e-8 relative error, compounded over 4 layers and a log-softmax over 1,195
# logits of size ~10, i.e. ~1e-6 absolute. 1e-5 leaves 10x for kernel differences; a real scoring
# bug (a shifted position, a wrong mask) moves log-probs by more than 1e-2.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from agents.models import resolve_model

    env = os.environ.get("LORA_LEAGUE_CACHE")
    cache = Path(env) if env else tmp_path_factory.mktemp("model_cache")
    return resolve_model("tiny", cache_dir=cache)


def make_learner(model: Path, names=("red", "blue"), seed: int = 0, **config) -> Learner:
    config = {"micro_batch_size": 2, **EXACT, **config}
    return Learner(model, list(names), LORA, LearnerConfig(**config), seed=seed)


def randomize(learner: Learner, adapter: str, seed: int, scale: float = 0.3) -> None:
    """Random B matrices (a fresh adapter has B = 0 and changes nothing)."""
    gen = torch.Generator().manual_seed(seed)
    weights, _ = learner.adapter_weights(adapter)
    noisy = {
        k: torch.randn(v.shape, generator=gen) * scale if "lora_B" in k else v
        for k, v in weights.items()
    }
    learner.set_adapter_weights(adapter, noisy)


def random_samples(learner: Learner, n: int = 5, seed: int = 0) -> list[TrainSample]:
    """Sequences of random tokens with two completions each, of different lengths (padding)."""
    gen = torch.Generator().manual_seed(seed)
    samples = []
    for i in range(n):
        ids = torch.randint(3, learner.vocab_size, (30 + 9 * i,), generator=gen).tolist()
        turns = [
            TurnTokens(8 + i, tuple(ids[8 + i : 12 + i]), (-3.0,) * 4, 1),
            TurnTokens(24, tuple(ids[24:27]), (-4.0,) * 3, 1),
        ]
        # none exactly 0: a silent sample would be left out of updates (skip_silent)
        samples.append(TrainSample(ids, turns, advantage=i - 2.5))
    return samples


def on_policy(learner: Learner, adapter: str, samples: list[TrainSample]) -> list[TrainSample]:
    """The samples with their behaviour log-probs replaced by the adapter's own (ratio 1)."""
    out = []
    for sample, logp in zip(samples, learner.logprobs(adapter, samples), strict=True):
        values = iter(logp.tolist())
        turns = [
            TurnTokens(t.start, t.ids, tuple(next(values) for _ in t.ids), t.version, t.choices)
            for t in sample.turns
        ]
        out.append(TrainSample(sample.token_ids, turns, sample.advantage))
    return out


def chat_sample(learner: Learner, completion: tuple[int, ...], choices=MOVES) -> TrainSample:
    """A chat prompt for a move followed by `completion` (one constrained turn)."""
    tok = learner.tokenizer
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Your move: [rock], [paper] or [scissors]?"}],
        add_generation_prompt=True,
        tokenize=False,
    )
    ids = list(tok(prompt, add_special_tokens=False)["input_ids"])
    turn = TurnTokens(len(ids), completion, (0.0,) * len(completion), 1, choices)
    return TrainSample([*ids, *completion], [turn], advantage=1.0)


# ---------------------------------------------------------------------------------- updates


@pytest.mark.parametrize("loss", ["ppo_clip", "reinforce", "decoupled_ppo"])
def test_an_update_lowers_the_loss_on_its_batch(tiny_model, loss):
    learner = make_learner(tiny_model, loss=loss, lr=3e-3)
    samples = on_policy(learner, "red", random_samples(learner))
    before = learner.evaluate("red", samples)
    stats = learner.update("red", samples)
    after = learner.evaluate("red", samples)
    # the same samples in the same micro-batches before the step: the same fp32 sums, so equal up
    # to a few ulps of a loss of order 1; after it the loss must drop by far more than round-off
    assert stats["loss"] == pytest.approx(before["loss"], abs=1e-6)
    assert after["loss"] < before["loss"] - 1e-4
    assert stats["tokens"] == sum(len(s.positions) for s in samples)
    # the model reads each chat up to its last completion token, not the tail after it
    assert stats["sequence_tokens"] == sum(s.positions[-1] for s in samples)
    assert stats["grad_norm"] > 0 and stats["skipped"] == 0.0 and stats["lr"] == 3e-3
    # on-policy the ratio is 1 up to the scoring round-off d <= 1e-5, and k3 ~ d**2 / 2
    assert stats["approx_kl"] == pytest.approx(0.0, abs=1e-6)
    assert stats["tokens_per_s"] > 0 and stats["sequence_tokens_per_s"] > stats["tokens_per_s"]
    assert learner.steps("red") == 1 and learner.steps("blue") == 0


@pytest.mark.parametrize("loss", ["ppo_clip", "decoupled_ppo"])
def test_nan_behaviour_means_the_weights_before_the_step(tiny_model, loss):
    """A target sample's tokens were sampled by nobody (NaN behaviour log-probs): the loss takes
    the weights before its step as their behaviour, exactly as if the learner had scored them
    first (the separate scoring pass it saves)."""
    learner = make_learner(tiny_model, loss=loss, max_grad_norm=None)
    randomize(learner, "red", seed=3)
    scored = on_policy(learner, "red", random_samples(learner))
    unscored = [
        TrainSample(
            s.token_ids,
            [TurnTokens(t.start, t.ids, (math.nan,) * len(t.ids), t.version) for t in s.turns],
            s.advantage,
        )
        for s in scored
    ]
    results = []
    for samples in (scored, unscored):
        learner.peft.zero_grad(set_to_none=True)
        stats = learner._accumulate("red", samples, 0.0, "own")
        grad = torch.cat([p.grad.flatten() for p in learner.parameters("red")])
        results.append((stats, grad))
    (a, grad_a), (b, grad_b) = results
    assert math.isfinite(b["loss"]) and b["loss"] == pytest.approx(a["loss"], abs=1e-5)
    assert b["approx_kl"] == 0.0 and b["clip_fraction"] == 0.0
    assert torch.allclose(grad_a, grad_b, rtol=1e-4, atol=1e-6) and grad_b.abs().max() > 0


def test_per_turn_advantages_weigh_each_turn_like_a_sample_of_its_own(tiny_model):
    """A two-turn sample with advantages (a, b) has the gradient of its turns as two samples."""
    learner = make_learner(tiny_model, loss="reinforce", max_grad_norm=None)
    randomize(learner, "red", seed=6)
    sample = random_samples(learner, n=5)[-1]
    assert len(sample.turns) >= 2
    first, rest = sample.turns[0], sample.turns[1:]
    advantages = (1.5, *(-0.5 for _ in rest))
    together = TrainSample(sample.token_ids, sample.turns, advantages)
    apart = [
        TrainSample(sample.token_ids, [first], 1.5),
        TrainSample(sample.token_ids, rest, -0.5),
    ]
    assert together.token_advantages == (1.5,) * len(first.ids) + (-0.5,) * sum(
        len(t.ids) for t in rest
    )
    grads = []
    for samples in ([together], apart):
        learner.peft.zero_grad(set_to_none=True)
        learner._accumulate("red", samples, 0.0, "own")
        grads.append(torch.cat([p.grad.flatten() for p in learner.parameters("red")]))
    # the same per-token terms, grouped differently: fp32 summation order only, n * eps ~ 1e-5
    # relative over a few hundred terms; atol for components that nearly cancel
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-5)
    assert float(grads[0].abs().max()) > 0
    with pytest.raises(ValueError, match="per-turn advantages"):
        TrainSample(sample.token_ids, sample.turns, (1.0,))
    with pytest.raises(ValueError, match="finite"):
        TrainSample(sample.token_ids, sample.turns, (math.nan,) * len(sample.turns))


def test_entropy_bonus_is_the_masked_entropy_and_raises_it(tiny_model):
    import math as m

    # A small lr: Adam's first steps move every weight by about lr, whatever the gradient's size.
    learner = make_learner(tiny_model, lr=1e-4, entropy_coef=1.0, track_kl=False)
    randomize(learner, "red", seed=7)
    move = tuple(learner.tokenizer("[paper]", add_special_tokens=False)["input_ids"])
    sample = chat_sample(learner, (*move, learner.tokenizer.eos_token_id))
    sample = TrainSample(sample.token_ids, sample.turns, 0.0)  # no policy gradient: entropy only
    # By hand: at each position of the move, the entropy of the masked next-token distribution,
    # from the probability of each allowed token scored as a one-token extension.
    from agents.serving.choices import ChoiceMask

    mask = ChoiceMask(learner.tokenizer, MOVES)
    completion = sample.turns[0].ids
    by_hand = 0.0
    for k in range(len(completion)):
        options = [chat_sample(learner, (*completion[:k], t)) for t in mask.allowed(completion[:k])]
        probs = [m.exp(float(lp[-1])) for lp in learner.logprobs("red", options)]
        assert sum(probs) == pytest.approx(1.0, abs=1e-5)  # as in the choice-masking test
        by_hand += -sum(p * m.log(p) for p in probs if p > 0)
    assert by_hand > 0.1
    stats = learner.evaluate("red", [sample])
    # token_mean: the summed entropy over the move's tokens (forced ones add 0). Each p above
    # carries the scoring round-off (TOLERANCE on log p), so -p log p is off by up to
    # ~TOLERANCE * (1 + |log p|): rel 1e-4 on their mean.
    assert stats["entropy"] == pytest.approx(by_hand / len(sample.positions), rel=1e-4)
    # advantage 0: the policy term is exactly 0, so the loss is -entropy up to one fp32 add
    assert stats["loss"] == pytest.approx(-stats["entropy"], abs=1e-6)
    for _ in range(3):
        learner.update("red", [sample])
    assert learner.evaluate("red", [sample])["entropy"] > stats["entropy"] + 1e-3


def test_gradient_accumulation_equals_one_big_batch(tiny_model):
    samples = random_samples(make_learner(tiny_model), n=5)
    results = []
    configs = [(1, "token_mean"), (8, "token_mean"), (2, "sequence_mean"), (8, "sequence_mean")]
    for micro, aggregation in configs:
        learner = make_learner(
            tiny_model, micro_batch_size=micro, aggregation=aggregation, max_grad_norm=None
        )
        randomize(learner, "red", seed=4)
        stats = learner.update("red", samples, kl_coef=0.1)
        results.append((aggregation, stats, learner.adapter_weights("red")[0]))
    # Micro-batching changes only the order of fp32 sums: over a few hundred token terms of a
    # loss near 200 that order moves the result by up to n * eps ~ 1e-5 relative (1.6e-6 was seen
    # with MKL on 2 threads), so 1e-5 is the tightest bound the arithmetic guarantees.
    for (_, s1, w1), (_, s8, w8) in (results[:2], results[2:]):  # each aggregation on its own
        assert s1["loss"] == pytest.approx(s8["loss"], rel=1e-5)
        # the gradients carry the same ~1e-5 relative order error; their norm a bit more
        assert s1["grad_norm"] == pytest.approx(s8["grad_norm"], rel=1e-4)
        # Adam's first step is lr * g / (|g| + eps): a relative error d in g moves it by at most
        # lr * d ~ 1e-8 (lr 1e-3 or less), far below 1e-6
        for key in w1:
            assert torch.allclose(w1[key], w8[key], atol=1e-6), key


def test_updating_one_adapter_leaves_the_others_alone(tiny_model):
    learner = make_learner(tiny_model)
    blue_before, _ = learner.adapter_weights("blue")
    red_before, _ = learner.adapter_weights("red")
    learner.update("red", random_samples(learner), lr_scale=5.0)
    blue_after, _ = learner.adapter_weights("blue")
    red_after, _ = learner.adapter_weights("red")
    assert all(torch.equal(blue_before[k], blue_after[k]) for k in blue_before)
    assert any(not torch.equal(red_before[k], red_after[k]) for k in red_before)
    assert not learner.optimizer("blue").state


def test_kl_to_the_base_is_zero_for_a_fresh_adapter_and_grows_with_updates(tiny_model):
    learner = make_learner(tiny_model, lr=3e-3)
    samples = random_samples(learner)
    assert learner.evaluate("red", samples)["kl"] == 0.0  # B = 0: exactly the base model
    first = learner.update("red", samples, kl_coef=0.5)
    assert first["kl"] == 0.0
    for _ in range(3):
        learner.update("red", samples, kl_coef=0.5)
    stats = learner.evaluate("red", samples, kl_coef=0.5)
    assert stats["kl"] > 0
    # the loss is the fp32 sum of those two terms: equal up to a few ulps
    assert stats["loss"] == pytest.approx(stats["policy_loss"] + 0.5 * stats["kl"], rel=1e-5)


def test_lr_scale_and_set_lr(tiny_model):
    learner = make_learner(tiny_model)
    samples = random_samples(learner, n=2)
    learner.set_lr("red", 1e-3)
    assert learner.lr("red") == 1e-3 and learner.lr("blue") == learner.config.lr
    assert learner.update("red", samples, lr_scale=0.5)["lr"] == pytest.approx(5e-4)
    assert learner.lr("red") == 1e-3  # the scale is per step, the base lr stays
    with pytest.raises(ValueError, match="lr must be > 0"):
        learner.set_lr("red", 0.0)
    with pytest.raises(ValueError, match="lr_scale"):
        learner.update("red", samples, lr_scale=-1.0)


# ---------------------------------------------------------------------------------- checkpoints


def test_save_load_round_trip_restores_adapters_and_optimizer_state(tiny_model, tmp_path):
    samples = random_samples(make_learner(tiny_model))
    trained = make_learner(tiny_model, seed=0, lr=3e-3)
    for adapter in ("red", "red", "blue"):
        trained.update(adapter, samples)
    trained.set_lr("blue", 7e-4)
    folder = trained.save(tmp_path / "step_3")
    suffixes = {p.suffix for p in folder.rglob("*") if p.is_file()}
    assert suffixes == {".json", ".safetensors"}  # nothing pickled

    restored = make_learner(tiny_model, seed=1, lr=3e-3)  # another init, overwritten by load
    restored.load(folder)
    for adapter in ("red", "blue"):
        for a, b in zip(
            trained.logprobs(adapter, samples), restored.logprobs(adapter, samples), strict=True
        ):
            assert torch.equal(a, b)
        assert restored.steps(adapter) == trained.steps(adapter)
        assert restored.lr(adapter) == trained.lr(adapter)
        assert_same_optimizer_state(trained.optimizer(adapter), restored.optimizer(adapter))
    # The restored moments act: one more identical step gives identical weights.
    trained.update("red", samples)
    restored.update("red", samples)
    w1, w2 = trained.adapter_weights("red")[0], restored.adapter_weights("red")[0]
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def assert_same_optimizer_state(a: torch.optim.Optimizer, b: torch.optim.Optimizer) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["state"].keys() == sb["state"].keys() and sa["state"]
    for index, fields in sa["state"].items():
        for name, value in fields.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(sb["state"][index][name]))
    assert sa["param_groups"] == sb["param_groups"]


def test_a_saved_adapter_is_a_peft_folder(tiny_model, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    learner = make_learner(tiny_model)
    randomize(learner, "blue", seed=5)
    folder = learner.save(tmp_path / "ckpt")
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    model = PeftModel.from_pretrained(base, folder / "adapters" / "blue")
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    sample = TrainSample(ids[0].tolist(), [TurnTokens(3, (8, 9, 10), (0.0,) * 3, 1)], 0.0)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, 2:5]
    expected = torch.log_softmax(logits, -1)[torch.arange(3), ids[0, 3:]]
    assert torch.allclose(learner.logprobs("blue", [sample])[0], expected, atol=TOLERANCE)
    learner.save(tmp_path / "ckpt")  # overwriting a checkpoint works
    with pytest.raises(ValueError, match="holds no adapter"):
        make_learner(tiny_model, names=("green",)).load(folder)
    other_alpha = Learner(
        tiny_model, ["blue"], LoRASettings(lora_rank=8, lora_alpha=8), LearnerConfig(**EXACT)
    )
    with pytest.raises(ValueError, match="rank, alpha, targets"):
        other_alpha.load(folder)


# ---------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": 0.0}, "lr must be > 0"),
        ({"lr": float("nan")}, "lr must be > 0"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"betas": (0.9, 1.0)}, "betas"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"micro_batch_size": 0}, "micro_batch_size"),
        ({"loss": "dpo"}, "unknown loss 'dpo'; choose one of"),
        ({"aggregation": "sum"}, "unknown aggregation"),
        ({"clip_eps": 0.0}, "clip_eps"),
        ({"weight_cap": -1.0}, "weight_cap"),
        ({"kl_coef": -0.1}, "kl_coef"),
        ({"kl_estimator": "k4"}, "unknown kl_estimator"),
        ({"learner_dtype": "float16"}, "unknown learner_dtype 'float16'; choose one of float32"),
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"device": "not-a-device"}, "not a torch device"),
    ],
)
def test_bad_learner_config_values_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LearnerConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lora_rank": 0}, "lora_rank must be >= 1"),
        ({"lora_alpha": 0}, "lora_alpha must be > 0"),
        ({"lora_dropout": 1.0}, "lora_dropout"),
        ({"lora_target_modules": ()}, "lora_target_modules"),
        ({"lora_target_modules": "q_proj"}, "not one string"),
    ],
)
def test_bad_lora_settings_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LoRASettings(**kwargs)


def test_defaults_and_frozen_settings():
    config, lora = LearnerConfig(), LoRASettings()
    assert (config.lr, config.loss, config.learner_dtype, config.temperature) == (
        2e-4,
        "ppo_clip",
        "bfloat16",
        1.0,
    )
    assert (lora.lora_rank, lora.lora_alpha, lora.lora_dropout) == (16, 32, 0.0)
    assert lora.lora_target_modules == ("q_proj", "k_proj", "v_proj", "o_proj")
    with pytest.raises(AttributeError):
        config.lr = 1.0  # type: ignore[misc]
    assert LoRASettings(lora_target_modules=["q_proj"]).lora_target_modules == ("q_proj",)


def test_bad_adapters_and_samples_raise_clear_errors(tiny_model):
    with pytest.raises(ValueError, match="unique"):
        make_learner(tiny_model, names=("red", "red"))
    with pytest.raises(ValueError, match="bad adapter names"):
        make_learner(tiny_model, names=("red@v1",))
    learner = make_learner(tiny_model)
    samples = random_samples(learner, n=2)
    with pytest.raises(ValueError, match="unknown adapter 'green'"):
        learner.update("green", samples)
    with pytest.raises(ValueError, match="no completion tokens"):
        learner.update("red", [TrainSample([1, 2, 3], [], 1.0)])
    assert learner.logprobs("red", [TrainSample([1, 2, 3], [], 1.0)])[0].numel() == 0
    with pytest.raises(ValueError, match="differ from token_ids"):
        TrainSample([1, 2, 3], [TurnTokens(1, (5,), (0.0,), 1)], 1.0)
    with pytest.raises(ValueError, match="must start after position 0"):
        TrainSample([1, 2, 3], [TurnTokens(0, (1,), (0.0,), 1)], 1.0)
    with pytest.raises(ValueError, match="log-probs for"):
        TrainSample([1, 2, 3], [TurnTokens(1, (2,), (0.0, 0.0), 1)], 1.0)
    with pytest.raises(ValueError, match="advantage must be finite"):
        TrainSample([1, 2, 3], [], math.inf)


def test_samples_from_trajectories_keeps_the_ones_with_tokens():
    played = Trajectory("player_0", "red", "red", ("red", 1), True, token_ids=[1, 2, 3, 4])
    played.turns.append(TurnTokens(2, (3, 4), (-0.5, -0.25), 1))
    silent = Trajectory("player_1", "bot", "blue", None, False, token_ids=[1, 2])
    samples = samples_from_trajectories([played, silent], [0.5, -0.5])
    assert len(samples) == 1
    assert samples[0].positions == (2, 3) and samples[0].advantage == 0.5
    assert samples[0].behaviour_logprobs == (-0.5, -0.25)
    with pytest.raises(ValueError, match="advantages"):
        samples_from_trajectories([played], [])
