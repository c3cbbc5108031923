"""`LanguageAECEnv`: the PettingZoo AEC face of a `Game`. Each game's `env.py` subclasses it."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pettingzoo import AECEnv

from envs.core.game import DEFAULT_INVALID_PENALTY, DEFAULT_MAX_INVALID, Game
from envs.core.payoff import check_payoff
from envs.core.session import GameSession
from envs.core.spaces import text_action_space, text_observation_space

RENDER_MODES = ["ansi", "human"]


class GameConfig:
    """Validated constructor arguments shared by the AEC and Parallel classes of one game."""

    def __init__(
        self,
        game_cls: type[Game],
        name: str,
        payoff: str | None,
        mix: float,
        max_cycles: int | None,
        render_mode: str | None,
        invalid_penalty: float,
        max_invalid: int,
        game_kwargs: dict[str, Any],
    ) -> None:
        self.payoff = payoff or game_cls.payoffs[0]
        check_payoff(self.payoff, game_cls.payoffs, name)
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ValueError(
                f"render_mode must be one of {RENDER_MODES} or None, got {render_mode!r}"
            )
        self.game_cls = game_cls
        self.render_mode = render_mode
        self.mix = mix
        self.game_kwargs = dict(
            game_kwargs, invalid_penalty=invalid_penalty, max_invalid=max_invalid
        )
        # Built now so that bad kwargs fail with the game's own message; it then serves as the
        # session's game until the first reset(). It may size the horizon from its arguments.
        probe = game_cls(seed=0, **self.game_kwargs)
        self._probe: Game | None = probe
        self.max_cycles = probe.default_max_cycles if max_cycles is None else max_cycles

    def session(self) -> GameSession:
        def make_game(seed: int | None) -> Game:
            return self.game_cls(seed=seed, **self.game_kwargs)

        first, self._probe = self._probe, None
        return GameSession(make_game, self.payoff, self.mix, self.max_cycles, first)


class SeedSequence:
    """Seeds for successive episodes: `reset(seed=s)` restarts the sequence at s."""

    def __init__(self) -> None:
        self._rng = np.random.default_rng()

    def next(self, seed: int | None) -> int:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            return int(seed)
        return int(self._rng.integers(2**31 - 1))


class GameEnvMixin:
    """What the AEC and Parallel faces of a game share: constructor, session, spaces, rendering.
    Subclasses set `game_cls` and `metadata`."""

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": RENDER_MODES,
        "name": "language_game_v0",
        "is_parallelizable": True,
    }
    game_cls: ClassVar[type[Game]]

    def __init__(
        self,
        payoff: str | None = None,
        mix: float = 0.5,
        max_cycles: int | None = None,
        render_mode: str | None = None,
        invalid_penalty: float = DEFAULT_INVALID_PENALTY,
        max_invalid: int = DEFAULT_MAX_INVALID,
        **game_kwargs: Any,
    ) -> None:
        self.config = GameConfig(
            self.game_cls, self.metadata["name"], payoff, mix, max_cycles, render_mode,
            invalid_penalty, max_invalid, game_kwargs,
        )  # fmt: skip
        self.render_mode = render_mode
        self._session = self.config.session()
        self._seeds = SeedSequence()
        self.possible_agents = list(self._session.game.agents)
        self.agents: list[str] = []
        # Spaces are built once: PettingZoo checks that the same object comes back every time.
        self._action_spaces = {a: text_action_space() for a in self.possible_agents}
        self._observation_spaces = {a: text_observation_space() for a in self.possible_agents}

    def observation_space(self, agent: str):
        return self._observation_spaces[agent]

    def action_space(self, agent: str):
        return self._action_spaces[agent]

    @property
    def game(self) -> Game:
        """The pure rules object of the current episode (for analysis and scripted bots)."""
        return self._session.game

    @property
    def truncated(self) -> bool:
        """True once the episode was cut by `max_cycles`."""
        return self._session.truncated

    def set_mix(self, mix: float) -> None:
        """Change the mixed-payoff weight l between (or during) episodes."""
        self._session.set_mix(mix)

    def render(self) -> str | None:
        text = self._session.transcript()
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def close(self) -> None:
        pass


class LanguageAECEnv(GameEnvMixin, AECEnv):
    """AEC env over a `Game`. Subclasses set `game_cls` and `metadata`."""

    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        self._session.reset(self._seeds.next(seed))
        self.agents = list(self.possible_agents)
        self.rewards = dict.fromkeys(self.agents, 0.0)
        self._cumulative_rewards = dict.fromkeys(self.agents, 0.0)
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = dict.fromkeys(self.agents, False)
        self.infos = {a: self._session.info(a) for a in self.agents}
        self.agent_selection = self._session.current() or self.agents[0]

    def observe(self, agent: str) -> dict[str, str]:
        return self._session.observation(agent)

    def step(self, action: object) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        self._cumulative_rewards[agent] = 0.0
        rewards = self._session.step(agent, action)
        self.rewards = {a: rewards[a] for a in self.agents}
        over, cut = self._session.game.is_over(), self._session.truncated
        for a in self.agents:
            self.terminations[a] = over
            self.truncations[a] = cut and not over
            self.infos[a] = self._session.info(a)
        self._accumulate_rewards()
        self.agent_selection = self._session.current() or self.agents[0]
        if self.render_mode == "human":
            self.render()
