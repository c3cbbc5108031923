"""# Kuhn Poker

| | |
|---|---|
| Import | `envs.make("kuhn_poker_v0")` / `envs.make_parallel("kuhn_poker_v0")` |
| Agents | `player_0` (acts first), `player_1` |
| Teams | none (each player is its own team) |
| Payoff kinds | `competitive` |
| Actions | free text (`FreeText`); the move is `[check]`/`[bet]`, facing a bet `[call]`/`[fold]` |
| Observation | `{"text": str}`: rules with the agent's private card, the moves so far, the prompt |

Standard Kuhn poker, exactly as OpenSpiel's `kuhn_poker`: a zero-sum game of imperfect information.
The deck is J < Q < K; each player antes 1 chip and is dealt one card (the third is unused).
`player_0` acts first. With no bet pending a player may check or bet 1 chip; facing a bet, call or
fold. After two checks, or a bet and a call, the higher card wins the pot. One hand per episode
(2 or 3 moves).

The rules (`envs.kuhn_poker.rules`) expose the information-set structure the game runs on
(`deals()`, `legal_actions(history)`, `is_terminal(history)`, `returns(cards, history)`), and
`envs.kuhn_poker.theory` computes exact values, best responses and OpenSpiel's `exploitability` of
a policy given as `{"K:cb": {"call": 1.0, "fold": 0.0}, ...}` (see that module for the key format).
The Nash equilibrium value is -1/18 for `player_0`; uniform play is exploitable by 11/24.

## Action grammar
Exactly one legal move in brackets anywhere in the text ("I have the king, so [bet]."): `[check]`
or `[bet]` when no bet is pending, `[call]` or `[fold]` when facing one. Case and spaces inside the
brackets are ignored. Naming two different legal moves, or none, is invalid; illegal ones (`[call]`
with no bet pending) are ignored.

## Arguments
- `payoff="competitive"`, `max_cycles=20`, `invalid_penalty=0.1`, `max_invalid=3`, `render_mode`: as
  for every game (see `envs.core`).

## Rewards
Net chips: +1 or -1 after two checks or a fold, +2 or -2 after a called bet (zero-sum). An invalid
move costs 0.1 and the player is asked again; three invalid moves in a row count as a fold, whether
or not a bet is pending: the forfeiter loses its 1-chip ante to the other player.

## infos["view"]
- `card`: own card; `position`: 0 or 1; `pot`: chips in the pot.
- `history`: the moves so far as letters: `c` check or call, `b` bet, `f` fold.
- `info_set`: `"<card>:<history>"`, the key of `envs.kuhn_poker.theory` policies (None once over).
- `opponent_card`: the other card after a showdown, else None.

## Version History
- v0: initial release.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pettingzoo.utils import wrappers

from envs.core.aec import LanguageAECEnv
from envs.core.parallel import make_parallel_class
from envs.kuhn_poker.rules import KuhnPoker


class raw_env(LanguageAECEnv):
    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["ansi", "human"],
        "name": "kuhn_poker_v0",
        "is_parallelizable": True,
    }
    game_cls = KuhnPoker


def env(**kwargs):
    return wrappers.OrderEnforcingWrapper(raw_env(**kwargs))


parallel_env = make_parallel_class(raw_env)
