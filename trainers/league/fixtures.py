"""Fixtures: the next matches. The learner takes a random side; the other sides are matchmade
from the league (or given, for evaluation); every match gets its own seed.

In cooperative and mixed modes the learner's family fills every seat, but a training match may
take a partner: a scripted bot (one of `partners`) in one seat drawn at random, so the seats
beside it learn from a partner that already plays the game's convention (the signal game's
listener from a speaker whose clue is right, the speaker from a listener who reads it) instead of
from an untrained adapter's noise. Evaluation matches (`learning=False`) never take one.

The matchmaking RNG and the count of episodes handed out (which makes the seeds) are the state
(`state_dict()`): a resumed run draws the same matches the uninterrupted one would have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trainers.league.modes import share_key, sides
from trainers.league.population import League
from trainers.league.publishing import LEARNER, adapter_ref
from trainers.rollout import MatchSpec, Seat

__all__ = ["Fixtures"]


class Fixtures:
    def __init__(
        self,
        agents: Sequence[str],
        teams: Mapping[str, str],
        share: str,
        adversarial: bool,
        matchmaker: Any,
        seed: int,
        partners: Sequence[str] = (),
    ) -> None:
        self.agents = list(agents)
        self.partners = tuple(partners)
        self.teams = dict(teams)
        self.sides = sides(self.agents, self.teams)
        self.share = share
        self.adversarial = adversarial
        self.matchmaker = matchmaker
        self.seed = int(seed)
        #: The matchmaking generator (a checkpoint carries its state in rng.json).
        self.rng = np.random.default_rng(seed)
        self.episodes_done = 0

    def make(
        self,
        league: League,
        n: int,
        opponent: str | None = None,
        learning: bool = True,
        partner_share: float = 0.0,
        learner: str = LEARNER,
    ) -> list[MatchSpec]:
        """`n` matches: the `learner` on a random side against matchmade (or given) opponents;
        cooperative and mixed modes: a learning match takes a partner with `partner_share`."""
        matches = []
        for _ in range(n):
            seats = {}
            if not self.adversarial:
                seats = {a: self.seat(league, learner, a, learning) for a in self.agents}
                if learning and self.partners and partner_share > 0:
                    self._seat_partner(seats, partner_share)
            else:
                mine = int(self.rng.integers(len(self.sides)))
                others = [s for i, s in enumerate(self.sides) if i != mine]
                picks = (
                    [opponent] * len(others)
                    if opponent
                    else self.matchmaker.pick(league, learner, len(others), self.rng)
                )
                for a in self.sides[mine]:
                    seats[a] = self.seat(league, learner, a, learning)
                for side, pick in zip(others, picks, strict=True):
                    for a in side:
                        seats[a] = self.seat(league, pick, a, learning)
            matches.append(MatchSpec(self.next_seed(), seats))
        return matches

    def seat(self, league: League, player_id: str, agent: str, learning: bool) -> Seat:
        """`player_id` in `agent`'s seat: a bot, or the adapter of its family for that seat."""
        player = league.get(player_id)
        if player.kind == "bot":
            return Seat(player_id, bot=player.bot)
        ref = adapter_ref(
            player.adapter, share_key(agent, self.teams[agent], self.share), player.version
        )
        return Seat(player_id, adapter=ref, learning=learning and player.kind == "learner")

    def _seat_partner(self, seats: dict[str, Seat], share: float) -> None:
        """With probability `share`, a partner bot takes one seat drawn at random. (The draws
        are made only when partners play, so a run without them draws the same matches.)"""
        if self.rng.random() >= share:
            return
        agent = self.agents[int(self.rng.integers(len(self.agents)))]
        kind = self.partners[int(self.rng.integers(len(self.partners)))]
        seats[agent] = Seat(f"bot:{kind}", bot=kind)

    def next_seed(self) -> int:
        self.episodes_done += 1
        return self.seed * 1_000_003 + self.episodes_done

    def state_dict(self) -> dict[str, Any]:
        return {"episodes_done": self.episodes_done, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.episodes_done = int(state["episodes_done"])
        if state.get("rng") is not None:
            self.rng.bit_generator.state = state["rng"]
