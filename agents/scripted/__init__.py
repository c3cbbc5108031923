"""Scripted bots for every game: `random` (uniform over legal moves) and `strong` (optimal where
known,
else a good heuristic).

>>> from agents.scripted import make_bot
>>> bot = make_bot("kuhn_poker_v0", "strong", seed=0)
"""

from __future__ import annotations

import importlib
import re

from agents.scripted.base import RandomBot, ScriptedBot

_VERSION = re.compile(r"_v\d+$")


def _module(env_id: str):
    if "/" in env_id:  # a game of another collection (openspiel/..., textarena/...)
        return importlib.import_module("agents.scripted.foreign")
    game = _VERSION.sub("", env_id)
    try:
        return importlib.import_module(f"agents.scripted.{game}")
    except ModuleNotFoundError as e:
        if e.name == f"agents.scripted.{game}":
            raise KeyError(f"no scripted bots for env {env_id!r}") from None
        raise


def bot_kinds(env_id: str) -> list[str]:
    return sorted(_module(env_id).BOTS)


def make_bot(env_id: str, kind: str = "random", seed: int | None = None) -> ScriptedBot:
    bots = _module(env_id).BOTS
    if kind not in bots:
        raise KeyError(f"no {kind!r} bot for {env_id}; choose one of {', '.join(sorted(bots))}")
    return bots[kind](seed=seed)


__all__ = ["RandomBot", "ScriptedBot", "bot_kinds", "make_bot"]
