"""The env registry: versioned ids -> lazy entry points.

`register()` raises on a duplicate id; `make(id, **kw)` builds the AEC env, `make_parallel(id,
**kw)` the
Parallel env; `spec(id)` says what a game supports without importing it.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from envs.core.payoff import PAYOFF_KINDS

_ID = re.compile(r"^[a-z][a-z0-9_]*_v\d+$")


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
        if not _ID.match(self.id):
            raise ValueError(f"env id {self.id!r} must look like 'name_v0'")
        unknown = set(self.payoffs) - set(PAYOFF_KINDS)
        if not self.payoffs or unknown:
            raise ValueError(f"{self.id}: payoffs {self.payoffs} must be among {PAYOFF_KINDS}")

    def module(self):
        return importlib.import_module(self.entry_point)


_REGISTRY: dict[str, EnvSpec] = {}


def register(spec: EnvSpec) -> EnvSpec:
    if spec.id in _REGISTRY:
        raise ValueError(f"env id {spec.id!r} is already registered")
    _REGISTRY[spec.id] = spec
    return spec


def spec(env_id: str) -> EnvSpec:
    try:
        return _REGISTRY[env_id]
    except KeyError:
        raise KeyError(
            f"unknown env {env_id!r}; registered: {', '.join(sorted(_REGISTRY))}"
        ) from None


def list_envs() -> list[str]:
    return sorted(_REGISTRY)


def make(env_id: str, **kwargs: Any):
    """The AEC env `env_id`, wrapped as PettingZoo's `env()` does."""
    s = spec(env_id)
    return s.module().env(**{**s.kwargs, **kwargs})


def make_parallel(env_id: str, **kwargs: Any):
    """The Parallel env `env_id`."""
    s = spec(env_id)
    return s.module().parallel_env(**{**s.kwargs, **kwargs})
