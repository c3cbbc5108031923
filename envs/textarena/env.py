"""PettingZoo faces (AEC and Parallel) of TextArena games: `envs.make("textarena/<id>")`.

Agents are `player_0 .. player_{n-1}` (TextArena's player ids); `num_players` picks a count the
game supports (`envs.spec(id).players`). Observations are `{"text": ...}`: the game's own prompt
as rules, then every message the game sent the agent; actions are free text, read by the game
itself (see `envs.textarena.game` for the traps handled).
"""

from __future__ import annotations

import functools
from typing import Any

from pettingzoo.utils import wrappers

from envs.core.aec import RENDER_MODES, LanguageAECEnv
from envs.core.parallel import make_parallel_class
from envs.textarena.catalog import GAMES, payoffs_for
from envs.textarena.game import TextArenaGame

NAMESPACE = "textarena"
_PLAYERS = dict(GAMES)


@functools.cache
def game_class(ta_id: str) -> type[TextArenaGame]:
    if ta_id not in _PLAYERS:
        raise ValueError(f"textarena/{ta_id} is not a registered TextArena game")
    players = _PLAYERS[ta_id]
    return type(
        f"TextArena_{ta_id}",
        (TextArenaGame,),
        {
            "ta_id": ta_id,
            "title": ta_id,
            "allowed_players": players,
            "min_players": min(players),
            "max_players": max(players),
            "payoffs": payoffs_for(players),
        },
    )


@functools.cache
def raw_env_class(ta_id: str) -> type[LanguageAECEnv]:
    return type(
        f"raw_env_{ta_id}",
        (LanguageAECEnv,),
        {
            "metadata": {
                "render_modes": RENDER_MODES,
                "name": f"{NAMESPACE}/{ta_id}",
                "is_parallelizable": True,
            },
            "game_cls": game_class(ta_id),
            "__doc__": f"TextArena's {ta_id} as a LoRA League language game.",
        },
    )


@functools.cache
def parallel_env_class(ta_id: str):
    return make_parallel_class(raw_env_class(ta_id))


def env(ta_id: str, **kwargs: Any):
    return wrappers.OrderEnforcingWrapper(raw_env_class(ta_id)(**kwargs))


def parallel_env(ta_id: str, **kwargs: Any):
    return parallel_env_class(ta_id)(**kwargs)
