"""The env registry: versioned ids -> lazy entry points.

`register()` raises on a duplicate id; `make(id, **kw)` builds the AEC env, `make_parallel(id,
**kw)` the
Parallel env; `spec(id)` says what a game supports without importing it.
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from envs.core.payoff import PAYOFF_KINDS

_ID = re.compile(r"^[a-z][a-z0-9_]*_v\d+$")
# Games of another collection: "<namespace>/<the collection's own id>", e.g.
# "openspiel/leduc_poker", "textarena/TicTacToe-v0".
_FOREIGN_ID = re.compile(r"^[a-z]+/[A-Za-z0-9][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class EnvSpec:
    """What the registry knows of a game, without importing it."""

    id: str
    #: Module with `env(**kw)`, `parallel_env(**kw)` and `raw_env`, e.g. "envs.rps.env".
    entry_point: str
    #: Payoff kinds the game supports; the first is the default.
    payoffs: tuple[str, ...]
    #: Number of agents, as text: "2", "3-6", "2 teams of 2-3".
    players: str
    description: str
    #: True when every agent acts once per cycle (PettingZoo's max_cycles_test applies).
    cyclic: bool = False
    #: Team-based game (agent names carry the team).
    teams: bool = False
    kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not (_ID.match(self.id) or _FOREIGN_ID.match(self.id)):
            raise ValueError(
                f"env id {self.id!r} must look like 'name_v0' or 'namespace/GameId-v0'"
            )
        unknown = set(self.payoffs) - set(PAYOFF_KINDS)
        if not self.payoffs or unknown:
            raise ValueError(f"{self.id}: payoffs {self.payoffs} must be among {PAYOFF_KINDS}")

    def module(self):
        return importlib.import_module(self.entry_point)


_REGISTRY: dict[str, EnvSpec] = {}
#: Ids known not to work here, with the reason: `make()` refuses them with it.
_REFUSED: dict[str, str] = {}


def register(spec: EnvSpec) -> EnvSpec:
    if spec.id in _REGISTRY:
        raise ValueError(f"env id {spec.id!r} is already registered")
    _REGISTRY[spec.id] = spec
    return spec


def refuse(env_id: str, reason: str) -> None:
    """Record that `env_id` exists in its collection but cannot run here, and why."""
    _REFUSED[env_id] = reason


def refused() -> dict[str, str]:
    """Ids left out of the registry, with the reason `make()` gives for each."""
    return dict(_REFUSED)


def spec(env_id: str) -> EnvSpec:
    try:
        return _REGISTRY[env_id]
    except KeyError:
        if env_id in _REFUSED:
            raise ValueError(f"env {env_id!r} is not available: {_REFUSED[env_id]}") from None
        namespace = env_id.split("/", 1)[0] + "/" if "/" in env_id else None
        known = [i for i in sorted(_REGISTRY) if namespace is None or i.startswith(namespace)]
        close = difflib.get_close_matches(env_id, known, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        shown = ", ".join(known[:40]) + (f" ... ({len(known)} in all)" if len(known) > 40 else "")
        raise KeyError(f"unknown env {env_id!r}; {hint}registered: {shown}") from None


def list_envs(namespace: str | None = None) -> list[str]:
    """Registered ids; `namespace="openspiel"` (or "textarena", or "" for the home games) keeps
    those of one collection."""
    ids = sorted(_REGISTRY)
    if namespace is None:
        return ids
    if namespace == "":
        return [i for i in ids if "/" not in i]
    return [i for i in ids if i.startswith(namespace + "/")]


def make(env_id: str, **kwargs: Any):
    """The AEC env `env_id`, wrapped as PettingZoo's `env()` does."""
    s = spec(env_id)
    return s.module().env(**{**s.kwargs, **kwargs})


def make_parallel(env_id: str, **kwargs: Any):
    """The Parallel env `env_id`."""
    s = spec(env_id)
    return s.module().parallel_env(**{**s.kwargs, **kwargs})
