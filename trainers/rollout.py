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
    #: Payoff mix l of this match (mixed payoff); None: the one `Rollout.play` was given.
    mix: float | None = None


@dataclass
class GameState:
    """One live game of a `Rollout.play`: what its agents see and what they have earned."""

    obs: dict[str, dict]
    infos: dict[str, dict]
    returns: dict[str, float]
    moves: dict[str, int]
    #: Per agent, one reward per recorded turn: the rewards that arrived after that turn.
    turn_rewards: dict[str, list[float]]
    #: Per agent, rewards that arrived before its first turn (credited to that turn).
    before_first_turn: dict[str, float]

    @classmethod
    def start(cls, obs: dict[str, dict], infos: dict[str, dict]) -> GameState:
        return cls(
            obs=obs,
            infos=infos,
            returns=dict.fromkeys(obs, 0.0),
            moves=dict.fromkeys(obs, 0),
            turn_rewards={agent: [] for agent in obs},
            before_first_turn=dict.fromkeys(obs, 0.0),
        )

    def record(self, obs: dict, rewards: dict[str, float], infos: dict) -> None:
        """Take one env step's results, crediting each reward to its agent's latest turn."""
        self.obs.update(obs)
        self.infos.update(infos)
        for agent, r in rewards.items():
            self.returns[agent] += r
            per_turn = self.turn_rewards[agent]
            if per_turn:  # credit the agent's latest turn (see Trajectory.turn_rewards)
                per_turn[-1] += r
            else:
                self.before_first_turn[agent] += r


@dataclass
class LLMItem:
    """One language seat's request of a tick: where it goes back to, and who records it."""

    game: int
    agent: str
    llm: LLMAgent
    request: ActRequest
    generation: GenerationRequest


@dataclass
class TickRequests:
    """What a tick gathered: the moves already known, and the requests still to answer."""

    actions: dict[int, dict[str, str]]
    llm: list[LLMItem] = field(default_factory=list)
    bots: dict[str, list[tuple[int, ActRequest]]] = field(default_factory=dict)


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
        mixes = [mix if match.mix is None else match.mix for match in matches]
        games = [
            envs.make_parallel(self.env_id, payoff=self.payoff, mix=m, **self.env_kwargs)
            for m in mixes
        ]
        state: list[GameState] = []
        for game, match in zip(games, matches, strict=True):
            obs, infos = game.reset(seed=match.seed)
            missing = set(game.possible_agents) - set(match.seats)
            if missing:
                raise ValueError(f"match has no seat for {sorted(missing)}")
            state.append(GameState.start(obs, infos))
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
            self._episode(games[g], matches[g], state[g], llm_agents, g, step, mixes[g])
            for g in range(len(games))
        ]
        if branches is not None:
            values = [branches.finish(g) for g in range(len(games))]
            if self.reply_scorer is not None:
                with self._phase("expected_replies"):
                    self.stats.expected_replies += branches.resolve(self.reply_scorer)
            for g, episode in enumerate(episodes):
                add_move_values(episode, values[g], state[g].turn_rewards)
        self.stats.games += len(games)
        self.stats.seconds += time.perf_counter() - start
        return episodes

    def _tick(self, games, matches, state, live, llm_agents, bots, branches=None) -> None:
        """One move of every live game: gather the acting seats, answer them (one engine call
        for every language seat, the copies' fresh replies included; bots by kind), step."""
        self.stats.ticks += 1
        gathered = self._gather(games, matches, state, live, llm_agents)
        replies = (
            self._reply_requests(matches, live, llm_agents, bots, branches)
            if branches is not None and self.fresh_replies
            else []
        )
        decisions = self._generate(gathered, replies, matches, state, branches)
        self._answer_bots(gathered, matches, bots)
        if branches is not None:
            self._branch(games, matches, state, live, llm_agents, branches, gathered, decisions)
        for g in live:
            for agent in gathered.actions[g]:
                state[g].moves[agent] += 1
            obs, rewards, _, _, infos = games[g].step(gathered.actions[g])
            state[g].record(obs, rewards, infos)

    def _gather(self, games, matches, state, live, llm_agents) -> TickRequests:
        """The requests of every seat that must act now, sorted into language seats and bots."""
        gathered = TickRequests(actions={g: {} for g in live})
        for g in live:
            for agent in games[g].agents:
                info = state[g].infos[agent]
                if not info.get("acting"):
                    continue
                request = ActRequest(agent, state[g].obs[agent]["text"], info, game_index=g)
                seat = matches[g].seats[agent]
                if seat.bot is not None:
                    gathered.bots.setdefault(seat.bot, []).append((g, request))
                    continue
                llm = self._agent_for(llm_agents, seat.adapter, matches[g].temperature)
                gen = room_for_choices(llm.build_request(request))
                if self._too_long(gen):
                    # The chat outgrew the model: an empty move (invalid, penalised) instead of
                    # a failed batch; repeated, the game's forfeit rule ends it.
                    self.stats.too_long += 1
                    gathered.actions[g][agent] = ""
                    continue
                gathered.llm.append(LLMItem(g, agent, llm, request, gen))
        return gathered

    def _generate(
        self, gathered: TickRequests, replies: list[tuple], matches, state, branches
    ) -> list[tuple[int, str, list[str]]]:
        """Answer every language request in one engine call; record the real games' moves.
        Returns the learning seats' constrained decisions to value, as (game, agent, legal)."""
        decisions: list[tuple[int, str, list[str]]] = []
        if not gathered.llm and not replies:
            return decisions
        requests = [item.generation for item in gathered.llm] + [r[4] for r in replies]
        t = time.perf_counter()
        with self._phase("generate"):  # the copies' replies ride in the same engine call
            results = self.server.generate(requests)
        self.stats.generate_seconds += time.perf_counter() - t
        self.stats.llm_calls += 1
        self.stats.llm_requests += len(requests)
        self.stats.reply_requests += len(replies)
        self.stats.per_call_batch.append(len(requests))
        n = len(gathered.llm)
        for (branch, agent, llm, request, _), result in zip(replies, results[n:], strict=True):
            self.stats.completion_tokens += len(result.token_ids)
            branch.replies[agent] = llm.record(request, result, branch.chats[agent]).text
        for item, result in zip(gathered.llm, results[:n], strict=True):
            g, agent = item.game, item.agent
            self.stats.completion_tokens += len(result.token_ids)
            gathered.actions[g][agent] = item.llm.record(item.request, result).text
            state[g].turn_rewards[agent].append(0.0)  # one entry per recorded turn
            legal = item.request.info.get("legal_moves")
            valued = branches is not None and self.constrained and legal
            if valued and matches[g].seats[agent].learning:
                decisions.append((g, agent, list(legal)))
        return decisions

    def _answer_bots(self, gathered: TickRequests, matches, bots) -> None:
        for kind, items in gathered.bots.items():
            bot = self._bot(bots, kind, matches[items[0][0]])
            with self._phase("bots"):
                responses = bot.act([r for _, r in items])
            for (g, request), response in zip(items, responses, strict=True):
                gathered.actions[g][request.agent] = response.text

    def _branch(self, games, matches, state, live, llm_agents, branches, gathered, decisions):
        """Move values: the open copies step with the moves the real games take now, and each
        valued decision opens a copy per legal move not played."""
        for g in live:
            branches.advance(g, gathered.actions[g])
        with self._phase("move_values"):
            for g, agent, legal in decisions:
                turn = len(state[g].turn_rewards[agent]) - 1
                chats = (
                    self._chats(g, matches[g], llm_agents, skip=agent)
                    if self.fresh_replies
                    else None
                )
                branches.branch(
                    g, games[g], agent, turn, legal, gathered.actions[g], chats,
                    self.expected_replies,
                )  # fmt: skip

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

    def _episode(self, game, match, state: GameState, llm_agents, g, step, mix) -> Episode:
        raw = game.game
        trajectories = {}
        chats = {}
        for agent_obj in llm_agents.values():
            chats.update(agent_obj.end_game(g))
        for agent, seat in match.seats.items():
            info = state.infos[agent]
            traj = Trajectory(
                agent=agent,
                player=seat.player,
                team=info["team"],
                adapter=None if seat.adapter is None else (seat.adapter.name, seat.adapter.version),
                learning=seat.learning,
                episode_return=float(state.returns[agent]),
                raw_score=float(raw.scores[agent]),
                invalid_moves=int(raw.invalid_total[agent]),
                moves=int(state.moves[agent]),
            )
            chat = chats.get(agent)
            if chat is not None:
                traj.token_ids = list(chat.token_ids)
                traj.turns = turns_from_chat(chat)
                per_turn = list(state.turn_rewards.get(agent, ()))
                if per_turn and len(per_turn) == len(traj.turns):
                    per_turn[0] += state.before_first_turn[agent]
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
