"""Rollout: play many games at once, batching every language agent's turn into one server call.

Each tick gathers every agent that must act now in every live game; all LLM seats (whatever
their adapter version) go to the policy server in ONE `generate()` call, scripted seats to their
bots; then every game steps. Games are PettingZoo Parallel envs, so simultaneous moves batch too.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace

import envs
from agents.llm_agent import LLMAgent
from agents.policy import ActRequest
from agents.scripted import ScriptedBot, make_bot
from agents.serving.base import PolicyServer, room_for_choices
from agents.serving.types import AdapterRef, GenerationRequest, SamplingSettings
from trainers.counterfactual import Branches, ReplyScorer
from trainers.episode import Episode, Trajectory, turns_from_chat
from trainers.run.timing import PhaseTimer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Seat:
    """Who plays one agent of one game."""

    player: str  # league player id
    adapter: AdapterRef | None = None  # LLM seat: the adapter version it is served with
    bot: str | None = None  # scripted seat: the bot kind
    learning: bool = False

    def __post_init__(self) -> None:
        if (self.adapter is None) == (self.bot is None):
            raise ValueError(f"seat of {self.player!r} needs exactly one of adapter and bot")


@dataclass
class MatchSpec:
    seed: int
    seats: dict[str, Seat]
    #: Sampling temperature of this match's LLM seats (0: greedy); None: the rollout's.
    temperature: float | None = None


@dataclass
class RolloutStats:
    games: int = 0
    ticks: int = 0
    llm_calls: int = 0
    llm_requests: int = 0
    completion_tokens: int = 0
    generate_seconds: float = 0.0
    seconds: float = 0.0
    too_long: int = 0
    reply_requests: int = 0  # fresh replies in the copies that value moves (counted in llm_*)
    expected_replies: int = 0  # copies valued by the expectation of their reply
    per_call_batch: list[int] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.generate_seconds if self.generate_seconds else 0.0


class Rollout:
    def __init__(
        self,
        server: PolicyServer | None,
        env_id: str,
        env_kwargs: dict | None = None,
        payoff: str | None = None,
        sampling: SamplingSettings | None = None,
        constrained: bool = True,
        move_values: bool = False,
        fresh_replies: bool = False,
        expected_replies: bool = False,
    ) -> None:
        """`move_values`: value every other legal move of each constrained decision of a
        learning seat by replaying a copy of the game (`trainers.counterfactual`);
        `fresh_replies`: the language players of a copy sample their moves in it afresh
        (batched with the real games' requests) instead of repeating the real ones;
        `expected_replies`: a fresh reply that closes its copy's window is averaged over the
        replier's moves, scored by `reply_scorer` after the games (unset: sampled as before)."""
        if expected_replies and not fresh_replies:
            raise ValueError("expected_replies averages fresh replies: set fresh_replies too")
        self.server = server
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.payoff = payoff
        self.sampling = sampling or SamplingSettings()
        self.constrained = constrained
        self.move_values = move_values
        self.fresh_replies = fresh_replies
        self.expected_replies = expected_replies
        #: Expected replies: the repliers' move probabilities (`counterfactual.ReplyScorer`).
        self.reply_scorer: ReplyScorer | None = None
        self.stats = RolloutStats()
        #: Times engine calls and bots as phases (`trainers.run.timing`); None: untimed.
        self.timer: PhaseTimer | None = None

    def _phase(self, name: str) -> AbstractContextManager[None]:
        return nullcontext() if self.timer is None else self.timer.phase(name)

    def _agent_for(
        self, agents: dict, adapter: AdapterRef, temperature: float | None = None
    ) -> LLMAgent:
        """The play's agent for `adapter` sampling at `temperature` (None: the rollout's)."""
        key = (adapter, temperature)
        if key not in agents:
            sampling = self.sampling
            if temperature is not None:
                sampling = replace(sampling, temperature=temperature)
            agents[key] = LLMAgent(
                adapter.lora_name, self.server, adapter, sampling, self.constrained
            )
        return agents[key]

    def play(self, matches: Sequence[MatchSpec], step: int = 0, mix: float = 0.5) -> list[Episode]:
        """Play every match to the end; return one `Episode` each, in order."""
        start = time.perf_counter()
        games = [
            envs.make_parallel(self.env_id, payoff=self.payoff, mix=mix, **self.env_kwargs)
            for _ in matches
        ]
        state = []
        for game, match in zip(games, matches, strict=True):
            obs, infos = game.reset(seed=match.seed)
            missing = set(game.possible_agents) - set(match.seats)
            if missing:
                raise ValueError(f"match has no seat for {sorted(missing)}")
            state.append(
                {
                    "obs": obs,
                    "infos": infos,
                    "returns": dict.fromkeys(obs, 0.0),
                    "moves": dict.fromkeys(obs, 0),
                    "turn_rewards": {agent: [] for agent in obs},
                    "before_first_turn": dict.fromkeys(obs, 0.0),
                }
            )
        branches = Branches() if self.move_values else None
        llm_agents: dict[tuple[AdapterRef, float | None], LLMAgent] = {}
        bots = {}
        refs = {s.adapter for m in matches for s in m.seats.values() if s.adapter is not None}
        if refs and self.server is None:
            raise ValueError("matches with LLM seats need a policy server")
        hold = self.server.holding(sorted(refs)) if self.server is not None else nullcontext()
        with hold:  # no version may be evicted mid-game
            while True:
                live = [g for g, game in enumerate(games) if game.agents]
                if not live:
                    break
                self._tick(games, matches, state, live, llm_agents, bots, branches)
        episodes = [
            self._episode(games[g], matches[g], state[g], llm_agents, g, step, mix)
            for g in range(len(games))
        ]
        if branches is not None:
            values = [branches.finish(g) for g in range(len(games))]
            if self.reply_scorer is not None:
                with self._phase("expected_replies"):
                    self.stats.expected_replies += branches.resolve(self.reply_scorer)
            for g, episode in enumerate(episodes):
                add_move_values(episode, values[g], state[g]["turn_rewards"])
        self.stats.games += len(games)
        self.stats.seconds += time.perf_counter() - start
        return episodes

    def _tick(self, games, matches, state, live, llm_agents, bots, branches=None) -> None:
        self.stats.ticks += 1
        actions: dict[int, dict[str, str]] = {g: {} for g in live}
        llm_batch: list[tuple[int, str, LLMAgent, ActRequest, GenerationRequest]] = []
        decisions: list[tuple[int, str, list[str]]] = []  # (game, agent, legal moves) to value
        bot_batch: dict[str, list[tuple[int, ActRequest]]] = {}
        for g in live:
            for agent in games[g].agents:
                info = state[g]["infos"][agent]
                if not info.get("acting"):
                    continue
                request = ActRequest(agent, state[g]["obs"][agent]["text"], info, game_index=g)
                seat = matches[g].seats[agent]
                if seat.bot is not None:
                    bot_batch.setdefault(seat.bot, []).append((g, request))
                    continue
                llm = self._agent_for(llm_agents, seat.adapter, matches[g].temperature)
                gen = room_for_choices(llm.build_request(request))
                if self._too_long(gen):
                    # The chat outgrew the model: an empty move (invalid, penalised) instead of
                    # a failed batch; repeated, the game's forfeit rule ends it.
                    self.stats.too_long += 1
                    actions[g][agent] = ""
                    continue
                llm_batch.append((g, agent, llm, request, gen))
        replies = (
            self._reply_requests(matches, live, llm_agents, bots, branches)
            if branches is not None and self.fresh_replies
            else []
        )
        if llm_batch or replies:
            t = time.perf_counter()
            with self._phase("generate"):  # the copies' replies ride in the same engine call
                results = self.server.generate([item[4] for item in [*llm_batch, *replies]])
            self.stats.generate_seconds += time.perf_counter() - t
            self.stats.llm_calls += 1
            self.stats.llm_requests += len(llm_batch) + len(replies)
            self.stats.reply_requests += len(replies)
            self.stats.per_call_batch.append(len(llm_batch) + len(replies))
            for (branch, agent, llm, request, _), result in zip(
                replies, results[len(llm_batch) :], strict=True
            ):
                self.stats.completion_tokens += len(result.token_ids)
                branch.replies[agent] = llm.record(request, result, branch.chats[agent]).text
            for (g, agent, llm, request, _), result in zip(
                llm_batch, results[: len(llm_batch)], strict=True
            ):
                self.stats.completion_tokens += len(result.token_ids)
                actions[g][agent] = llm.record(request, result).text
                state[g]["turn_rewards"][agent].append(0.0)  # one entry per recorded turn
                legal = request.info.get("legal_moves")
                valued = branches is not None and self.constrained and legal
                if valued and matches[g].seats[agent].learning:
                    decisions.append((g, agent, list(legal)))
        for kind, items in bot_batch.items():
            bot = self._bot(bots, kind, matches[items[0][0]])
            with self._phase("bots"):
                responses = bot.act([r for _, r in items])
            for (g, request), response in zip(items, responses, strict=True):
                actions[g][request.agent] = response.text
        if branches is not None:  # the copies step with the moves the real games take now
            for g in live:
                branches.advance(g, actions[g])
            with self._phase("move_values"):
                for g, agent, legal in decisions:
                    turn = len(state[g]["turn_rewards"][agent]) - 1
                    chats = (
                        self._chats(g, matches[g], llm_agents, skip=agent)
                        if self.fresh_replies
                        else None
                    )
                    branches.branch(
                        g, games[g], agent, turn, legal, actions[g], chats, self.expected_replies
                    )
        for g in live:
            for agent in actions[g]:
                state[g]["moves"][agent] += 1
            obs, rewards, _, _, infos = games[g].step(actions[g])
            state[g]["obs"].update(obs)
            state[g]["infos"].update(infos)
            for agent, r in rewards.items():
                state[g]["returns"][agent] += r
                per_turn = state[g]["turn_rewards"][agent]
                if per_turn:  # credit the agent's latest turn (see Trajectory.turn_rewards)
                    per_turn[-1] += r
                else:
                    state[g]["before_first_turn"][agent] += r

    def _bot(self, bots: dict, kind: str, match: MatchSpec) -> ScriptedBot:
        """The rollout's bot of `kind`, made (seeded from the first match it plays) on first use."""
        if kind not in bots:
            seed = match.seed * 7919 + zlib.crc32(kind.encode())
            bots[kind] = make_bot(self.env_id, kind, seed=seed % 2**31)
        return bots[kind]

    def _too_long(self, gen: GenerationRequest) -> bool:
        return len(gen.prompt_token_ids) + gen.sampling.max_tokens > self.server.max_model_len

    def _chats(self, g: int, match: MatchSpec, llm_agents: dict, skip: str) -> dict:
        """Game `g`'s chats of its language players but `skip` (the deciding agent, who does not
        act again in its copies' window), as they stand now."""
        chats = {}
        for agent, seat in match.seats.items():
            llm = llm_agents.get((seat.adapter, match.temperature))  # None: a bot, or yet to act
            if agent != skip and llm is not None and (g, agent) in llm.conversations:
                chats[agent] = llm.conversations[(g, agent)]
        return chats

    def _reply_requests(self, matches, live, llm_agents, bots, branches: Branches) -> list[tuple]:
        """Fresh replies: one request for each language player each open copy waits for, made
        from the copy's own chat (a player yet to speak gets a new one). A bot answers its copy
        at once, from the copy's observation (bots are stateless: one answers every copy)."""
        out = []
        for g in live:
            for branch in branches.waiting(g):
                for agent in branch.acting():
                    if agent not in branch.obs:
                        continue
                    seat = matches[g].seats[agent]
                    info = branch.infos[agent]
                    request = ActRequest(agent, branch.obs[agent]["text"], info, game_index=g)
                    if seat.bot is not None:
                        bot = self._bot(bots, seat.bot, matches[g])
                        branch.replies[agent] = bot.act([request])[0].text
                        continue
                    llm = self._agent_for(llm_agents, seat.adapter, matches[g].temperature)
                    chat = branch.chats.setdefault(agent, llm.new_conversation())
                    gen = room_for_choices(llm.build_request(request, chat))
                    if self._too_long(gen):
                        branch.replies[agent] = ""  # as in the real game: an invalid move
                        continue
                    if self.expected_replies and gen.choices is not None:
                        branches.expect(branch, agent, seat.adapter, gen.prompt_token_ids)
                    out.append((branch, agent, llm, request, gen))
        return out

    def _episode(self, game, match, state, llm_agents, g, step, mix) -> Episode:
        raw = game.game
        trajectories = {}
        chats = {}
        for agent_obj in llm_agents.values():
            chats.update(agent_obj.end_game(g))
        for agent, seat in match.seats.items():
            info = state["infos"][agent]
            traj = Trajectory(
                agent=agent,
                player=seat.player,
                team=info["team"],
                adapter=None if seat.adapter is None else (seat.adapter.name, seat.adapter.version),
                learning=seat.learning,
                episode_return=float(state["returns"][agent]),
                raw_score=float(raw.scores[agent]),
                invalid_moves=int(raw.invalid_total[agent]),
                moves=int(state["moves"][agent]),
            )
            chat = chats.get(agent)
            if chat is not None:
                traj.token_ids = list(chat.token_ids)
                traj.turns = turns_from_chat(chat)
                per_turn = list(state["turn_rewards"].get(agent, ()))
                if per_turn and len(per_turn) == len(traj.turns):
                    per_turn[0] += state["before_first_turn"][agent]
                    traj.turn_rewards = tuple(per_turn)
            trajectories[agent] = traj
        return Episode(
            env_id=self.env_id,
            seed=match.seed,
            step=step,
            payoff=game.config.payoff,
            mix=mix,
            trajectories=trajectories,
            truncated=game.truncated,
            forfeited_by=raw.forfeited_by,
            transcript=raw.transcript(),
        )


def add_move_values(
    episode: Episode, values: dict[str, dict[int, dict[str, float]]], turn_rewards: dict
) -> None:
    """Give each valued turn of `episode` its `move_values`: the copies' values of the moves not
    played, and the move played with the reward it really earned in the same window (or its
    copy's expected value, with expected replies)."""
    for agent, per_turn in values.items():
        traj = episode.trajectories[agent]
        rewards = turn_rewards[agent]
        if len(rewards) != len(traj.turns):
            continue  # turns and rewards out of step (see _episode): no values
        out: list[dict[str, float] | None] = [None] * len(traj.turns)
        for k, others in per_turn.items():
            played = traj.turns[k].text
            out[k] = {**({played: float(rewards[k])} if played is not None else {}), **others}
        traj.move_values = tuple(out)
