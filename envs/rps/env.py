"""# Rock-Paper-Scissors (iterated)

| | |
|---|---|
| Import | `envs.make("rps_v0")` / `envs.make_parallel("rps_v0")` |
| Agents | `player_0`, `player_1` |
| Teams | none (each player is its own team) |
| Payoff kinds | `competitive` |
| Actions | free text (`FreeText`); the move is `[rock]`, `[paper]` or `[scissors]` |
| Observation | `{"text": str}`: rules, history of rounds, the prompt for this round |

Both players move at the same time, for `rounds` rounds. In the AEC API `player_0` is asked first,
but
its move is hidden from `player_1` until the round resolves.

## Action grammar
Exactly one of `[rock]`, `[paper]`, `[scissors]` anywhere in the text ("I'll go [paper]!"); case
and spaces
inside the brackets are ignored. Naming two different moves, or none, is invalid.

## Arguments
- `rounds=5`: number of rounds.
- `payoff="competitive"`, `max_cycles`, `invalid_penalty=0.1`, `max_invalid=3`, `render_mode`: as
for
  every game (see `envs.core`).

## Rewards
Each round: winner +1, loser -1, tie 0 (zero-sum). An invalid move costs 0.1 and the player is asked
again; three invalid moves in a row forfeit every remaining round (-1 each).

## infos["view"]
`round`, `rounds`, `my_history`, `opponent_history` (move names).

## Version History
- v0: initial release.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pettingzoo.utils import wrappers

from envs.core.aec import LanguageAECEnv
from envs.core.parallel import make_parallel_class
from envs.rps.rules import RockPaperScissors


class raw_env(LanguageAECEnv):
    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["ansi", "human"],
        "name": "rps_v0",
        "is_parallelizable": True,
    }
    game_cls = RockPaperScissors


def env(**kwargs):
    return wrappers.OrderEnforcingWrapper(raw_env(**kwargs))


parallel_env = make_parallel_class(raw_env)
