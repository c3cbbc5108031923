"""Counterfactual move values: what each other legal move would have earned at a decision.

At a constrained decision of a learning seat, the rollout copies the game just before the move,
plays each other legal move in its copy, and steps every copy on with the moves the other
players really made next, until the deciding agent is to act again (or the game ends). A move's
value is the reward its agent collected in that window: the same window `Trajectory.turn_rewards`
credits the move really played, so the two are comparable, and with them every legal move of the
decision has a value (what `trainers.learn.targets` turns into a soft policy-improvement target).

A copy is exact while the others' replayed moves do not depend on the changed move: in the team
quiz a captain's answer is seen by nobody before the question resolves, so the answer's value is
exact. Where a later mover would have seen it (a Kuhn poker opponent replying to a bet, the
signal game's listener reading the clue), the copy answers with the move made in the real game,
which values the change against a fixed reply: a bias. With fresh replies (the rollout's
`fresh_replies`) the language players of a copy answer it afresh instead: each copy keeps its
own copy of their chats (`_Branch.chats`), and the rollout samples their moves in the copy from
their adapters, in the same engine call as the real games' moves (`_Branch.replies`). A value is
then one sample of what the move earns against the others' real policies: unbiased, and as
noisy as one game. Bots answer afresh too (they are stateless: one answers every copy). A
copy whose next mover has no move (the games diverged and nobody replied afresh) is dropped, and
that decision gets no value.

With expected replies (the rollout's `expected_replies`), a copy whose window closes with one
fresh reply, whichever legal move the replier makes (the signal game's listener: its pick ends
the game), is valued by the expectation of that reply, sum_m pi(m) reward(m): each reply move is
stepped in its own copy, and pi is the replier's move distribution at its prompt, scored after
the rollout by the trainer's learner (`Branches.resolve`). The move played is branched too, so
every move of the decision is valued the same way. A clue is then worth the listener's
probability of picking the target given that clue, not one 0/1 sample of it (Rao-Blackwell: the
same mean, no sampling noise).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Branches", "MoveValues", "Reply", "ReplyScorer"]


@dataclass(frozen=True)
class Reply:
    """A fresh reply that closes its copy's window whatever it is: who replies (`adapter`, an
    `AdapterRef`), from which prompt, its legal moves, and what each would pay the deciding
    agent over the window (its rewards in the copy so far included)."""

    adapter: Any
    prompt: tuple[int, ...]
    moves: tuple[str, ...]
    rewards: tuple[float, ...]

    def expectation(self, probs: Mapping[str, float]) -> float:
        return sum(probs[m] * r for m, r in zip(self.moves, self.rewards, strict=True))


#: Each (adapter, prompt, moves) -> the replier's move probabilities, or None where it cannot
#: score that adapter (the copy then keeps the value of its sampled reply).
ReplyScorer = Callable[
    [Sequence[tuple[Any, tuple[int, ...], tuple[str, ...]]]], Sequence[Mapping[str, float] | None]
]


@dataclass
class _Branch:
    agent: str
    turn: int  # index of the deciding agent's turn in its trajectory
    move: str
    game: Any  # the copied ParallelEnv
    infos: dict[str, dict]
    reward: float = 0.0
    obs: dict[str, Any] = field(default_factory=dict)
    #: Fresh replies: the copy's own chats of the language players (copied at the branch), and
    #: the moves they sampled in it for its next step.
    chats: dict[str, Any] = field(default_factory=dict)
    replies: dict[str, str] = field(default_factory=dict)
    #: Expected replies: the copy of the move really played (kept only if valued by `reply`).
    played: bool = False
    reply: Reply | None = None

    def acting(self) -> list[str]:
        """The agents the copy waits for."""
        return [a for a in self.game.agents if self.infos.get(a, {}).get("acting")]

    def needs_replies(self) -> bool:
        """Its window is still open (the deciding agent is not the one to act)."""
        acting = self.acting()
        return bool(acting) and self.agent not in acting


@dataclass
class Branches:
    """The open copies of every game of one rollout, and the values of the closed ones:
    `values[g][agent][turn] = {move: value}` for the moves not played."""

    open: dict[int, list[_Branch]] = field(default_factory=dict)
    values: dict[int, dict[str, dict[int, dict[str, float]]]] = field(default_factory=dict)
    #: Closed copies valued by an expected reply, awaiting `resolve`: (their turn's values, the
    #: move, the reply).
    pending: list[tuple[dict[str, float], str, Reply]] = field(default_factory=list)

    def branch(
        self,
        g: int,
        game: Any,
        agent: str,
        turn: int,
        legal: Sequence[str],
        actions: dict,
        chats: Mapping[str, Any] | None = None,
        include_played: bool = False,
    ) -> None:
        """Copy game `g` before this tick's `actions` and play each other legal move of `agent`
        (its `turn`-th) in its own copy, the other agents' moves of the tick unchanged. `chats`
        (fresh replies): the language players' chats now, each copy gets its own copy.
        `include_played` (expected replies): the move played gets a copy too."""
        for move in dict.fromkeys(legal):
            played = move == actions[agent]
            if played and not include_played:
                continue
            own = {a: chat.copy() for a, chat in (chats or {}).items()}
            branch = _Branch(agent, turn, move, copy.deepcopy(game), {}, chats=own, played=played)
            self._step(branch, {**actions, agent: move})
            self._keep(g, branch)

    def expect(self, branch: _Branch, agent: str, adapter: Any, prompt: Sequence[int]) -> bool:
        """Value `branch` by the expectation of `agent`'s fresh reply if every legal move of
        that reply closes the window (the game ends or the deciding agent is to act) and nobody
        else acts beside it; True if so. Each move is stepped in its own copy of the copy."""
        legal = branch.infos.get(agent, {}).get("legal_moves")
        if branch.acting() != [agent] or not legal:
            return False
        moves, rewards = tuple(dict.fromkeys(legal)), []
        for move in moves:
            game = copy.deepcopy(branch.game)
            _, reward, _, _, infos = game.step({agent: move})
            if game.agents and not infos.get(branch.agent, {}).get("acting"):
                return False  # the window goes on after this reply: sample it instead
            rewards.append(branch.reward + float(reward.get(branch.agent, 0.0)))
        branch.reply = Reply(adapter, tuple(prompt), moves, tuple(rewards))
        return True

    def resolve(self, scorer: ReplyScorer) -> int:
        """Replace the values of the copies closed with an expected reply by that expectation,
        the repliers' move probabilities scored in one `scorer` call; how many were replaced.
        Call it after `finish` of every game (the returned values are updated in place)."""
        pending, self.pending = self.pending, []
        if not pending:
            return 0
        probs = scorer([(r.adapter, r.prompt, r.moves) for _, _, r in pending])
        done = 0
        for (values, move, reply), p in zip(pending, probs, strict=True):
            if p is not None:
                values[move] = reply.expectation(p)
                done += 1
        return done

    def waiting(self, g: int) -> list[_Branch]:
        """Game `g`'s open copies whose window goes on: they need the others' next moves."""
        return [b for b in self.open.get(g, []) if b.needs_replies()]

    def advance(self, g: int, actions: Mapping[str, str]) -> None:
        """Step game `g`'s open copies with their fresh replies, else the moves the real game
        takes this tick (call it before the real game steps, with the tick's actions)."""
        for branch in self.open.pop(g, []):  # a copy still open is put back by _keep
            acting = branch.acting()
            moves = {**actions, **branch.replies}
            branch.replies = {}
            if branch.agent in acting:  # its next turn: the window is over
                self._close(g, branch)
            elif acting and all(a in moves for a in acting):
                self._step(branch, {a: moves[a] for a in acting})
                self._keep(g, branch)
            # else: the copy wants moves nobody made: diverged, dropped

    def finish(self, g: int) -> dict[str, dict[int, dict[str, float]]]:
        """Game `g` is over: close its copies still open (a copy whose game also ended keeps its
        value; one still waiting for a move is dropped) and return its values."""
        for branch in self.open.pop(g, []):
            if not branch.game.agents:
                self._close(g, branch)
        return self.values.pop(g, {})

    def _step(self, branch: _Branch, actions: dict[str, str]) -> None:
        obs, rewards, _, _, infos = branch.game.step(actions)
        branch.obs.update(obs)
        branch.infos.update(infos)
        branch.reward += float(rewards.get(branch.agent, 0.0))

    def _keep(self, g: int, branch: _Branch) -> None:
        if branch.game.agents:
            self.open.setdefault(g, []).append(branch)
        else:
            self._close(g, branch)

    def _close(self, g: int, branch: _Branch) -> None:
        if branch.played and branch.reply is None:
            return  # the real game's reward values the move played
        per_turn = self.values.setdefault(g, {}).setdefault(branch.agent, {})
        values = per_turn.setdefault(branch.turn, {})
        values[branch.move] = branch.reward  # a sampled reply's value until `resolve`
        if branch.reply is not None:
            self.pending.append((values, branch.move, branch.reply))


class MoveValues:
    """A batch's counterfactual values read as a critic (`action_value`, `baseline`), for
    `trainers.learn.targets.target_samples`: keyed by role and decision state, each value the
    mean over the batch's visits of that state (in the quiz every decision is its own state).
    States whose moves are all worth the same are left out (no target)."""

    def __init__(
        self,
        trajectories: Sequence[Any],
        roles: Sequence[Hashable],
        states: Sequence[Sequence[str]],
    ) -> None:
        sums: dict[tuple[Hashable, str], dict[str, list[float]]] = {}
        for traj, role, keys in zip(trajectories, roles, states, strict=True):
            for turn, key in zip(traj.move_values, keys, strict=False):
                for move, value in (turn or {}).items():
                    entry = sums.setdefault((role, key), {}).setdefault(move, [0.0, 0])
                    entry[0] += value
                    entry[1] += 1
        means = {
            point: {move: total / n for move, (total, n) in moves.items()}
            for point, moves in sums.items()
        }
        # A state whose moves all came out equal holds no evidence for any of them: the usual
        # case is a move whose effect a replay cannot see (a proposal, judged against the
        # captain's recorded answer). A uniform target there would only pull toward indifference.
        self._q = {point: v for point, v in means.items() if len(set(v.values())) > 1}

    def action_value(self, role: Hashable, state: str, move: str) -> float | None:
        return self._q.get((role, state), {}).get(move)

    def baseline(self, role: Hashable, state: str) -> float:
        """The mean value of the state's valued moves (used for a move left without one)."""
        values = list(self._q.get((role, state), {}).values())
        return sum(values) / len(values) if values else math.nan

    def without_valued_turns(
        self,
        trajectories: Sequence[Any],
        roles: Sequence[Hashable],
        states: Sequence[Sequence[str]],
        advantages: Sequence[float | Sequence[float]],
    ) -> list[tuple[float, ...]]:
        """`advantages` per turn, 0 at every turn whose state has values here (its target
        replaces the sampled policy-gradient term); a number per trajectory is spread over its
        turns first."""
        out = []
        for traj, role, keys, adv in zip(trajectories, roles, states, advantages, strict=True):
            per_turn = adv if isinstance(adv, Sequence) else (adv,) * len(traj.turns)
            out.append(
                tuple(
                    0.0 if (role, key) in self._q else float(a)
                    for a, key in zip(per_turn, keys, strict=True)
                )
            )
        return out

    def __len__(self) -> int:
        """Decision states valued."""
        return len(self._q)
