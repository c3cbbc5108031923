"""PettingZoo faces (AEC and Parallel) of OpenSpiel games: `envs.make("openspiel/<name>")`.

Agents are `player_0 .. player_{n-1}` in OpenSpiel's player order; observations are
`{"text": ...}` with the game's own information-state (or observation) string, actions free text
naming one `[move]` (see `envs.openspiel.game`). Game parameters go through `params`:
`envs.make("openspiel/leduc_poker", params={"players": 3})`.
"""

from __future__ import annotations

import functools
from typing import Any

from pettingzoo.utils import wrappers

from envs.core.aec import RENDER_MODES, LanguageAECEnv
from envs.core.parallel import make_parallel_class
from envs.openspiel.game import game_class

NAMESPACE = "openspiel"


@functools.cache
def raw_env_class(game: str) -> type[LanguageAECEnv]:
    """The AEC class of OpenSpiel game `game` (one class per game, cached)."""
    return type(
        f"raw_env_{game}",
        (LanguageAECEnv,),
        {
            "metadata": {
                "render_modes": RENDER_MODES,
                "name": f"{NAMESPACE}/{game}",
                "is_parallelizable": True,
            },
            "game_cls": game_class(game),
            "__doc__": f"OpenSpiel's {game} as a LoRA League language game.",
        },
    )


@functools.cache
def parallel_env_class(game: str):
    return make_parallel_class(raw_env_class(game))


def env(game: str, **kwargs: Any):
    return wrappers.OrderEnforcingWrapper(raw_env_class(game)(**kwargs))


def parallel_env(game: str, **kwargs: Any):
    return parallel_env_class(game)(**kwargs)
