"""Read a learned policy's move probabilities straight from the learner (no sampling noise).

For an agent about to move, the probability of each legal move is the probability of its canonical
completion (the move's tokens and the end-of-turn token) under the legal-move-masked distribution
the rollout samples from. Used to compute, e.g., Kuhn poker's exploitability of an adapter exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from functools import cache
from typing import Any, NamedTuple

import envs
from agents.conversation import Conversation, user_turn_text
from trainers.episode import TurnTokens


def completion_ids(tokenizer: Any, text: str) -> tuple[int, ...]:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return (*ids, int(tokenizer.eos_token_id))


def move_probabilities(
    learner: Any,
    adapter: str,
    prompt: Sequence[int],
    moves: Sequence[str],
    tokenizer: Any,
) -> dict[str, float]:
    """P(move) for each legal move after `prompt`, normalised over `moves`."""
    return many_move_probabilities(learner, adapter, [(prompt, moves)], tokenizer)[0]


def many_move_probabilities(
    learner: Any,
    adapter: str,
    decisions: Sequence[tuple[Sequence[int], Sequence[str]]],
    tokenizer: Any,
) -> list[dict[str, float]]:
    """`move_probabilities` of each (prompt, moves), scored in one `learner.logprobs` call, so
    the learner micro-batches them and scores prompts that share a prefix together."""
    from trainers.learn.samples import TrainSample

    samples = []
    for prompt, moves in decisions:
        for move in moves:
            ids = completion_ids(tokenizer, move)
            turn = TurnTokens(len(prompt), ids, (0.0,) * len(ids), None, tuple(moves))
            samples.append(TrainSample((*prompt, *ids), (turn,), 0.0))
    logps = iter([float(lp.sum()) for lp in learner.logprobs(adapter, samples)])
    out = []
    for _, moves in decisions:
        mine = [next(logps) for _ in moves]
        top = max(mine)
        weights = [math.exp(lp - top) for lp in mine]
        total = sum(weights)
        out.append({m: w / total for m, w in zip(moves, weights, strict=True)})
    return out


def served_reply_probabilities(
    learner: Any,
    served: Collection[tuple[str, int]],
    items: Sequence[tuple[Any, Sequence[int], Sequence[str]]],
) -> list[dict[str, float] | None]:
    """Expected replies (`counterfactual.ReplyScorer`): for each (adapter ref, prompt, moves),
    the replier's move probabilities read from the learner when its (name, version) is in
    `served` (the learning adapters at the version that played); None for any other (a
    snapshot, the base model). One `many_move_probabilities` call per adapter."""
    by_adapter: dict[str, list[int]] = {}
    for i, (ref, _, _) in enumerate(items):
        if ref is not None and (ref.name, ref.version) in served:
            by_adapter.setdefault(ref.name, []).append(i)
    out: list[dict[str, float] | None] = [None] * len(items)
    for name, index in by_adapter.items():
        decisions = [(items[i][1], items[i][2]) for i in index]
        probs = many_move_probabilities(learner, name, decisions, learner.tokenizer)
        for i, p in zip(index, probs, strict=True):
            out[i] = p
    return out


def prompt_after(env_id: str, seed: int, history: Sequence[str], tokenizer: Any, **env_kwargs):
    """Replay `history` (moves in AEC order) from `reset(seed)`; return (agent, infos, prompt) of
    the agent to act next, its chat built as the rollout builds it (its past moves verbatim)."""
    env = envs.make(env_id, **env_kwargs)
    env.reset(seed=seed)
    chats: dict[str, Conversation] = {}
    moves = iter(history)
    for agent in env.agent_iter():
        _, _, term, trunc, info = env.last()
        if term or trunc:
            raise ValueError(f"history {list(history)} ends the game")
        chat = chats.setdefault(agent, Conversation(tokenizer))
        prompt = chat.add_user(user_turn_text(info, first=not chat.turns))
        move = next(moves, None)
        if move is None:
            return agent, info, prompt
        ids = completion_ids(tokenizer, move)
        chat.add_completion(ids, (0.0,) * len(ids), move)
        env.step(move)
    raise ValueError(f"history {list(history)} ends the game")


def kuhn_policy_table(learner: Any, adapter: str, tokenizer: Any) -> dict[str, dict[str, float]]:
    """The adapter's policy at all 12 Kuhn info sets, in `envs.kuhn_poker.theory` format."""
    from envs.kuhn_poker.rules import LETTER, legal_actions
    from envs.kuhn_poker.theory import info_sets

    asked = []
    for key in info_sets():
        card, history = key.split(":")
        seed = _seed_dealing(card, len(history) % 2)
        moves = [  # each letter back to the move it stands for where it was played
            f"[{next(a for a in legal_actions(history[:i]) if LETTER[a] == letter)}]"
            for i, letter in enumerate(history)
        ]
        _, info, prompt = prompt_after("kuhn_poker_v0", seed, moves, tokenizer)
        asked.append((prompt, info["legal_moves"]))
    probs = many_move_probabilities(learner, adapter, asked, tokenizer)
    return dict(zip(info_sets(), probs, strict=True))


@cache
def _seed_dealing(card: str, player: int) -> int:
    """A seed whose deal gives `player` the `card` (deals are drawn from the seed)."""
    env = envs.make("kuhn_poker_v0")
    for seed in range(10_000):
        env.reset(seed=seed)
        agent = env.possible_agents[player]
        if env.infos[agent]["view"]["card"] == card:
            return seed
    raise RuntimeError(f"no seed deals {card} to player {player}")


class QuizDecision(NamedTuple):
    """A captain's decision to probe: its prompt, the legal moves, which one is right and which
    one its teammate proposed."""

    prompt: list[int]
    moves: list[str]
    right: int
    proposed: int


class CaptainScore(NamedTuple):
    """How an adapter answers probe decisions as captain."""

    p_right: float
    """Mean probability of the right answer (the accuracy of sampled play)."""
    greedy: int
    """Decisions whose likelier move is the right one."""
    p_copy: float
    """Mean probability of answering what the teammate proposed: 1 for a captain that copies its
    teammate, whatever the question; the proposals are random, so copying scores p_right 0.5."""


def quiz_captain_decision(tokenizer: Any, seed: int, pick: Callable[[int], int]) -> QuizDecision:
    """The red captain's first decision in a fresh `team_quiz_v0` game of one larger/smaller
    question from `seed`, its chat rendered as the rollout renders it; `pick(n)` chooses each
    earlier player's move among their n legal ones (the teammate's proposal among them)."""
    from agents.scripted.team_quiz import solve

    env = envs.make("team_quiz_v0", questions=1, kinds=["larger", "smaller"])
    env.reset(seed=seed)
    picks: dict[str, int] = {}
    for agent in env.agent_iter():
        _, _, _, _, info = env.last()
        moves = info["legal_moves"]
        if agent != "red_0":
            picks[agent] = pick(len(moves))
            env.step(moves[picks[agent]])
            continue
        prompt = Conversation(tokenizer).add_user(user_turn_text(info, first=True))
        right = moves.index(f"[answer {solve(info['view']['question'])}]")
        return QuizDecision(list(prompt), list(moves), right, picks["red_1"])
    raise RuntimeError("the quiz ended before the red captain moved")


def quiz_captain_decisions(tokenizer: Any, count: int, seed: int = 10**6) -> list[QuizDecision]:
    """`count` captain decisions (`quiz_captain_decision`) whose teammate proposes one of the
    two numbers at random, so the proposal says nothing about the answer. Seeds from `seed`
    on: far from the trainer's own games, so the probe is held out."""
    import random

    rng = random.Random(seed)
    return [quiz_captain_decision(tokenizer, g, rng.randrange) for g in range(seed, seed + count)]


def quiz_captain_score(
    learner: Any, adapter: str, tokenizer: Any, decisions: Sequence[QuizDecision]
) -> CaptainScore:
    """The adapter as captain on `decisions` (`quiz_captain_decisions`), read from the learner:
    what the captain has learned, apart from the sampling noise of games."""
    asked = [(d.prompt, d.moves) for d in decisions]
    probs = many_move_probabilities(learner, adapter, asked, tokenizer)
    right = [p[d.moves[d.right]] for p, d in zip(probs, decisions, strict=True)]
    copy = [p[d.moves[d.proposed]] for p, d in zip(probs, decisions, strict=True)]
    n = len(decisions)
    return CaptainScore(sum(right) / n, sum(p > 0.5 for p in right), sum(copy) / n)
