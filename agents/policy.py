"""The batched interface every policy implements, scripted bots and LLM agents alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ActRequest:
    """One agent that must act now in one game."""

    agent: str
    #: The env's self-contained observation text (`observation["text"]`).
    observation: str
    #: The env's `infos[agent]`: legal_moves, team, rules, new_events, view, ...
    info: Mapping[str, Any] = field(default_factory=dict)
    #: Which game this request belongs to, when a rollout drives many at once.
    game_index: int = 0


@dataclass(frozen=True)
class ActResponse:
    """What the policy answers: the action text handed to `env.step()`."""

    text: str


@runtime_checkable
class Policy(Protocol):
    """A policy answers a batch of requests in one call, in order."""

    name: str

    def act(self, requests: Sequence[ActRequest]) -> list[ActResponse]: ...
