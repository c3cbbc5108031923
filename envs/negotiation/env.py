"""# Negotiation (divide a pool of items)

| | |
|---|---|
| Import | `envs.make("negotiation_v0")` / `envs.make_parallel("negotiation_v0")` |
| Agents | `player_0`, `player_1` |
| Teams | none (each player is its own team) |
| Payoff kinds | `mixed` (default), `competitive`, `cooperative` |
| Actions | free text (`FreeText`); moves `[offer a b c]`, `[accept]`, last turn `[reject]` |
| Observation | `{"text": str}`: rules with pool and own values, offers so far, this turn's prompt |

A pool holds `num_types` item types (books, hats, balls, ...) with 1..`max_count` items each.
Each player values every item type privately (a non-negative integer, possibly 0); the whole pool
is worth `total_value` to both players, but their values differ, so some splits are better for
both. Players alternate offers, `player_0` first, `max_turns` offers in all. The player who
receives the last offer may only accept or reject it (`max_turns=1` is the ultimatum game).

## Action grammar
- `[offer a b c]`: one integer per item type, in the order shown in the rules: the counts the
  PROPOSER keeps; the other player gets the rest. Numbers are separated by spaces or commas
  (`[offer 2, 0, 1]`), an optional colon may follow `offer`, case is ignored. Every count must
  lie in 0..(number of items of that type).
- `[accept]`: accept the standing offer (the other player's latest); only when there is one.
- `[reject]`: only after the last offer; ends the game with no deal.

The move may sit inside free text ("I propose [offer 1 0 2], fair?"). An answer is invalid when
it holds no move, a malformed or out-of-range offer, an `[accept]` with no offer standing, or two
different moves.

## Arguments
- `max_turns=6`: the most offers in a game (1..30).
- `num_types=3` (1..5), `max_count=4` (1..5), `total_value=10` (num_types..20): the pool.
- `payoff="mixed"`, `mix=0.5`, `max_cycles` (default 100), `invalid_penalty=0.1`,
  `max_invalid=3`, `render_mode`: as for every game (see `envs.core`).

## Rewards
Raw score of a deal = value of the items a player gets / `total_value`, so it lies in [0, 1] for
each player. No deal (rejected last offer, or forfeit) scores 0 for both. An invalid move costs
0.1 and the player is asked again; `max_invalid` invalid moves in a row forfeit: no deal, and the
forfeiter also loses 1 point (so forfeiting is worse than any deal). The payoff kind turns raw
scores into rewards.

## infos["view"]
`item_names`, `counts`, `my_values`, `total_value`, `max_turns`, `offers_made`, `final` (only
accept or reject now), `standing_offer` (`{"by", "keeps", "i_get"}` or None), `my_offers`,
`opponent_offers` (keep vectors of each side's offers), `deal` (what this player got, once a deal
is made). The other player's values are never shown.

## Version History
- v0: initial release.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pettingzoo.utils import wrappers

from envs.core.aec import LanguageAECEnv
from envs.core.parallel import make_parallel_class
from envs.negotiation.rules import Negotiation


class raw_env(LanguageAECEnv):
    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["ansi", "human"],
        "name": "negotiation_v0",
        "is_parallelizable": True,
    }
    game_cls = Negotiation


def env(**kwargs):
    return wrappers.OrderEnforcingWrapper(raw_env(**kwargs))


parallel_env = make_parallel_class(raw_env)
