"""`LanguageParallelEnv`: the PettingZoo Parallel face of a `Game`.

One `step()` is one cycle (see `envs.core.session`): every agent that must act when the cycle
starts is asked once, in order; actions from agents that are not asked (`infos[a]["acting"]` is
False) are ignored, so turn-based games also run under the Parallel API.
"""

from __future__ import annotations

from collections.abc import Mapping

from pettingzoo import ParallelEnv

from envs.core.aec import GameEnvMixin


class LanguageParallelEnv(GameEnvMixin, ParallelEnv):
    """Parallel env over a `Game`; `make_parallel_class` derives one from a game's AEC class."""

    def reset(self, seed: int | None = None, options: dict | None = None):
        self._session.reset(self._seeds.next(seed))
        self.agents = list(self.possible_agents)
        observations = {a: self._session.observation(a) for a in self.agents}
        return observations, {a: self._session.info(a) for a in self.agents}

    def step(self, actions: dict[str, object]):
        if not isinstance(actions, Mapping):
            raise TypeError(
                f"actions must be a dict agent -> action, got {type(actions).__name__}"
            )
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


def make_parallel_class(aec_cls: type) -> type[LanguageParallelEnv]:
    """The Parallel class of a game, sharing the AEC class's game and metadata."""
    return type(
        aec_cls.__name__.replace("raw_env", "parallel_env") + "_parallel",
        (LanguageParallelEnv,),
        {"game_cls": aec_cls.game_cls, "metadata": aec_cls.metadata, "__doc__": aec_cls.__doc__},
    )
