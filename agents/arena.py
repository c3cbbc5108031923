"""Play whole episodes between policies, one env at a time (evaluation and tests).

The trainer's rollout (`trainers.rollout`) drives many games at once; this is the simple reference
loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import envs
from agents.policy import ActRequest, Policy


@dataclass(frozen=True)
class EpisodeResult:
    returns: dict[str, float]
    raw_scores: dict[str, float]
    invalid_moves: dict[str, int]
    transcript: str
    steps: int
    truncated: bool


def play_episode(
    env_id: str,
    seats: Mapping[str, Policy],
    seed: int | None = None,
    **env_kwargs: Any,
) -> EpisodeResult:
    """Play one AEC episode of `env_id`; `seats` maps every agent name to its policy."""
    env = envs.make(env_id, **env_kwargs)
    env.reset(seed=seed)
    missing = set(env.possible_agents) - set(seats)
    if missing:
        raise ValueError(f"no policy seated for {sorted(missing)} in {env_id}")
    returns = dict.fromkeys(env.possible_agents, 0.0)
    steps, truncated = 0, False
    for agent in env.agent_iter():
        obs, reward, terminated, trunc, info = env.last()
        returns[agent] += reward
        if terminated or trunc:
            truncated = truncated or trunc
            env.step(None)
            continue
        (response,) = seats[agent].act([ActRequest(agent, obs["text"], info)])
        env.step(response.text)
        steps += 1
    game = env.unwrapped.game
    result = EpisodeResult(
        returns=returns,
        raw_scores=dict(game.scores),
        invalid_moves=dict(game.invalid_total),
        transcript=game.transcript(),
        steps=steps,
        truncated=truncated,
    )
    env.close()
    return result
