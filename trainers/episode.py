"""What a rollout hands the learner and the league: finished episodes with every agent's tokens.

One `Trajectory` is one agent's whole episode as one growing chat (`token_ids`), with the positions
of its own tokens (`turns`) and the log-probs the server sampled them with. The learner scores it in
one forward pass; `TurnTokens.choices` says when a move was sampled from the legal-move-masked
distribution.
"""

from __future__ import annotations

import hashlib
from array import array
from dataclasses import dataclass, field
from typing import Any

from agents.conversation import TurnTokens


@dataclass
class Trajectory:
    agent: str
    player: str
    team: str
    #: Adapter that played it, as (name, version); None for a scripted bot or the base model.
    adapter: tuple[str, int] | None
    #: True when this trajectory trains a learning adapter.
    learning: bool
    token_ids: list[int] = field(default_factory=list)
    turns: list[TurnTokens] = field(default_factory=list)
    episode_return: float = 0.0
    raw_score: float = 0.0
    invalid_moves: int = 0
    #: Actions submitted (valid or not), scripted seats included.
    moves: int = 0
    #: Reward that arrived after each of `turns` (until the agent's next turn; a reward before the
    #: first turn counts for the first). Sums to `episode_return`; empty when unknown.
    turn_rewards: tuple[float, ...] = ()
    #: Per turn, what each legal move earned in the same window (`trainers.counterfactual`):
    #: the move played from `turn_rewards`, the others from copies of the game; None for a turn
    #: not valued. Empty unless the rollout valued moves.
    move_values: tuple[dict[str, float] | None, ...] = ()

    @property
    def completion_tokens(self) -> int:
        return sum(len(t.ids) for t in self.turns)


def turns_from_chat(chat: Any) -> list[TurnTokens]:
    """The turns of an agent's chat (`agents.conversation.Conversation`) as `TurnTokens`."""
    return list(chat.turns)


def decision_states(trajectory: Trajectory) -> tuple[str, ...]:
    """One key per turn: a hash of the chat the agent had read before that move (its prompt).

    Two decisions share a key exactly when the agent saw the same tokens, e.g. the same Kuhn
    poker information set, so a per-state baseline (`algorithms.DecisionBaseline`) can
    compare moves made from the same place. Incremental: each prefix is hashed once.
    """
    digest = hashlib.blake2b(digest_size=8)
    keys, done = [], 0
    for turn in trajectory.turns:
        digest.update(array("q", trajectory.token_ids[done : turn.start]).tobytes())
        done = turn.start
        keys.append(digest.copy().hexdigest())
    return tuple(keys)


def decision_moves(trajectory: Trajectory) -> tuple[str, ...]:
    """One key per turn: the move the agent chose there, as text when known (every spelling of a
    move in tokens is the same move), else a hash of its tokens."""
    return tuple(
        turn.text
        if turn.text is not None
        else hashlib.blake2b(array("q", turn.ids).tobytes(), digest_size=8).hexdigest()
        for turn in trajectory.turns
    )


@dataclass
class Episode:
    env_id: str
    seed: int
    step: int
    payoff: str
    mix: float
    trajectories: dict[str, Trajectory]
    truncated: bool
    forfeited_by: str | None
    transcript: str

    @property
    def returns(self) -> dict[str, float]:
        return {a: t.episode_return for a, t in self.trajectories.items()}

    @property
    def teams(self) -> dict[str, str]:
        return {a: t.team for a, t in self.trajectories.items()}

    def team_returns(self) -> dict[str, float]:
        teams: dict[str, list[float]] = {}
        for t in self.trajectories.values():
            teams.setdefault(t.team, []).append(t.episode_return)
        return {team: sum(v) / len(v) for team, v in teams.items()}

    def winners(self) -> set[str]:
        """Teams with the strictly highest mean return (empty on a tie)."""
        scores = self.team_returns()
        best = max(scores.values())
        top = {t for t, s in scores.items() if s == best}
        return top if len(top) < len(scores) else set()
