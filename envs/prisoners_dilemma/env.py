"""# Prisoner's Dilemma (iterated, with cheap talk)

| | |
|---|---|
| Import | `envs.make("prisoners_dilemma_v0")` / `envs.make_parallel("prisoners_dilemma_v0")` |
| Agents | `player_0`, `player_1` |
| Teams | none (each player is its own team) |
| Payoff kinds | `mixed` |
| Actions | free text (`FreeText`); talk `[say <message>]`, move `[cooperate]` or `[defect]` |
| Observation | `{"text": str}`: rules, messages and moves so far, the prompt for this phase |

`rounds` rounds, each with two simultaneous phases: (1) both players send a one-line message,
revealed together once both have sent; (2) both choose `[cooperate]` or `[defect]`, revealed
together. In the AEC API `player_0` is asked first, but nothing it sends is shown to `player_1`
before the phase resolves. Every live agent acts once in each phase (a cyclic game).

## Action grammar
- Talk phase: `[say <text>]` with 1 to 100 characters of text on one line and no brackets
  inside, e.g. `[say I will cooperate if you do.]`; an optional colon may follow `say`. Control
  characters become spaces. Two different `[say ...]` tokens, an empty or a too long message
  are invalid. The talk phase's `infos["move_format"]` is the regular expression
  `\\[say [A-Za-z0-9,.!?'][A-Za-z0-9 ,.!?']{0,47}\\]` (a message of at most 48 plain
  characters), a subset of the valid moves that constrained decoding keeps a model inside.
- Move phase: exactly one of `[cooperate]`, `[defect]` anywhere in the text (case and spaces
  inside the brackets ignored). Naming both, or neither, is invalid.

## Arguments
- `rounds=5`: number of rounds (>= 1). The default `max_cycles=100` covers 16 rounds even with
  every retry used (2 phases a round, up to 3 tries a phase); pass a larger `max_cycles` for
  longer games.
- `payoff="mixed"`, `mix=0.5`, `max_cycles`, `invalid_penalty=0.1`, `max_invalid=3`,
  `render_mode`: as for every game (see `envs.core`).

## Rewards
Raw score per round: the classic matrix T=5, R=3, P=1, S=0 divided by 5, so each round's raw
score lies in [0, 1]: both cooperate 0.6 each; both defect 0.2 each; a defector against a
cooperator gets 1, the cooperator 0. Rewards are `mixed`: r = l * own + (1 - l) * mean of both
(l = `mix`; l = 1 selfish, l = 0 fully cooperative). An invalid move costs 0.1 and the player
is asked again; `max_invalid` invalid moves in a row forfeit: the game ends, the forfeiter loses
1 point and unplayed rounds score 0 for both.

## infos["view"]
`round`, `rounds`, `phase` (`"talk"` or `"move"`), `my_moves`, `opponent_moves` (`"cooperate"`
or `"defect"` per finished round), `my_messages`, `opponent_messages` (revealed messages per
round; in the move phase the last entry is this round's message).

## Version History
- v0: initial release.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pettingzoo.utils import wrappers

from envs.core.aec import LanguageAECEnv
from envs.core.parallel import make_parallel_class
from envs.prisoners_dilemma.rules import PrisonersDilemma


class raw_env(LanguageAECEnv):
    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["ansi", "human"],
        "name": "prisoners_dilemma_v0",
        "is_parallelizable": True,
    }
    game_cls = PrisonersDilemma


def env(**kwargs):
    return wrappers.OrderEnforcingWrapper(raw_env(**kwargs))


parallel_env = make_parallel_class(raw_env)
