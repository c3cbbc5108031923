"""`Game`: the pure rules of a language game, with the move-handling every game shares.

A game knows its agents, whose move is awaited, which moves are legal, how to read a move out of
free
text, and how a move changes the state and the raw scores. It knows nothing of PettingZoo, rewards
or
payoff kinds: `envs.core.session` puts those around it.

Shared behaviour lives here so that every game gets it the same way:
- any action (None, bytes, numbers, megabytes of text) is coerced and parsed, never trusted;
- an unreadable move costs `invalid_penalty` raw points and the agent is asked again; after
  `max_invalid` invalid moves in a row it forfeits (`on_forfeit`), so no episode runs forever;
- events are logged with who can see them, which gives each agent its history, its `new_events`
since it
  last acted, and the full transcript.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from envs.core.parsing import coerce_text, match_legal

DEFAULT_INVALID_PENALTY = 0.1
DEFAULT_MAX_INVALID = 3
FORFEIT_PENALTY = 1.0


@dataclass(frozen=True)
class Event:
    """One line of the game's log. `visible_to=None` means every agent sees it."""

    text: str
    visible_to: frozenset[str] | None = None

    def seen_by(self, agent: str) -> bool:
        return self.visible_to is None or agent in self.visible_to


@dataclass(frozen=True)
class MoveReport:
    """What happened to one submitted action."""

    agent: str
    text: str | None
    valid: bool
    forfeited: bool = False


def team_of(agent: str) -> str:
    """Team encoded in an agent name: `red_0` -> `red`; each `player_N` is its own team."""
    prefix = agent.rsplit("_", 1)[0]
    return agent if prefix == "player" else prefix


class Game(ABC):
    """Base class of the pure rules of a game. Subclasses implement the abstract hooks."""

    #: Registry-independent short name, used in prompts and logs.
    title: ClassVar[str] = "game"
    #: Payoff kinds that make sense for this game; the first is the default.
    payoffs: ClassVar[tuple[str, ...]] = ("competitive",)
    #: Cycles after which an episode is truncated unless the caller says otherwise.
    default_max_cycles: ClassVar[int] = 100

    def __init__(
        self,
        agents: Sequence[str],
        seed: int | None = None,
        *,
        invalid_penalty: float = DEFAULT_INVALID_PENALTY,
        max_invalid: int = DEFAULT_MAX_INVALID,
    ) -> None:
        if max_invalid < 1:
            raise ValueError(f"max_invalid must be >= 1, got {max_invalid}")
        if invalid_penalty < 0:
            raise ValueError(f"invalid_penalty must be >= 0, got {invalid_penalty}")
        self.agents: list[str] = list(agents)
        self.rng = np.random.default_rng(seed)
        self.invalid_penalty = float(invalid_penalty)
        self.max_invalid = int(max_invalid)
        self.scores: dict[str, float] = dict.fromkeys(self.agents, 0.0)
        self.events: list[Event] = []
        self.invalid_streak: dict[str, int] = dict.fromkeys(self.agents, 0)
        self.invalid_total: dict[str, int] = dict.fromkeys(self.agents, 0)
        self.forfeited_by: str | None = None
        self.over = False

    # ------------------------------------------------------------------ hooks every game implements
    @abstractmethod
    def to_act(self) -> list[str]:
        """Agents whose move is awaited now, in the order they are asked; empty once the game is
        over.

        Turn-based games return one agent; simultaneous phases return every agent that has not yet
        submitted a valid move this round.
        """

    @abstractmethod
    def legal_moves(self, agent: str) -> list[str] | None:
        """Canonical move strings (`"[bet]"`) when the set is finite, else None (free-form)."""

    @abstractmethod
    def apply_move(self, agent: str, move: Any) -> None:
        """Apply a parsed, valid move. Updates state, `scores`, `events` and `over`."""

    @abstractmethod
    def rules_text(self, agent: str) -> str:
        """Static text for this agent and episode: rules, its private information, grammar."""

    @abstractmethod
    def turn_prompt(self, agent: str) -> str:
        """What the agent must do now, with the exact action grammar."""

    # ------------------------------------------------------------------ hooks with defaults
    @property
    def teams(self) -> dict[str, str]:
        return {a: team_of(a) for a in self.agents}

    def parse_move(self, agent: str, text: str) -> Any | None:
        """The move named in `text`, or None if there is none. Default: one of the legal moves."""
        legal = self.legal_moves(agent)
        if legal is None:
            raise NotImplementedError(
                f"{type(self).__name__} has free-form moves: override parse_move"
            )
        return match_legal(text, legal)

    def move_format(self, agent: str) -> str | None:
        """A regular expression for the free-form moves of the current phase (when `legal_moves`
        is None), or None: every string that fully matches it is a move `parse_move` reads (the
        game may still refuse its content, e.g. a clue that names the target). A constrained
        decoder keeps a model's answer inside it (`envs.core.formats` builds them). Default None."""
        return None

    def view(self, agent: str) -> dict[str, Any]:
        """Structured facts this agent may know, for scripted bots (json-like values only)."""
        return {}

    def on_forfeit(self, agent: str) -> None:
        """The agent gave up after too many invalid moves. Default: -1 point, the game ends."""
        self.scores[agent] -= FORFEIT_PENALTY
        self.over = True

    # ------------------------------------------------------------------ shared driver
    def log(self, text: str, visible_to: Sequence[str] | None = None) -> None:
        self.events.append(Event(text, None if visible_to is None else frozenset(visible_to)))

    def is_over(self) -> bool:
        return self.over

    def submit(self, agent: str, action: object) -> MoveReport:
        """Take one action from `agent`, whatever it is. Never raises for bad input."""
        if self.over or agent not in self.to_act():
            raise RuntimeError(f"{agent} is not to act now (to act: {self.to_act()})")
        text = coerce_text(action)
        move = None if text is None else self.parse_move(agent, text)
        if move is None:
            return self._invalid(agent, text)
        self.invalid_streak[agent] = 0
        self.apply_move(agent, move)
        return MoveReport(agent, text, valid=True)

    def _invalid(self, agent: str, text: str | None) -> MoveReport:
        self.invalid_streak[agent] += 1
        self.invalid_total[agent] += 1
        self.scores[agent] -= self.invalid_penalty
        shown = "nothing readable" if text is None else repr(text[:60])
        self.log(f"{agent} sent an invalid move ({shown}).", visible_to=[agent])
        if self.invalid_streak[agent] >= self.max_invalid:
            self.forfeited_by = agent
            self.log(f"{agent} forfeits after {self.max_invalid} invalid moves in a row.")
            self.on_forfeit(agent)
            self.over = True
            return MoveReport(agent, text, valid=False, forfeited=True)
        return MoveReport(agent, text, valid=False)

    def visible_events(self, agent: str) -> list[str]:
        return [e.text for e in self.events if e.seen_by(agent)]

    def transcript(self) -> str:
        return "\n".join(e.text for e in self.events)
