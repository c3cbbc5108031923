"""`GameWorkflow`: a LoRA League game as an AReaL `RolloutWorkflow`.

One episode is one seat of one game, played by the policy AReaL trains through AReaL's inference
engine (`engine.agenerate`); the other seats are played by LoRA League policies
(`integrations.areal.opponents`: a scripted bot, a frozen adapter through a LoRA League server,
or the trained policy itself). The game is the registered env (`envs.make_parallel(env_id)`, home
or foreign, payoff and kwargs as given), driven as LoRA League's rollout drives it; the seat's chat
is built as LoRA League's agents build it (`agents.conversation`: the rules once, then per turn
what happened since and the move), kept as the exact token ids the engine saw and sampled.

`arun_episode(engine, data)` returns AReaL's trajectory format, [1, T] tensors over the seat's
whole chat:

    input_ids       every prompt and completion token of the chat (int32)
    attention_mask  ones (bool)
    loss_mask       1 on the tokens the engine sampled for the seat (int32)
    logprobs        the engine's log-prob of each of those tokens, 0 elsewhere (float32)
    versions        the weight version that sampled each of them, -1 elsewhere (int32)
    rewards         [1]: the seat's return, the sum of the env's rewards to it (float32)

or None (AReaL rejects the episode) when the seat never had to move. `data` holds the episode's
`seed` and, optionally, its `seat`; without one the seat rotates with the seed
(`possible_agents[seed % n]`). `episodes(n)` makes such data.

>>> workflow = GameWorkflow("kuhn_poker_v0", gconfig, tokenizer, opponent=Bot("strong"))
>>> trajectories = engine.rollout_batch(episodes(8), workflow)
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from areal.api.cli_args import GenerationHyperparameters
from areal.api.io_struct import ModelRequest
from areal.api.workflow_api import RolloutWorkflow

import envs
from agents.conversation import Conversation, user_turn_text
from agents.policy import ActRequest
from integrations.areal.opponents import Bot, BotPlayer, Frozen, FrozenPlayer, Opponent, SelfPlay

log = logging.getLogger(__name__)


def episodes(n: int, first_seed: int = 0, seat: str | None = None) -> list[dict[str, Any]]:
    """Data for `n` episodes (seeds `first_seed`, `first_seed + 1`, ...), for AReaL's
    `rollout_batch`, `submit` or a dataloader."""
    return [{"seed": s} if seat is None else {"seed": s, "seat": seat}
            for s in range(first_seed, first_seed + n)]  # fmt: skip


@dataclass(frozen=True)
class EpisodeRecord:
    """What happened in one episode, for checks and logs (`GameWorkflow(on_episode=...)`)."""

    env_id: str
    seed: int
    seat: str
    #: Per env step, the actions submitted (agent -> text), in order.
    steps: tuple[dict[str, str], ...]
    #: Every agent's return: the sum of the env's rewards to it.
    returns: dict[str, float]
    transcript: str
    #: Moves that were not sampled because a chat outgrew the model (each an empty move).
    too_long: int = 0


class EnginePlayer:
    """A seat played through AReaL's engine: one growing chat, every completion recorded."""

    def __init__(
        self, engine: Any, gconfig: GenerationHyperparameters, tokenizer: Any, system: str | None
    ) -> None:
        self.engine = engine
        self.gconfig = gconfig
        self.tokenizer = tokenizer
        self.chat = Conversation(tokenizer, system)
        self.versions: list[list[int]] = []  # per completion, per token
        self.rid = uuid.uuid4().hex  # one id per chat: AReaL keeps it on one server (KV cache)
        self.too_long = 0

    async def act(self, request: ActRequest) -> str:
        prompt = self.chat.add_user(user_turn_text(request.info, first=not self.chat.turns))
        if len(prompt) + self.gconfig.max_new_tokens > self.gconfig.max_tokens:
            self.too_long += 1  # as in a LoRA League rollout: an empty (invalid) move
            return ""
        req = ModelRequest(
            rid=self.rid, input_ids=prompt, gconfig=self.gconfig.new(), tokenizer=self.tokenizer
        )
        resp = await self.engine.agenerate(req)
        text = self.tokenizer.decode(resp.output_tokens, skip_special_tokens=True)
        version = max(resp.output_versions) if resp.output_versions else None
        self.chat.add_completion(resp.output_tokens, resp.output_logprobs, text, version)
        self.versions.append(list(resp.output_versions))
        return text

    def trajectory(self, reward: float) -> dict[str, Any]:
        """The chat in AReaL's format ([1, T] tensors, see the module docstring)."""
        import torch

        n = len(self.chat.token_ids)
        logprobs, loss_mask, versions = [0.0] * n, [0] * n, [-1] * n
        for turn, turn_versions in zip(self.chat.turns, self.versions, strict=True):
            for k, (lp, v) in enumerate(zip(turn.logprobs, turn_versions, strict=True)):
                logprobs[turn.start + k], loss_mask[turn.start + k], versions[turn.start + k] = (
                    lp, 1, v,
                )  # fmt: skip
        out = {
            "input_ids": torch.tensor(self.chat.token_ids, dtype=torch.int32),
            "attention_mask": torch.ones(n, dtype=torch.bool),
            "loss_mask": torch.tensor(loss_mask, dtype=torch.int32),
            "logprobs": torch.tensor(logprobs, dtype=torch.float32),
            "versions": torch.tensor(versions, dtype=torch.int32),
            "rewards": torch.tensor(reward, dtype=torch.float32),
        }
        return {k: v.unsqueeze(0) for k, v in out.items()}


class GameWorkflow(RolloutWorkflow):
    """A LoRA League game as an AReaL rollout workflow (see the module docstring).

    `opponent` plays every other seat (default `Bot()`, the random bot), or give one per agent
    name (`{"player_1": Bot("strong")}`; a seat left out plays `Bot()`). `seat` fixes the
    trained seat (else `data["seat"]`, else it rotates with the seed). `env_kwargs` go to
    `envs.make_parallel` (`payoff`, `mix`, the game's own arguments). `gconfig.max_tokens` is
    the model length: a chat that would outgrow it gets an empty (invalid) move instead, as in
    a LoRA League rollout. `gconfig.max_new_tokens` must be within the server's limit
    (`python -m agents.serving --max-tokens`). `on_episode` is called with each finished
    episode's `EpisodeRecord`.
    """

    def __init__(
        self,
        env_id: str,
        gconfig: GenerationHyperparameters,
        tokenizer: Any,
        opponent: Opponent | Mapping[str, Opponent] | None = None,
        *,
        seat: str | None = None,
        env_kwargs: Mapping[str, Any] | None = None,
        system_prompt: str | None = None,
        on_episode: Callable[[EpisodeRecord], None] | None = None,
    ) -> None:
        envs.spec(env_id)  # an unknown or refused id fails here, with the reason
        if isinstance(tokenizer, str | Path):
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(tokenizer)
        self.env_id = env_id
        self.tokenizer = tokenizer
        self.gconfig = with_stop_tokens(gconfig.new(n_samples=1), tokenizer)
        self.opponent = Bot() if opponent is None else opponent
        self.seat = seat
        self.env_kwargs = dict(env_kwargs or {})
        self.system_prompt = system_prompt
        self.on_episode = on_episode

    def _opponent(self, agent: str) -> Opponent:
        if isinstance(self.opponent, Mapping):
            return self.opponent.get(agent, Bot())
        return self.opponent

    def _player(
        self, engine: Any, agent: str, seed: int
    ) -> EnginePlayer | FrozenPlayer | BotPlayer:
        spec = self._opponent(agent)
        if isinstance(spec, SelfPlay):
            return EnginePlayer(engine, self.gconfig, self.tokenizer, self.system_prompt)
        if isinstance(spec, Frozen):
            return FrozenPlayer(spec, agent, self.system_prompt)
        if isinstance(spec, Bot):
            return BotPlayer(self.env_id, spec, agent, seed)
        raise TypeError(f"opponent of {agent} must be Bot, Frozen or SelfPlay, got {spec!r}")

    async def arun_episode(self, engine: Any, data: dict[str, Any]) -> dict[str, Any] | None:
        seed = int(data["seed"])
        env = envs.make_parallel(self.env_id, **self.env_kwargs)
        try:
            obs, infos = env.reset(seed=seed)
            agents = list(env.possible_agents)
            seat = data.get("seat") or self.seat or agents[seed % len(agents)]
            if seat not in agents:
                raise ValueError(f"seat {seat!r} is not an agent of {self.env_id}: {agents}")
            learner = EnginePlayer(engine, self.gconfig, self.tokenizer, self.system_prompt)
            players = {a: learner if a == seat else self._player(engine, a, seed) for a in agents}
            returns = dict.fromkeys(agents, 0.0)
            steps: list[dict[str, str]] = []
            while env.agents:
                acting = [a for a in env.agents if infos[a].get("acting")]
                requests = [ActRequest(a, obs[a]["text"], infos[a]) for a in acting]
                moves = await asyncio.gather(*(players[r.agent].act(r) for r in requests))
                actions = dict(zip(acting, moves, strict=True))
                steps.append(actions)
                obs_now, rewards, _, _, infos_now = env.step(actions)
                obs.update(obs_now)
                infos.update(infos_now)
                for agent, r in rewards.items():
                    returns[agent] += float(r)
            transcript = env.unwrapped.game.transcript()
        finally:
            env.close()
        too_long = sum(p.too_long for p in players.values())
        record = EpisodeRecord(self.env_id, seed, seat, tuple(steps), returns, transcript, too_long)
        if self.on_episode is not None:
            self.on_episode(record)
        _log_stats(returns[seat], len(learner.chat.turns), too_long)
        if not learner.chat.turns:
            log.debug("%s seed %d: %s sampled no move; episode dropped", self.env_id, seed, seat)
            return None
        return learner.trajectory(returns[seat])


def with_stop_tokens(
    gconfig: GenerationHyperparameters, tokenizer: Any
) -> GenerationHyperparameters:
    """`gconfig` stopping at the tokenizer's end-of-sequence (and padding) tokens too, as AReaL's
    own workflows do (`new_with_stop_and_pad_token_ids`, which would also add a missing pad id as
    None)."""
    stop = list(gconfig.stop_token_ids)
    for token in (tokenizer.eos_token_id, tokenizer.pad_token_id):
        if token is not None and token not in stop:
            stop.append(int(token))
    return gconfig.new(stop_token_ids=stop)


def _log_stats(reward: float, turns: int, too_long: int) -> None:
    """The episode's reward and length into AReaL's stats tracker (its trainer logs them)."""
    from areal.infra import workflow_context
    from areal.utils import stats_tracker

    stats_tracker.get(workflow_context.stat_scope()).scalar(
        reward=reward, num_turns=turns, too_long=too_long
    )
