"""Base classes of the scripted bots: the yardsticks every learning agent is measured against."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from agents.policy import ActRequest, ActResponse


class ScriptedBot:
    """A stateless policy: `choose()` sees one request (observation text and infos) at a time.

    Everything a bot needs is in `request.info` (`legal_moves`, `view`), so the same bot object can
    play
    any number of games at once.
    """

    kind: ClassVar[str] = "scripted"

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self.name = f"{type(self).__module__.rsplit('.', 1)[-1]}:{self.kind}"

    def act(self, requests: Sequence[ActRequest]) -> list[ActResponse]:
        return [ActResponse(self.choose(r)) for r in requests]

    def choose(self, request: ActRequest) -> str:
        raise NotImplementedError


class RandomBot(ScriptedBot):
    """Uniform over `legal_moves`; games with free-form moves override `free_move`."""

    kind: ClassVar[str] = "random"

    def choose(self, request: ActRequest) -> str:
        legal = request.info.get("legal_moves")
        if legal:
            return str(legal[self.rng.integers(len(legal))])
        return self.free_move(request)

    def free_move(self, request: ActRequest) -> str:
        raise NotImplementedError(f"{type(self).__name__} needs free_move() for free-form moves")
