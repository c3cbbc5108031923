"""Helpers of the AReaL integration's tests: random adapters, and episodes replayed through the
AEC face of a game by LoRA League's reference loop (`agents.arena.play_episode`)."""

from __future__ import annotations

from collections import defaultdict, deque

from agents.arena import play_episode
from agents.policy import ActResponse

#: The test server's model length (`--max-model-len`), which is AReaL's `gconfig.max_tokens`.
MAX_MODEL_LEN = 1024


class Replay:
    """Plays back recorded moves, per agent, in order."""

    name = "replay"

    def __init__(self, moves: deque[str]) -> None:
        self.moves = moves

    def act(self, requests):
        return [ActResponse(self.moves.popleft()) for _ in requests]


def replayed_returns(record) -> dict[str, float]:
    """Every agent's return when the moves of `record` (an `EpisodeRecord`) are played again
    through the AEC env, seeded alike, by `agents.arena.play_episode`."""
    moves: dict[str, deque[str]] = defaultdict(deque)
    for step in record.steps:
        for agent, text in step.items():
            moves[agent].append(text)
    seats = {agent: Replay(moves[agent]) for agent in record.returns}
    result = play_episode(record.env_id, seats, seed=record.seed)
    assert not any(moves.values()), "the AEC replay did not ask for every recorded move"
    return result.returns
