"""AReaL's own rollout client against LoRA League's server: `RemotevLLMEngine.rollout_batch`
(AReaL's WorkflowExecutor, trajectory format checks on) runs `GameWorkflow` episodes of a home
and a foreign game on `python -m agents.serving` (127.0.0.1, tiny model), the trained policy
being a LoRA adapter that AReaL's client asks for by its versioned name (`red-v1`).

Checked: AReaL's trajectory format, every log-prob equal to what our server gives the same
tokens (re-scored through the same adapter), every reward equal to the env's (the episode's
moves replayed through the AEC face by `agents.arena`), and the adapter really applied."""

from __future__ import annotations

import httpx
import pytest

pytest.importorskip("areal")
from areal.api.cli_args import GenerationHyperparameters, InferenceEngineConfig
from areal.api.io_struct import ModelRequest
from areal.engine.vllm_remote import RemotevLLMEngine
from areal.infra.workflow_executor import check_trajectory_format

import envs
from agents.serving import AdapterRef, GenerationRequest, SamplingSettings
from integrations.areal import Bot, Frozen, GameWorkflow, SelfPlay, serve_for_areal
from tests.areal.support import MAX_MODEL_LEN, replayed_returns
from tests.integration.conftest import random_adapter

pytestmark = [pytest.mark.engine, pytest.mark.slow]
TOLERANCE = 1e-4  # a token's log-prob sampled vs the same token re-scored (prefill), fp32
MAX_NEW_TOKENS = 12
VERSION = 1


@pytest.fixture(scope="module")
def setup(league_server, tiny_model):
    """The trained adapter `red` (v1, also under AReaL's name `red-v1`), a frozen opponent
    `blue` (v1, ours only), and AReaL's engine pointed at the server, at version 1."""
    client, addr = league_server
    red = client.publish("red", *random_adapter(tiny_model, seed=1))
    blue = client.publish("blue", *random_adapter(tiny_model, seed=2))
    assert serve_for_areal(client, red) == "red-v1"
    config = InferenceEngineConfig(
        backend="vllm:d1",
        use_lora=True,
        check_trajectory_format=True,
        consumer_batch_size=4,
        max_concurrent_rollouts=4,
        # AReaL admits (max_head_offpolicyness + version + 1) x consumer_batch_size episodes in
        # all; no trainer advances the version here, so leave room for every test's episodes.
        max_head_offpolicyness=8,
        setup_timeout=120,
        request_timeout=300,
    )
    engine = RemotevLLMEngine(config)
    engine.initialize(addr=addr)
    engine.set_version(VERSION)
    yield client, addr, engine, red, blue
    engine.destroy()


def gconfig(**kw) -> GenerationHyperparameters:
    return GenerationHyperparameters(
        max_new_tokens=MAX_NEW_TOKENS, max_tokens=MAX_MODEL_LEN, lora_name="red", **kw
    )


def completions(traj) -> list[tuple[int, int]]:
    """(start, end) of every run of the loss mask: the engine's completions."""
    mask = [*traj["loss_mask"][0].tolist(), 0]
    runs, start = [], None
    for i, m in enumerate(mask):
        if m and start is None:
            start = i
        elif not m and start is not None:
            runs.append((start, i))
            start = None
    return runs


def rescored(addr: str, model: str, ids: list[int], start: int, end: int) -> list[float]:
    """Our server's log-probs of ids[start:end] after ids[:start], under `model`."""
    body = {"model": model, "prompt": ids[:end], "max_tokens": 1, "prompt_logprobs": 0}
    out = httpx.post(f"http://{addr}/v1/completions", json=body, timeout=120)
    assert out.status_code == 200, out.text
    prompt_logprobs = out.json()["choices"][0]["prompt_logprobs"]
    return [prompt_logprobs[i][str(ids[i])]["logprob"] for i in range(start, end)]


def first_mover(env_id: str, seed: int) -> str:
    env = envs.make_parallel(env_id)
    _, infos = env.reset(seed=seed)
    (agent,) = [a for a in env.agents if infos[a].get("acting")]
    env.close()
    return agent


CASES = {
    "home, a scripted bot": ("kuhn_poker_v0", "bot"),
    "foreign (OpenSpiel), a frozen adapter through our server": ("openspiel/kuhn_poker", "frozen"),
    "foreign (TextArena), self-play": ("textarena/KuhnPoker-v0", "self"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_areal_rollout_batch_on_our_server(case, setup):
    client, addr, engine, _, blue = setup
    env_id, kind = CASES[case]
    opponent = {
        "bot": Bot("random"),
        "frozen": Frozen(client, blue, SamplingSettings(max_tokens=MAX_NEW_TOKENS)),
        "self": SelfPlay(),
    }[kind]
    records = []
    workflow = GameWorkflow(
        env_id, gconfig(), client.tokenizer, opponent, on_episode=records.append
    )
    # AReaL drops an episode whose seat never moved (an opponent who moved first forfeited):
    # one episode's seat is the one that moves first, so that episode is always there.
    first = first_mover(env_id, 11)
    data = [{"seed": 11, "seat": first}, {"seed": 12}]  # the second seat rotates with the seed
    trajectories = engine.rollout_batch(data, workflow)
    assert len(records) == len(data)  # no episode failed
    moved = [r for r in records if any(s.get(r.seat) is not None for s in r.steps)]
    assert len(trajectories) == len(moved) >= 1
    tokenizer = client.tokenizer
    matched = set()
    for traj in trajectories:
        assert check_trajectory_format(traj)
        ids = traj["input_ids"][0].tolist()
        runs = completions(traj)
        assert runs
        # which episode: the one whose trained seat played exactly these completions
        moves = [tokenizer.decode(ids[a:b], skip_special_tokens=True) for a, b in runs]
        (index,) = [
            i for i, r in enumerate(records)
            if [s[r.seat] for s in r.steps if s.get(r.seat)] == [m for m in moves if m]
            and f"you are {r.seat}" in tokenizer.decode(ids[: runs[0][0]]).lower()
        ]  # fmt: skip
        matched.add(index)
        record = records[index]
        # log-probs: what our server gives these tokens through the adapter, by AReaL's name
        logprobs = traj["logprobs"][0]
        for a, b in runs:
            # A rescoring request asks for one new token, so its prompt must leave one free:
            # a game that filled the whole context is checked up to its last token.
            b = min(b, MAX_MODEL_LEN - 1)
            assert logprobs[a:b].tolist() == pytest.approx(
                rescored(addr, "red-v1", ids, a, b), abs=TOLERANCE
            )
        assert (traj["versions"][0][traj["loss_mask"][0].bool()] == VERSION).all()
        # rewards: the env's, for the trained seat
        reward = float(traj["rewards"][0])
        assert reward == pytest.approx(record.returns[record.seat])
        assert record.returns == pytest.approx(replayed_returns(record))
    assert len(matched) == len(trajectories)


def test_the_versioned_name_serves_our_adapter(setup):
    """AReaL's request for `red-v1` is answered by the weights we published as `red@v1`:
    greedy decoding through AReaL's client and through ours agree, and differ from the base."""
    import asyncio

    client, _, engine, red, _ = setup
    prompt = client.tokenizer.apply_chat_template(
        [{"role": "user", "content": "Your move?"}], add_generation_prompt=True
    )
    prompt = list(prompt["input_ids"] if hasattr(prompt, "keys") else prompt)
    request = ModelRequest(input_ids=prompt, gconfig=gconfig(greedy=True, stop_token_ids=[]))
    theirs = asyncio.run(engine.agenerate(request))
    greedy = SamplingSettings(temperature=0.0, max_tokens=MAX_NEW_TOKENS)
    ours, base = client.generate(
        [
            GenerationRequest(tuple(prompt), red, greedy),
            GenerationRequest(tuple(prompt), None, greedy),
        ]
    )
    assert theirs.output_tokens == list(ours.token_ids)
    assert theirs.output_versions == [VERSION] * len(theirs.output_tokens)
    assert theirs.output_tokens != list(base.token_ids) or theirs.output_logprobs != pytest.approx(
        base.logprobs, abs=1e-3
    )
    assert AdapterRef("red", 1) in client.remote_adapters()
