"""# Hidden Sum

| | |
|---|---|
| Import | `envs.make("hidden_sum_v0")` / `envs.make_parallel("hidden_sum_v0")` |
| Agents | `player_0` .. `player_{n-1}`, n = `num_players` (2-4, default 3) |
| Teams | none (each player is its own team) |
| Payoff kinds | `cooperative` |
| Actions | free text (`FreeText`); the move is `[say <message>]`, then `[answer N]` |
| Observation | `{"text": str}`: rules with the agent's own numbers, the messages, the prompt |

A cooperative communication game. Each player privately holds `numbers_per_player` integers drawn
uniformly from 1..9. Phase 1: every player sends one message (simultaneous, revealed together).
Phase 2: every player answers the total of all the numbers (simultaneous). The episode ends after
the answers. In the AEC API the players are asked in order, but nobody sees another's move before
the phase resolves.

## Action grammar
- Talk phase: `[say <message>]` anywhere in the text. The first non-empty `[say ...]` is the
  message; spaces are collapsed and it is cut to 200 characters. A message may not contain `[`,
  `]` or a line break.
- Answer phase: `[answer N]` (or `[answer: N]`), N a whole number in digits within the possible
  totals `count .. 9 * count` (count = num_players * numbers_per_player; 6..54 by default).
  Naming two different numbers, a number out of range, or none, is invalid.

## Arguments
- `num_players=3`: 2 to 4 players.
- `numbers_per_player=2`: 1 to 5 private numbers each.
- `payoff="cooperative"`, `max_cycles` (default 20), `invalid_penalty=0.1`, `max_invalid=3`,
  `render_mode`: as for every game (see `envs.core`).

## Rewards
Raw score: 1 for a right answer, 0 otherwise; `cooperative` gives everyone the group mean (the
fraction of players who answered right). An invalid move costs 0.1 and the player is asked again;
three invalid moves in a row forfeit: the game ends, the forfeiter loses 1, answers already given
are scored.

## infos["view"]
`phase` (`talk`, `answer`, `over`), `num_players`, `numbers_per_player`, `my_numbers`, `my_sum`,
`answer_range` ([lo, hi]), `messages` (by agent, once revealed); once over also `answers` and
`total`.

## Version History
- v0: initial release.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pettingzoo.utils import wrappers

from envs.core.aec import LanguageAECEnv
from envs.core.parallel import make_parallel_class
from envs.hidden_sum.rules import HiddenSum


class raw_env(LanguageAECEnv):
    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["ansi", "human"],
        "name": "hidden_sum_v0",
        "is_parallelizable": True,
    }
    game_cls = HiddenSum


def env(**kwargs):
    return wrappers.OrderEnforcingWrapper(raw_env(**kwargs))


parallel_env = make_parallel_class(raw_env)
