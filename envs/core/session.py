"""`GameSession`: one episode of a `Game` as the PettingZoo wrappers see it.

It owns what the AEC and Parallel APIs share, so the two cannot drift apart:
- the payoff layer (raw score changes -> rewards, see `envs.core.payoff`);
- cycles: a cycle asks, once each, every agent that must act when it starts (one agent in a
turn-based
  game, all pending agents in a simultaneous phase); one Parallel `step()` is one cycle, and
  `max_cycles`
  cycles truncate the episode;
- observations (self-contained text) and infos (structured facts, plus `rules` and `new_events` for
  agents that keep one growing conversation per episode, and `move_format`: the regular
  expression of a free-form phase's moves, `Game.move_format`, for constrained decoding).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from envs.core.game import Game
from envs.core.payoff import apply_payoff, check_mix

HISTORY_LINES = 40  # observation text keeps the latest lines; `new_events` carries everything


class GameSession:
    def __init__(
        self,
        make_game: Callable[[int | None], Game],
        payoff: str,
        mix: float,
        max_cycles: int,
        first_game: Game | None = None,
    ) -> None:
        if max_cycles < 1:
            raise ValueError(f"max_cycles must be >= 1, got {max_cycles}")
        self._make_game = make_game
        self.payoff = payoff
        self.mix = check_mix(mix)
        self.max_cycles = int(max_cycles)
        self.game: Game = first_game if first_game is not None else make_game(0)

    # ------------------------------------------------------------------ episode control
    def reset(self, seed: int | None) -> None:
        self.game = self._make_game(seed)
        self.cycles = 0
        self.truncated = False
        self._queue: deque[str] = deque(self.game.to_act())
        self._paid = dict(self.game.scores)  # raw scores already turned into rewards
        self._event_mark = dict.fromkeys(self.game.agents, 0)
        self._last_invalid = dict.fromkeys(self.game.agents, False)
        self._rules: dict[str, str] = {}

    @property
    def done(self) -> bool:
        return self.game.is_over() or self.truncated

    def current(self) -> str | None:
        """The agent asked next, or None when the episode has ended."""
        return None if self.done else self._queue[0]

    def cycle_agents(self) -> list[str]:
        """The agents still to be asked in the current cycle."""
        return [] if self.done else list(self._queue)

    def step(self, agent: str, action: object) -> dict[str, float]:
        """Apply `agent`'s action; return every agent's reward for it."""
        if agent != self.current():
            raise RuntimeError(f"{agent} acted out of turn; expected {self.current()}")
        self._event_mark[agent] = len(self.game.events)
        report = self.game.submit(agent, action)
        self._last_invalid[agent] = not report.valid
        self._queue.popleft()
        self._advance()
        return self._rewards()

    def set_mix(self, mix: float) -> None:
        """Change the payoff mix l (mixed payoff only); takes effect for later rewards."""
        self.mix = check_mix(mix)

    def _advance(self) -> None:
        if self.game.is_over():
            self._queue.clear()
            return
        pending = set(self.game.to_act())
        # An agent queued earlier in this cycle may no longer be awaited (the round resolved).
        self._queue = deque(a for a in self._queue if a in pending)
        if not self._queue:
            self.cycles += 1
            if self.cycles >= self.max_cycles:
                self.truncated = True
                self.game.log(f"Stopped after {self.max_cycles} cycles (max_cycles).")
            else:
                self._queue = deque(self.game.to_act())

    def _rewards(self) -> dict[str, float]:
        scores = self.game.scores
        delta = {a: scores[a] - self._paid[a] for a in scores}
        self._paid = dict(scores)
        rewards = apply_payoff(self.payoff, delta, self.game.teams, self.mix)
        return {a: float(r) for a, r in rewards.items()}

    # ------------------------------------------------------------------ what agents see
    def rules(self, agent: str) -> str:
        """`Game.rules_text` is static for an episode (its contract): built once per agent, not at
        every observation and info of every step."""
        if agent not in self._rules:
            self._rules[agent] = self.game.rules_text(agent)
        return self._rules[agent]

    def observation(self, agent: str) -> dict[str, str]:
        game = self.game
        history = game.visible_events(agent)[-HISTORY_LINES:]
        parts = [self.rules(agent)]
        if history:
            parts.append("History:\n" + "\n".join(history))
        parts.append(self._status_line(agent))
        return {"text": "\n\n".join(parts)}

    def _status_line(self, agent: str) -> str:
        if self.game.is_over():
            return f"The game is over. Your score: {self.game.scores[agent]:g}."
        if self.truncated:
            return "The game was stopped (turn limit)."
        if agent in self.game.to_act():
            return self.game.turn_prompt(agent)
        return "Wait for the other players."

    def info(self, agent: str) -> dict[str, Any]:
        game = self.game
        acting = not self.done and agent in game.to_act()
        mark = self._event_mark[agent]
        legal = game.legal_moves(agent) if acting else []
        return {
            "legal_moves": legal,
            "move_format": game.move_format(agent) if acting and not legal else None,
            "team": game.teams[agent],
            "acting": acting,
            "invalid_move": self._last_invalid[agent],
            "invalid_moves": game.invalid_total[agent],
            "rules": self.rules(agent),
            "new_events": [e.text for e in game.events[mark:] if e.seen_by(agent)],
            "turn_prompt": self._status_line(agent),
            "raw_score": float(game.scores[agent]),
            "forfeited": game.forfeited_by == agent,
            "view": game.view(agent),
        }

    def transcript(self) -> str:
        return self.game.transcript()
