"""`TextArenaGame`: a TextArena game as a LoRA League `Game`, each TextArena trap handled.

TextArena (0.7.4) traps and what the adapter does about each
(tests: tests/unit/test_textarena_adapter.py):
- **global `random` reseeding**: `State.__init__` calls `random.seed(seed)` and the games draw
  from the global `random` (some from numpy's global generator). Every call into TextArena runs
  inside `isolated_random()`, which swaps in this episode's own generator states and restores the
  caller's afterwards: the trainer's randomness and other envs in the process are untouched, and
  an episode is a function of its seed.
- **`get_observation()` can be read once** (it drains the acting player's queue) and only for the
  acting player: after every step the adapter drains every player's pending messages (through the
  game's own `get_observation()` for the acting player, so games that add to it keep working)
  into the event log, each visible to its recipient; observations and `new_events` come from
  that log, so any agent can be observed any time.
- **wrappers that hide messages**: the adapter builds the unwrapped (`-raw`) env, so nothing is
  dropped; the "invalid move" message the game sends reaches the player who made it.
- **bracket wrapping**: TextArena's `ActionFormattingWrapper` wraps a bare answer in `[...]`; the
  raw env is used, so the answer reaches the game as written and the game finds the move as it
  always does (its own regex over the text). A bare answer with no brackets is usually invalid.
- **invalid moves**: the game's `set_invalid_move` is watched; its own error allowance is lifted,
  and LoRA League's rule applies instead (`invalid_penalty`, forfeit after `max_invalid` in a row).
- **end-only rewards**: raw scores are TextArena's final rewards from `close()` (plus invalid-move
  penalties); nothing is paid before the end.
- **legal moves**: recovered from the game's own text when it lists them (a line such as
  "Available Moves: '[0]', '[4]'"), else empty, and the trainer samples unconstrained.
- **prints**: some games print on make, reset or every step (LogicPuzzle "Correct: 0, Total: 18",
  SettlersOfCatan its board corners, RushHour its puzzle attempts). Every call into TextArena runs
  inside `output_to_log()`: what the game's thread writes to stdout or stderr (Python warnings
  included) is logged at INFO on `envs.textarena.game.prints`, so it reaches the run's log file
  and not the terminal.
"""

from __future__ import annotations

import contextlib
import io
import logging
import random
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any, ClassVar, TextIO

import numpy as np

from envs.core.game import FORFEIT_PENALTY, Game, MoveReport
from envs.core.parsing import coerce_text, normalise

logger = logging.getLogger(__name__)
#: Where a game's own prints go (one record per call into the game that printed).
prints_logger = logger.getChild("prints")

#: TextArena's own allowance of invalid moves is lifted to this; `max_invalid` rules instead.
NO_ALLOWANCE_LIMIT = 10**9
DEFAULT_MAX_CYCLES = 400
GAME_ID = -1

# A line of the game's text that lists moves: "Available Moves: '[0]', '[1]'" or
# "Your available actions are: '[check]', '[bet]'".
_LISTING = re.compile(r"(available|valid|legal|possible)\s+(moves|actions)", re.IGNORECASE)
_TOKEN = re.compile(r"\[[^\[\]\n]{1,80}\]")


@contextlib.contextmanager
def isolated_random(states: dict[str, Any]) -> Iterator[None]:
    """Run with Python's global `random` and numpy's global generator set to `states` (updated on
    exit), restoring the caller's states afterwards, whatever happens inside."""
    outer_py, outer_np = random.getstate(), np.random.get_state()
    try:
        if "py" in states:
            random.setstate(states["py"])
        if "np" in states:
            np.random.set_state(states["np"])
        yield
    finally:
        states["py"], states["np"] = random.getstate(), np.random.get_state()
        random.setstate(outer_py)
        np.random.set_state(outer_np)


class _ThreadRouted:
    """Stands in for sys.stdout or sys.stderr during a call into a game: the calling thread's
    writes go to `buffer`, every other thread's (the learner, while games roll out in the
    background) to the stream it replaced; once `owner` is None everything passes through."""

    def __init__(self, through: TextIO, buffer: io.StringIO) -> None:
        self.through = through
        self.buffer = buffer
        self.owner: int | None = threading.get_ident()

    def write(self, text: str) -> int:
        if threading.get_ident() == self.owner:
            return self.buffer.write(text)
        return self.through.write(text)

    def flush(self) -> None:
        self.through.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.through, name)


@contextlib.contextmanager
def output_to_log(label: str) -> Iterator[None]:
    """Log what this thread prints inside (stdout, stderr, Python warnings) on `prints_logger`
    at INFO, as one record headed by `label`, instead of letting it reach the terminal."""
    buffer = io.StringIO()
    stand_ins = {
        "stdout": _ThreadRouted(sys.stdout, buffer),
        "stderr": _ThreadRouted(sys.stderr, buffer),
    }
    for name, stand_in in stand_ins.items():
        setattr(sys, name, stand_in)
    try:
        yield
    finally:
        for name, stand_in in stand_ins.items():
            stand_in.owner = None  # a copy still held elsewhere now passes everything through
            if getattr(sys, name) is stand_in:
                setattr(sys, name, stand_in.through)
        text = buffer.getvalue().strip()
        if text:
            prints_logger.info("%s printed:\n%s", label, text)


def listed_moves(text: str) -> list[str]:
    """Bracketed moves named on the last line of `text` that lists moves, else []."""
    moves: list[str] = []
    for line in text.splitlines():
        found = _LISTING.search(line)
        if found:
            tokens = _TOKEN.findall(line[found.end() :])
            if tokens:
                moves = tokens
    seen: dict[str, str] = {}
    for m in moves:
        seen.setdefault(normalise(m), m)
    return list(seen.values())


def render_message(sender: int, message: str, names: dict[int, str]) -> str:
    """One message as a history line, "GAME: ..." or "player_1: ..." (no brackets: brackets are
    moves)."""
    who = "GAME" if sender == GAME_ID else names.get(sender, f"player_{sender}")
    return f"{who}: {message}"


class TextArenaGame(Game):
    """One episode of a TextArena game. Subclasses (see `game_class`) fix `ta_id` and players."""

    title: ClassVar[str] = "textarena"
    ta_id: ClassVar[str] = ""
    allowed_players: ClassVar[tuple[int, ...]] = (2,)
    min_players: ClassVar[int] = 2
    max_players: ClassVar[int] = 2
    payoffs: ClassVar[tuple[str, ...]] = ("competitive",)

    def __init__(
        self, seed: int | None = None, *, num_players: int | None = None, **kwargs: Any
    ) -> None:
        n = self.min_players if num_players is None else int(num_players)
        if n not in self.allowed_players:
            raise ValueError(
                f"textarena/{self.ta_id} plays with {self.allowed_players} players, "
                f"got num_players={num_players}"
            )
        super().__init__([f"player_{i}" for i in range(n)], seed, **kwargs)
        self.default_max_cycles = DEFAULT_MAX_CYCLES
        self._random: dict[str, Any] = {}
        self._prompts: dict[str, list[str]] = {a: [] for a in self.agents}
        self._last_text: dict[str, str] = dict.fromkeys(self.agents, "")
        self._invalid_flag = False
        self.ta_rewards: dict[int, float] | None = None
        self.ta_info: dict[int, Any] = {}
        ta_seed = int(self.rng.integers(2**31 - 1))
        with isolated_random(self._random), output_to_log(self.label):
            random.seed(ta_seed)
            np.random.seed(ta_seed % 2**32)
            self.env = make_raw(self.ta_id)
            self.env.reset(num_players=n, seed=ta_seed)
            self.state = self.env.state
            self.state.error_allowance = NO_ALLOWANCE_LIMIT
            original = self.state.set_invalid_move

            def watched(*args: Any, **kw: Any) -> Any:
                self._invalid_flag = True
                return original(*args, **kw)

            self.state.set_invalid_move = watched
            self._drain()
        self._check_done()

    # ------------------------------------------------------------------ TextArena plumbing
    @property
    def label(self) -> str:
        return f"textarena/{self.ta_id}"

    @property
    def names(self) -> dict[int, str]:
        return dict(enumerate(self.agents))

    def _current(self) -> int:
        return int(self.state.current_player_id)

    def _drain(self) -> None:
        """Move every player's pending messages into the event log (call inside isolation)."""
        if self.state.done:
            pending = {pid: self.state.observations.get(pid, []) for pid in self.names}
        else:
            pending = {pid: [] for pid in self.names}
            pid, first = self.env.get_observation()
            pending[int(pid)] = list(first or [])
        for pid in self.names:
            pending[pid] = [*pending[pid], *self.state.observations.get(pid, [])]
            self.state.observations[pid] = []
        for pid, messages in pending.items():
            agent = self.agents[pid]
            for sender, message, kind in messages:
                if getattr(kind, "name", "") == "PROMPT":
                    self._prompts[agent].append(str(message))
                    continue
                text = render_message(sender, str(message), self.names)
                self._last_text[agent] += "\n" + text
                self.log(text, visible_to=[agent])

    def _check_done(self) -> None:
        if not self.state.done or self.over:
            return
        with isolated_random(self._random), output_to_log(self.label):
            rewards, info = self.env.close()
        self.ta_rewards = {int(k): float(v) for k, v in (rewards or {}).items()}
        self.ta_info = dict(info or {})
        for pid, r in self.ta_rewards.items():
            if 0 <= pid < len(self.agents):
                self.scores[self.agents[pid]] += r
        reasons = {str(v.get("reason")) for v in self.ta_info.values() if isinstance(v, dict)}
        self.log(f"The game is over ({'; '.join(sorted(reasons - {'None'})) or 'finished'}).")
        self.over = True

    # ------------------------------------------------------------------ Game hooks
    def to_act(self) -> list[str]:
        if self.over or self.state.done:
            return []
        return [self.agents[self._current()]]

    def legal_moves(self, agent: str) -> list[str]:
        if agent not in self.to_act():
            return []
        return listed_moves(self._last_text[agent])

    def submit(self, agent: str, action: object) -> MoveReport:
        """The game itself reads the move out of the text (its own regex); an answer it rejects
        (its `set_invalid_move`) counts as invalid here."""
        if self.over or agent not in self.to_act():
            raise RuntimeError(f"{agent} is not to act now (to act: {self.to_act()})")
        text = coerce_text(action)
        if text is None or not text.strip():
            return self._invalid(agent, text)
        self._invalid_flag = False
        self._last_text[agent] = ""
        with isolated_random(self._random), output_to_log(self.label):
            try:
                self.env.step(action=text)
            except Exception as e:  # a game bug on odd input must not crash training
                logger.warning("textarena/%s raised on %r: %r", self.ta_id, text[:80], e)
                self._invalid_flag = True
            self._drain()
        if self._invalid_flag:
            report = self._invalid(agent, text)
            if report.forfeited:
                return report
            self._check_done()
            return report
        self.invalid_streak[agent] = 0
        self._check_done()
        return MoveReport(agent, text, valid=True)

    def apply_move(self, agent: str, move: Any) -> None:  # pragma: no cover - submit() overrides
        raise NotImplementedError("TextArena games apply moves in submit()")

    def on_forfeit(self, agent: str) -> None:
        """The forfeiter loses 1; in a competitive game the others share +1 (TextArena's own
        rule for a last invalid move), so the game stays zero-sum."""
        self.scores[agent] -= FORFEIT_PENALTY
        others = [a for a in self.agents if a != agent]
        if others and "competitive" in self.payoffs:
            for a in others:
                self.scores[a] += FORFEIT_PENALTY / len(others)
        self.over = True

    def rules_text(self, agent: str) -> str:
        prompt = "\n".join(self._prompts[agent]) or f"You are {agent} in {self.ta_id}."
        return (
            f"{prompt}\n\n(TextArena game {self.ta_id}; you are {agent}, player "
            f"{self.agents.index(agent)} of {len(self.agents)}. Messages from the game start "
            "with GAME:. An invalid move costs a penalty and you are asked again; "
            f"{self.max_invalid} in a row forfeit.)"
        )

    def turn_prompt(self, agent: str) -> str:
        legal = self.legal_moves(agent)
        listed = f" Listed moves: {' '.join(legal)}." if legal else ""
        return (
            "It is your turn. Give your move as the game's rules ask, in square brackets." + listed
        )

    def view(self, agent: str) -> dict[str, Any]:
        pid = self.agents.index(agent)
        info = self.ta_info.get(pid, {}) if self.over else {}
        return {
            "game": self.ta_id,
            "player": pid,
            "turn": int(getattr(self.state, "turn", 0)),
            "role": info.get("role") if isinstance(info, dict) else None,
        }


def make_raw(ta_id: str):
    """TextArena's env `ta_id` built from its registration without any wrapper."""
    import importlib

    from textarena.envs.registration import ENV_REGISTRY

    spec = ENV_REGISTRY[ta_id]
    module, cls = spec.entry_point.split(":")
    return getattr(importlib.import_module(module), cls)(**spec.kwargs)
