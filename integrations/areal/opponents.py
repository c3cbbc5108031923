"""Who plays the seats an AReaL workflow does not train: LoRA League policies.

- `Bot(kind)`: a scripted bot (`agents.scripted`): `random` for every game, `strong` where the
  game has one. Seeded from the episode's seed and the seat, so an episode replays exactly.
- `Frozen(server, adapter)`: a published adapter version (or the base model, `adapter=None`)
  served by a LoRA League policy server: the OpenAI-compatible server mode
  (`agents.serving.client.RemotePolicyServer`) or an in-process backend. It plays through an
  `agents.llm_agent.LLMAgent`, with the same chat and sampling as in a LoRA League run.
- `SelfPlay()`: the policy AReaL trains, through AReaL's own engine at its current version. Its
  tokens are not part of the trajectory, which holds one seat.
"""

from __future__ import annotations

import asyncio
import threading
import zlib
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from agents.llm_agent import LLMAgent
from agents.policy import ActRequest
from agents.scripted import make_bot
from agents.serving.base import PolicyServer, room_for_choices
from agents.serving.types import AdapterRef, SamplingSettings


@dataclass(frozen=True)
class Bot:
    """A LoRA League scripted bot of this `kind` (`agents.scripted.bot_kinds(env_id)`)."""

    kind: str = "random"


@dataclass(frozen=True, eq=False)
class Frozen:
    """A published adapter version played through a LoRA League policy server.

    `server` must serve `adapter` (publish it there first); `adapter=None` plays the base model.
    `constrained` samples only legal moves where the game lists them (LoRA League's
    `rollout.constrained`).
    """

    server: PolicyServer
    adapter: AdapterRef | None = None
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    constrained: bool = False
    #: Taken around each call to an in-process backend, which is not made for calls from several
    #: threads at once (the remote client is).
    lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)


@dataclass(frozen=True)
class SelfPlay:
    """The policy being trained, through AReaL's engine (its current weight version)."""


Opponent = Bot | Frozen | SelfPlay


def bot_seed(episode_seed: int, agent: str, kind: str) -> int:
    """The seed of the bot of `kind` in seat `agent` of the episode seeded `episode_seed`."""
    words = [episode_seed % 2**32, zlib.crc32(agent.encode()), zlib.crc32(kind.encode())]
    return int(np.random.SeedSequence(words).generate_state(1)[0])


class BotPlayer:
    def __init__(self, env_id: str, spec: Bot, agent: str, episode_seed: int) -> None:
        self.bot = make_bot(env_id, spec.kind, seed=bot_seed(episode_seed, agent, spec.kind))
        self.too_long = 0

    async def act(self, request: ActRequest) -> str:
        return self.bot.act([request])[0].text


class FrozenPlayer:
    """One seat's chat with a `Frozen` adapter; generation runs off the event loop."""

    def __init__(self, spec: Frozen, agent: str, system_prompt: str | None) -> None:
        self.spec = spec
        name = "base" if spec.adapter is None else spec.adapter.lora_name
        self.agent = LLMAgent(
            f"{name}:{agent}", spec.server, spec.adapter, spec.sampling, spec.constrained,
            system_prompt,
        )  # fmt: skip
        self.too_long = 0

    def _act(self, request: ActRequest) -> str:
        server = self.spec.server
        generation = room_for_choices(self.agent.build_request(request))
        if len(generation.prompt_token_ids) + generation.sampling.max_tokens > server.max_model_len:
            self.too_long += 1  # as in a LoRA League rollout: an empty (invalid) move
            return ""
        with self.spec.lock if server.backend != "remote" else nullcontext():
            (result,) = server.generate([generation])
        return self.agent.record(request, result).text

    async def act(self, request: ActRequest) -> str:
        return await asyncio.to_thread(self._act, request)
