"""The learner scores a real episode exactly as the policy server sampled it, and publishing its
weights changes what the server serves.

A real multi-turn rps_v0 episode is played by `LLMAgent` through the vLLM engine and through the
transformers+peft server (temperature 1, free text and legal-move constrained), and a prisoner's
dilemma episode whose talk turns are constrained to their `move_format` (a regular expression).
The learner's log-probs of each agent's whole chat, one forward pass per chat, must equal the
behaviour log-probs the server returned for every sampled token: otherwise PPO's importance
ratios and the KL are wrong from the first step.
"""

from __future__ import annotations

import pytest

from agents.serving import AdapterRef, PolicyServer, SamplingSettings
from tests.integration.conftest import tiny_vllm_server
from trainers.episode import Trajectory, turns_from_chat
from trainers.learn.learner import Learner, LearnerConfig, LoRASettings, samples_from_trajectories

pytestmark = [pytest.mark.engine, pytest.mark.slow]

# Max abs log-prob gap, fp32, the learner (eager transformers + peft) vs vLLM's CPU kernels (paged
# attention, fused norms and activations, its LoRA ops): other op orders in every layer. Measured
# agreement is ~1e-5 on the tiny model; 1e-4 leaves 10x, a wrong adapter or position is >1e-2 off.
TOLERANCE = 1e-4
LORA = LoRASettings(lora_rank=8, lora_alpha=16)
SAMPLING = SamplingSettings(temperature=1.0, max_tokens=16)


@pytest.fixture(scope="module")
def learner(tiny_model, adapters):
    learner = Learner(
        tiny_model,
        ["red"],
        LORA,
        LearnerConfig(lr=1e-2, micro_batch_size=8, learner_dtype="float32", kl_coef=0.0),
        seed=0,
    )
    learner.set_adapter_weights("red", adapters[0][0])  # random B: the adapter changes outputs
    return learner


@pytest.fixture(scope="module")
def vllm_server(tiny_model, tmp_path_factory):
    server = tiny_vllm_server(tiny_model, tmp_path_factory.mktemp("vllm_store"), 2, LORA.lora_rank)
    yield server
    server.close()


@pytest.fixture(scope="module")
def servers(vllm_server, hf_server):
    return {"vllm": vllm_server, "hf": hf_server}


def play(
    server: PolicyServer,
    ref: AdapterRef,
    constrained: bool,
    seed: int,
    env_id: str = "rps_v0",
    rounds: int = 3,
):
    """One episode (3 rounds of rps_v0 by default), both seats played by one agent; its chats
    as samples."""
    from agents.arena import play_episode
    from agents.llm_agent import LLMAgent

    agent = LLMAgent("red", server, ref, SAMPLING, constrained=constrained)
    result = play_episode(env_id, {"player_0": agent, "player_1": agent}, seed=seed, rounds=rounds)
    if constrained:
        assert not any(result.invalid_moves.values()), result.transcript
    trajectories = []
    for seat, chat in sorted(agent.end_game(0).items()):
        trajectory = Trajectory(seat, "red", seat, (ref.name, ref.version), True)
        trajectory.token_ids = list(chat.token_ids)
        trajectory.turns = turns_from_chat(chat)
        trajectories.append(trajectory)
    advantages = [1.0 if i % 2 == 0 else -1.0 for i in range(len(trajectories))]
    return samples_from_trajectories(trajectories, advantages)


def max_gap(a, b) -> float:
    return max(abs(float(x) - float(y)) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("backend", ["vllm", "hf"])
@pytest.mark.parametrize("constrained", [False, True], ids=["free", "constrained"])
def test_learner_logprobs_match_the_servers_behaviour_logprobs(
    learner, servers, backend, constrained
):
    server = servers[backend]
    ref = server.publish("red", *learner.adapter_weights("red"))
    samples = play(server, ref, constrained, seed=3)
    assert samples and all(len(s.turns) >= 2 for s in samples)  # multi-turn chats
    if constrained:
        assert all(t.choices for s in samples for t in s.turns)
    scores = learner.logprobs("red", samples)  # one forward pass per chat
    for sample, score in zip(samples, scores, strict=True):
        gap = max_gap(score, sample.behaviour_logprobs)
        assert gap <= TOLERANCE, f"{backend}: learner vs server log-prob gap {gap}"


@pytest.mark.parametrize("backend", ["vllm", "hf"])
def test_format_constrained_talk_is_served_inside_its_format_and_scored_as_served(
    learner, request, backend
):
    from envs.core.formats import matches
    from envs.prisoners_dilemma.rules import TALK_FORMAT

    server = request.getfixturevalue(f"{backend}_server")  # the hf case starts no engine
    ref = server.publish("red", *learner.adapter_weights("red"))
    samples = play(server, ref, True, seed=1, env_id="prisoners_dilemma_v0", rounds=2)
    talk = [t for s in samples for t in s.turns if t.pattern]
    assert len(talk) == 4 and all(t.pattern == TALK_FORMAT for t in talk)  # 2 rounds x 2 seats
    assert all(matches(TALK_FORMAT, t.text) for t in talk), [t.text for t in talk]
    assert all(t.choices and not t.pattern for s in samples for t in s.turns if t not in talk)
    scores = learner.logprobs("red", samples)
    for sample, score in zip(samples, scores, strict=True):
        gap = max_gap(score, sample.behaviour_logprobs)
        assert gap <= TOLERANCE, f"{backend}: learner vs server log-prob gap {gap}"


def served_logprobs(server: PolicyServer, ref: AdapterRef, sample) -> list[float]:
    """The log-probs the server's current weights for `ref` give the sample's completion tokens
    (temperature 1, unconstrained), by scoring the tokens instead of sampling them."""
    import torch

    ids = list(sample.token_ids)
    if server.backend == "hf":
        server.peft.set_adapter(ref.lora_name)
        with torch.no_grad():
            logits = server.peft(input_ids=torch.tensor([ids])).logits[0]
        logp = torch.log_softmax(logits.float(), dim=-1)
        return [float(logp[p - 1, ids[p]]) for p in sample.positions]
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt
    from vllm.lora.request import LoRARequest

    stored = server.store.get(ref)
    lora = LoRARequest(ref.lora_name, stored.lora_id, str(stored.path))
    params = SamplingParams(max_tokens=1, prompt_logprobs=0)  # prompt log-probs are raw: T = 1
    (out,) = server.llm.generate(
        [TokensPrompt(prompt_token_ids=ids)], params, lora_request=[lora], use_tqdm=False
    )
    return [out.prompt_logprobs[p][ids[p]].logprob for p in sample.positions]


@pytest.mark.parametrize("backend", ["vllm", "hf"])
def test_publishing_an_update_moves_the_served_policy_to_the_learners(learner, servers, backend):
    server = servers[backend]
    old_ref = server.publish("red", *learner.adapter_weights("red"))
    samples = play(server, old_ref, constrained=False, seed=5)
    old = learner.logprobs("red", samples)
    stats = learner.update("red", samples)
    assert stats["skipped"] == 0.0 and stats["grad_norm"] > 0
    new = learner.logprobs("red", samples)
    with server.holding([old_ref]):  # the old version stays servable next to the new one
        new_ref = server.publish("red", *learner.adapter_weights("red"))
        assert new_ref.version == old_ref.version + 1
        for sample, before, after in zip(samples, old, new, strict=True):
            assert max_gap(before, after) > 100 * TOLERANCE  # the step really moved the policy
            assert max_gap(served_logprobs(server, old_ref, sample), before) <= TOLERANCE
            assert max_gap(served_logprobs(server, new_ref, sample), after) <= TOLERANCE
