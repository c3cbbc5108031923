"""`OpenSpielGame`: any OpenSpiel game (through `pyspiel`) as a LoRA League `Game`.

Calls `pyspiel` directly rather than shimmy's bridge, which truncates games with chance nodes
early and counts the final reward twice. What the adapter does:
- text: the acting player's `information_state_string` (perfect recall) when the game provides
  one, else its `observation_string`; both come from the game itself;
- moves: `[name]` with the name from `state.action_to_string(player, action)`; the legal moves
  are the names of `state.legal_actions(player)`, and an answer must name exactly one of them;
- chance nodes are sampled inside, from the game's own `chance_outcomes()` with the episode's
  seeded generator, so an episode is a function of its seed;
- simultaneous-move nodes collect one move from every player who has legal actions, then apply
  them together (`apply_actions`), so these games run through the Parallel face as well;
- raw scores are `state.returns()` at the end (nothing before: per-step rewards of games with a
  rewards model are summed into `returns()` by OpenSpiel);
- prints: pyspiel writes some warnings from C++ straight to file descriptor 2 when a game loads
  (quoridor: "has known issues"); loading runs inside `c_output_to_log()`, which points fds 1
  and 2 at a temporary file and logs what arrived at INFO on `envs.openspiel.game.prints`, so it
  reaches the run's log file and not the terminal. Loads are cached, so this happens once per
  game and parameters; no registered game was seen to print while it is played.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from envs.core.game import Game
from envs.core.parsing import match_legal

try:  # pyspiel is an optional dependency of `envs`: the registry only lists its games if present
    import pyspiel
except ImportError:  # pragma: no cover - exercised only without open_spiel
    pyspiel = None

#: Cycles allowed per move of the game's longest episode: every move may be retried after invalid
#: answers, so the horizon is the game's own `max_game_length()` times this, plus one.
RETRIES_PER_MOVE = 3
MAX_DEFAULT_CYCLES = 5_000

logger = logging.getLogger(__name__)
#: Where what OpenSpiel prints goes (one record per load that printed).
prints_logger = logger.getChild("prints")


def require_pyspiel():
    if pyspiel is None:
        raise ImportError(
            "OpenSpiel games need the open_spiel package: pip install open_spiel==2.0.2 "
            "(part of the default install, scripts/install.sh)"
        )
    return pyspiel


def _flush_c_stdio() -> None:
    """Flush C stdio buffers (std::cout writes through them when synced with stdio)."""
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def c_output_to_log(label: str) -> Iterator[None]:
    """Log what is written to file descriptors 1 and 2 inside (C++ included) on `prints_logger`
    at INFO, as one record headed by `label`. Process-wide while it runs (descriptors are), so
    it is kept to rare calls such as loading a game."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        saved = (os.dup(1), os.dup(2))
    except OSError:  # no descriptors to borrow (a daemon): nothing can reach a terminal
        yield
        return
    with tempfile.TemporaryFile() as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            _flush_c_stdio()
            for fd, saved_fd in zip((1, 2), saved, strict=True):
                os.dup2(saved_fd, fd)
                os.close(saved_fd)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace").strip()
            if text:
                prints_logger.info("%s printed:\n%s", label, text)


def load_game(name: str, params: tuple[tuple[str, Any], ...] = ()):
    """The pyspiel game `name` with `params` (cached: games are immutable)."""
    return _load_game(name, tuple(params))


@functools.cache
def _load_game(name: str, params: tuple[tuple[str, Any], ...]):
    with c_output_to_log(f"openspiel/{name}"):
        return require_pyspiel().load_game(name, dict(params))


def move_token(name: str) -> str:
    """The bracketed move for an OpenSpiel action name (brackets inside names become parens)."""
    clean = " ".join(name.replace("[", "(").replace("]", ")").split())
    return f"[{clean}]"


def payoffs_for(game) -> tuple[str, ...]:
    """Payoff kinds that fit an OpenSpiel game's utility model."""
    utility = game.get_type().utility
    kinds = pyspiel.GameType.Utility
    if game.num_players() == 1 or utility == kinds.IDENTICAL:
        return ("cooperative",)
    if utility in (kinds.ZERO_SUM, kinds.CONSTANT_SUM):
        return ("competitive",)
    return ("mixed", "competitive", "cooperative")


RULES = """You are {agent} in the game "{title}" from OpenSpiel ({players} players: {names}).
{extra}Each turn you see the game's own description of what you know, and the legal moves.
Answer with exactly one legal move in square brackets, e.g. {example}. Naming no legal move, or two
different ones, is an invalid move: you are asked again, and {max_invalid} invalid moves in a row
forfeit the game.
{scoring}"""


class OpenSpielGame(Game):
    """One episode of an OpenSpiel game. Subclasses (see `game_class`) fix `game_name`."""

    title: ClassVar[str] = "openspiel"
    game_name: ClassVar[str] = ""
    payoffs: ClassVar[tuple[str, ...]] = ("competitive",)

    def __init__(
        self,
        seed: int | None = None,
        *,
        params: dict[str, Any] | None = None,
        forced_chance: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        self.params = dict(params or {})
        # Chance outcomes to take, in order, before sampling resumes (to replay a given history,
        # e.g. to reach one information state when probing a policy).
        self._forced_chance = [int(a) for a in (forced_chance or ())]
        try:
            self.spiel = load_game(self.game_name, tuple(sorted(self.params.items())))
        except Exception as e:  # pyspiel raises its own error type for bad parameters
            raise ValueError(
                f"openspiel/{self.game_name}: cannot load with {self.params}: {e}"
            ) from e
        self.gtype = self.spiel.get_type()
        n = self.spiel.num_players()
        super().__init__([f"player_{i}" for i in range(n)], seed, **kwargs)
        self.default_max_cycles = min(
            MAX_DEFAULT_CYCLES, self.spiel.max_game_length() * (RETRIES_PER_MOVE + 1) + 1
        )
        self.state = self.spiel.new_initial_state()
        self.pending: dict[int, int] = {}  # simultaneous node: player -> chosen action
        perfect = pyspiel.GameType.Information.PERFECT_INFORMATION
        self._public_moves = self.gtype.information == perfect
        self._advance_chance()

    # ------------------------------------------------------------------ OpenSpiel plumbing
    def player(self, agent: str) -> int:
        return self.agents.index(agent)

    def _advance_chance(self) -> None:
        """Sample chance nodes until a player must act; score the game when it ends."""
        while self.state.is_chance_node():
            outcomes = self.state.chance_outcomes()
            if self._forced_chance:
                forced = self._forced_chance.pop(0)
                if forced not in {int(a) for a, _ in outcomes}:
                    raise ValueError(f"forced chance outcome {forced} is not possible here")
                self.state.apply_action(forced)
                self.log("Chance acted.", visible_to=())
                continue
            probs = np.array([p for _, p in outcomes], dtype=float)
            index = int(self.rng.choice(len(outcomes), p=probs / probs.sum()))
            self.state.apply_action(int(outcomes[index][0]))
            self.log("Chance acted.", visible_to=())
        if self.state.is_terminal() and not self.over:
            returns = self.state.returns()
            for i, agent in enumerate(self.agents):
                self.scores[agent] += float(returns[i])
            self.over = True
            shown = ", ".join(f"{a}: {r:g}" for a, r in zip(self.agents, returns, strict=True))
            self.log(f"The game is over. Returns: {shown}.")

    def _actions(self, agent: str) -> dict[str, int]:
        """Legal moves of `agent` now, as `{"[name]": action}`."""
        if self.state.is_terminal():
            return {}
        p = self.player(agent)
        return {
            move_token(self.state.action_to_string(p, a)): int(a)
            for a in self.state.legal_actions(p)
        }

    def information(self, agent: str) -> str:
        """What `agent` knows now, as the game itself writes it."""
        p = self.player(agent)
        if self.gtype.provides_information_state_string:
            return self.state.information_state_string(p)
        return self.state.observation_string(p)

    def info_state(self, agent: str) -> str | None:
        """OpenSpiel's information-state key of `agent` now (None if the game has none)."""
        if self.state.is_terminal() or not self.gtype.provides_information_state_string:
            return None
        return self.state.information_state_string(self.player(agent))

    # ------------------------------------------------------------------ Game hooks
    def to_act(self) -> list[str]:
        if self.over or self.state.is_terminal():
            return []
        if self.state.is_simultaneous_node():
            return [
                a
                for i, a in enumerate(self.agents)
                if i not in self.pending and self.state.legal_actions(i)
            ]
        return [self.agents[self.state.current_player()]]

    def legal_moves(self, agent: str) -> list[str]:
        return list(self._actions(agent))

    def parse_move(self, agent: str, text: str) -> int | None:
        actions = self._actions(agent)
        move = match_legal(text, list(actions))
        return None if move is None else actions[move]

    def apply_move(self, agent: str, move: int) -> None:
        p = self.player(agent)
        name = self.state.action_to_string(p, move)
        public = self._public_moves and not self.state.is_simultaneous_node()
        self.log(f"{agent} played {move_token(name)}.", visible_to=None if public else [agent])
        if self.state.is_simultaneous_node():
            self.pending[p] = move
            if self.to_act():
                return
            # Nobody's move is announced: each player's information string says what it learns.
            joint = [self.pending.get(i, 0) for i in range(len(self.agents))]
            self.pending = {}
            self.state.apply_actions(joint)
        else:
            self.state.apply_action(move)
        self._advance_chance()

    def rules_text(self, agent: str) -> str:
        n = len(self.agents)
        lo, hi = self.spiel.min_utility(), self.spiel.max_utility()
        scoring = f"Your score is the game's return for you at the end, between {lo:g} and {hi:g}."
        params = f"Game parameters: {self.params}.\n" if self.params else ""
        return RULES.format(
            agent=agent,
            title=self.gtype.long_name,
            players=n,
            names=", ".join(self.agents),
            extra=params,
            example=self._example(agent),
            max_invalid=self.max_invalid,
            scoring=scoring,
        )

    def _example(self, agent: str) -> str:
        legal = self.legal_moves(agent) if agent in self.to_act() else []
        return legal[0] if legal else "[move]"

    def turn_prompt(self, agent: str) -> str:
        legal = self.legal_moves(agent)
        return (
            f"The game state as you see it:\n{self.information(agent)}\n\n"
            f"It is your turn. Legal moves: {' '.join(legal)}\n"
            "Answer with exactly one of them, in brackets."
        )

    def view(self, agent: str) -> dict[str, Any]:
        return {
            "game": self.game_name,
            "player": self.player(agent),
            "info_set": self.info_state(agent),
        }

    def on_forfeit(self, agent: str) -> None:
        """A forfeit ends the game: the forfeiter gets the game's lowest utility, the others
        share the opposite so zero-sum games stay zero-sum."""
        lo = float(self.spiel.min_utility())
        self.scores[agent] += lo
        others = [a for a in self.agents if a != agent]
        if others and self.payoffs == ("competitive",):
            for a in others:
                self.scores[a] -= lo / len(others)
        self.over = True


@functools.cache
def game_class(name: str) -> type[OpenSpielGame]:
    """The `OpenSpielGame` subclass for OpenSpiel game `name` (payoffs from its utility)."""
    game = load_game(name)
    return type(
        f"OpenSpiel_{name}",
        (OpenSpielGame,),
        {"game_name": name, "title": name, "payoffs": payoffs_for(game)},
    )
