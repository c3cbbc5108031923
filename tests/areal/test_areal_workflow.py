"""`GameWorkflow` with a stand-in for AReaL's engine that plays a legal move: AReaL's trajectory
format, the loss mask on exactly the engine's tokens, and rewards equal to the env's, replayed
through the AEC face of the game by LoRA League's own reference loop (`agents.arena`)."""

from __future__ import annotations

import asyncio
import re
import zlib

import pytest

pytest.importorskip("areal")
from areal.api.cli_args import GenerationHyperparameters
from areal.api.io_struct import ModelResponse
from areal.infra.workflow_executor import check_trajectory_format

from agents.serving.types import SamplingSettings
from integrations.areal import Bot, Frozen, GameWorkflow, SelfPlay, episodes
from tests.areal.support import replayed_returns
from tests.contract.sizing import ALL_IDS, FOREIGN_IDS

MOVE = re.compile(r"\[[^\]\n]+\]")
#: The fast tier runs every home game and every tenth foreign one (as the contract tests do).
FAST_FOREIGN = frozenset(FOREIGN_IDS[::10])


class MoveEngine:
    """Answers every request with the last bracketed move its prompt names (a legal one in most
    games; "[yes]" if it names none), then the end-of-turn token; remembers what it was asked
    and answered."""

    def __init__(self, tokenizer, version: int = 3) -> None:
        self.tokenizer = tokenizer
        self.version = version
        self.calls: list[tuple[str, list[int], list[int], list[float]]] = []

    def get_version(self) -> int:
        return self.version

    async def agenerate(self, req) -> ModelResponse:
        prompt = self.tokenizer.decode(req.input_ids)
        named = MOVE.findall(prompt)
        move = named[-1] if named else "[yes]"
        tokens = [*self.tokenizer(move, add_special_tokens=False)["input_ids"]]
        tokens.append(self.tokenizer.eos_token_id)
        logprobs = [-0.1 * (k + 1) - 0.01 * len(self.calls) for k in range(len(tokens))]
        self.calls.append((req.rid, list(req.input_ids), tokens, logprobs))
        return ModelResponse(
            input_tokens=list(req.input_ids),
            output_tokens=tokens,
            output_logprobs=logprobs,
            output_versions=[self.version] * len(tokens),
            stop_reason="stop",
            tokenizer=self.tokenizer,
        )


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def gconfig(**kw) -> GenerationHyperparameters:
    return GenerationHyperparameters(max_new_tokens=16, max_tokens=2048, **kw)


def run(workflow, engine, data):
    return [asyncio.run(workflow.arun_episode(engine, d)) for d in data]


def run_each(workflow, tokenizer, data):
    """Each episode with its own engine: (trajectory, engine) pairs."""
    engines = [MoveEngine(tokenizer) for _ in data]
    return [
        (asyncio.run(workflow.arun_episode(e, d)), e) for e, d in zip(engines, data, strict=True)
    ]


def check_trajectory(traj, engine, record):
    """AReaL's format, the mask on the engine's tokens of the seat's chat and nowhere else, its
    log-probs and version there, and the seat's return as the reward."""
    assert check_trajectory_format(traj)
    assert set(traj) == {"input_ids", "attention_mask", "loss_mask", "logprobs", "versions",
                         "rewards"}  # fmt: skip
    ids, mask = traj["input_ids"][0].tolist(), traj["loss_mask"][0].tolist()
    assert all(v.shape == (1, len(ids)) for k, v in traj.items() if k != "rewards")
    assert traj["rewards"].shape == (1,)
    assert traj["attention_mask"].all()
    calls = [c for c in engine.calls if ids[: len(c[1])] == c[1]]  # the seat's own calls
    expected_mask = [0] * len(ids)
    for _, prompt, tokens, logprobs in calls:
        start = len(prompt)
        assert ids[start : start + len(tokens)] == tokens
        assert traj["logprobs"][0, start : start + len(tokens)].tolist() == pytest.approx(logprobs)
        expected_mask[start : start + len(tokens)] = [1] * len(tokens)
    assert mask == expected_mask
    assert (traj["versions"][0] == engine.version).tolist() == [bool(m) for m in mask]
    assert (traj["versions"][0][[not m for m in mask]] == -1).all()
    assert (traj["logprobs"][0][[not m for m in mask]] == 0).all()
    assert float(traj["rewards"][0]) == pytest.approx(record.returns[record.seat])
    return len(calls)


@pytest.mark.parametrize("env_id", ["kuhn_poker_v0", "rps_v0", "openspiel/kuhn_poker"])
def test_episodes_against_a_bot_are_in_areal_format_with_the_envs_rewards(env_id, tokenizer):
    records = []
    workflow = GameWorkflow(env_id, gconfig(), tokenizer, Bot("random"), on_episode=records.append)
    played = run_each(workflow, tokenizer, episodes(4))
    assert [r.seat for r in records] == ["player_0", "player_1", "player_0", "player_1"]
    for (traj, engine), record in zip(played, records, strict=True):
        assert check_trajectory(traj, engine, record) >= 1
        assert record.returns == pytest.approx(replayed_returns(record))
        learner_moves = [s[record.seat] for s in record.steps if record.seat in s]
        assert all(m.startswith("[") for m in learner_moves)  # legal: no retries
    assert len({r.returns[r.seat] for r in records}) > 1 or env_id == "rps_v0"


def tier(env_id: str):
    slow = env_id in FOREIGN_IDS and env_id not in FAST_FOREIGN
    return pytest.param(env_id, marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("env_id", [tier(i) for i in ALL_IDS])
def test_every_registered_game_runs_as_an_areal_workflow(env_id, tokenizer):
    """Home and foreign (every tenth foreign game in the fast tier, as the contract tests)."""
    records = []
    workflow = GameWorkflow(env_id, gconfig(), tokenizer, on_episode=records.append)
    engine = MoveEngine(tokenizer)
    (traj,) = run(workflow, engine, [{"seed": zlib.crc32(env_id.encode()) % 1000}])
    (record,) = records
    assert (traj is None) == (not engine.calls)  # None only when the seat never sampled
    if traj is not None:
        check_trajectory(traj, engine, record)
    assert record.returns == pytest.approx(replayed_returns(record))


def test_self_play_trains_one_seat_and_plays_the_others_through_the_engine(tokenizer):
    records = []
    workflow = GameWorkflow("rps_v0", gconfig(), tokenizer, SelfPlay(), on_episode=records.append)
    engine = MoveEngine(tokenizer)
    (traj,) = run(workflow, engine, [{"seed": 5, "seat": "player_1"}])
    (record,) = records
    assert record.seat == "player_1"
    assert len({rid for rid, *_ in engine.calls}) == 2  # one chat per seat
    own = check_trajectory(traj, engine, record)
    assert 0 < own < len(engine.calls)
    assert record.returns == pytest.approx(replayed_returns(record))


@pytest.mark.slow
def test_a_frozen_adapter_plays_through_a_lora_league_server(tokenizer, hf_server):
    records = []
    frozen = Frozen(hf_server, sampling=SamplingSettings(max_tokens=8))  # the base model, on hf
    workflow = GameWorkflow(
        "kuhn_poker_v0", gconfig(), tokenizer, {"player_1": frozen}, seat="player_0",
        on_episode=records.append,
    )  # fmt: skip
    engine = MoveEngine(tokenizer)
    (traj,) = run(workflow, engine, [{"seed": 0}])
    (record,) = records
    assert check_trajectory(traj, engine, record) >= 1
    assert any("player_1" in s for s in record.steps)
    assert record.returns == pytest.approx(replayed_returns(record))


def test_a_chat_that_outgrows_the_model_moves_empty_as_in_a_league_rollout(tokenizer):
    records = []
    workflow = GameWorkflow(
        "kuhn_poker_v0", gconfig().new(max_tokens=40), tokenizer, seat="player_0",
        on_episode=records.append,
    )  # fmt: skip
    engine = MoveEngine(tokenizer)
    (traj,) = run(workflow, engine, [{"seed": 1}])
    (record,) = records
    assert traj is None and not engine.calls  # no completion: nothing to train on
    assert record.too_long >= 1
    assert all(s.get("player_0", "") == "" for s in record.steps)
    assert record.returns["player_0"] < 0  # invalid moves, then the forfeit
    assert record.returns == pytest.approx(replayed_returns(record))


def test_bad_seats_and_ids_are_refused(tokenizer):
    with pytest.raises(KeyError, match="unknown env"):
        GameWorkflow("no_such_game_v0", gconfig(), tokenizer)
    workflow = GameWorkflow("rps_v0", gconfig(), tokenizer)
    with pytest.raises(ValueError, match="not an agent"):
        run(workflow, MoveEngine(tokenizer), [{"seed": 0, "seat": "red_7"}])


def test_stops_at_the_tokenizers_end_of_turn(tokenizer):
    workflow = GameWorkflow("rps_v0", gconfig(stop_token_ids=[5]), tokenizer)
    stop = workflow.gconfig.stop_token_ids
    assert stop[0] == 5 and tokenizer.eos_token_id in stop and None not in stop
    assert workflow.gconfig.n_samples == 1
