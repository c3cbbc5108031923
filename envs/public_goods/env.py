"""# Public Goods (with talk)

| | |
|---|---|
| Import | `envs.make("public_goods_v0")` / `envs.make_parallel("public_goods_v0")` |
| Agents | `player_0` .. `player_{n-1}`, n = `num_players` (3-6, default 4) |
| Teams | none (each player is its own team) |
| Payoff kinds | `mixed` (default), `cooperative` |
| Actions | free text (`FreeText`); the move is `[say <message>]` or `[contribute N]` |
| Observation | `{"text": str}`: rules, messages and contributions so far, the prompt |

A social dilemma. Each round every player receives `endowment` coins (E). A round has two
simultaneous phases: first everyone sends one message (`[say ...]`), and the messages are revealed
together; then everyone contributes 0..E coins (`[contribute N]`), revealed together. The pot is
multiplied by `multiplier` (r, 1 < r < n) and shared equally. Contributing everything is best for
the group, contributing nothing is best for oneself whatever the others do. In the AEC API the
players are asked in order, but nobody sees another's move before the phase resolves.

## Action grammar
- Talk phase: `[say <message>]` anywhere in the text ("Hi all. [say Let's all put in 10.]").
  The first non-empty `[say ...]` is the message; spaces are collapsed and it is cut to 200
  characters. A message may not contain `[`, `]` or a line break.
- Contribute phase: exactly one of `[contribute 0]` .. `[contribute E]` (case and spaces inside the
  brackets ignored); naming two different amounts, or none, is invalid.

## Arguments
- `num_players=4`: 3 to 6 players.
- `rounds=3`: number of rounds.
- `endowment=10`: coins each player receives per round (whole number, 1-100).
- `multiplier=1.6`: pot multiplier r; must satisfy 1 < r < num_players.
- `payoff="mixed"` (with `mix`), `max_cycles` (default 200), `invalid_penalty=0.1`,
  `max_invalid=3`, `render_mode`: as for every game (see `envs.core`).

## Rewards
Raw score per round, normalised by the endowment: `(E - c_i + r * sum(c) / n) / E`. Everybody
keeping everything scores 1 each, everybody contributing everything scores r each; a lone free
rider among full contributors scores `1 + r (n - 1) / n`. The payoff layer turns raw scores into
rewards (`mixed`: `l * own + (1 - l) * group mean`; `cooperative`: the group mean). An invalid
move costs 0.1 and the player is asked again; three invalid moves in a row forfeit: the game ends,
the forfeiter loses 1 and the others score 1 for every round left (they keep their coins).

## infos["view"]
`round`, `rounds`, `phase` (`talk`, `contribute`, `over`), `num_players`, `endowment`,
`multiplier`, `messages` (this round's messages once revealed, by agent) and `history` (one entry
per finished round: `messages` and `contributions`, by agent).

## Version History
- v0: initial release.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pettingzoo.utils import wrappers

from envs.core.aec import LanguageAECEnv
from envs.core.parallel import make_parallel_class
from envs.public_goods.rules import PublicGoods


class raw_env(LanguageAECEnv):
    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["ansi", "human"],
        "name": "public_goods_v0",
        "is_parallelizable": True,
    }
    game_cls = PublicGoods


def env(**kwargs):
    return wrappers.OrderEnforcingWrapper(raw_env(**kwargs))


parallel_env = make_parallel_class(raw_env)
