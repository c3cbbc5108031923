"""`LanguageParallelEnv`: the PettingZoo Parallel face of a `Game`.

One `step()` is one cycle (see `envs.core.session`): every agent that must act when the cycle
starts is
asked once, in order; actions from agents that are not asked (`infos[a]["acting"]` is False) are
ignored, so turn-based games also run under the Parallel API.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pettingzoo import ParallelEnv

from envs.core.aec import RENDER_MODES, GameConfig, SeedSequence
from envs.core.game import DEFAULT_INVALID_PENALTY, DEFAULT_MAX_INVALID, Game
from envs.core.spaces import text_action_space, text_observation_space


class LanguageParallelEnv(ParallelEnv):
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
        self._action_spaces = {a: text_action_space() for a in self.possible_agents}
        self._observation_spaces = {a: text_observation_space() for a in self.possible_agents}

    def observation_space(self, agent: str):
        return self._observation_spaces[agent]

    def action_space(self, agent: str):
        return self._action_spaces[agent]

    @property
    def game(self) -> Game:
        return self._session.game

    @property
    def truncated(self) -> bool:
        """True once the episode was cut by `max_cycles`."""
        return self._session.truncated

    def set_mix(self, mix: float) -> None:
        self._session.set_mix(mix)

    def reset(self, seed: int | None = None, options: dict | None = None):
        self._session.reset(self._seeds.next(seed))
        self.agents = list(self.possible_agents)
        observations = {a: self._session.observation(a) for a in self.agents}
        return observations, {a: self._session.info(a) for a in self.agents}

    def step(self, actions: dict[str, object]):
        session = self._session
        totals = dict.fromkeys(self.agents, 0.0)
        for agent in session.cycle_agents():
            if session.done:
                break
            rewards = session.step(agent, actions.get(agent))
            for a in totals:
                totals[a] += rewards[a]
        over, cut = session.game.is_over(), session.truncated
        live = self.agents
        observations = {a: session.observation(a) for a in live}
        terminations = dict.fromkeys(live, over)
        truncations = dict.fromkeys(live, cut and not over)
        infos = {a: session.info(a) for a in live}
        if over or cut:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return observations, totals, terminations, truncations, infos

    def render(self) -> str | None:
        text = self._session.transcript()
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def close(self) -> None:
        pass


def make_parallel_class(aec_cls: type) -> type[LanguageParallelEnv]:
    """The Parallel class of a game, sharing the AEC class's game and metadata."""
    return type(
        aec_cls.__name__.replace("raw_env", "parallel_env") + "_parallel",
        (LanguageParallelEnv,),
        {"game_cls": aec_cls.game_cls, "metadata": aec_cls.metadata, "__doc__": aec_cls.__doc__},
    )
