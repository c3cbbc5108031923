"""# Signal (speaker-listener reference game)

| | |
|---|---|
| Import | `envs.make("signal_v0")` / `envs.make_parallel("signal_v0")` |
| Agents | `player_0` (speaker), `player_1` .. `player_L` (listeners, L = `num_listeners`) |
| Teams | none (each player is its own team; the game is cooperative) |
| Payoff kinds | `cooperative` |
| Actions | free text (`FreeText`); speaker: `[clue <word>]`, listener: `[pick <word>]` |
| Observation | `{"text": str}`: rules with the candidates (speaker: and target), the clue |

`num_candidates` words are drawn from the word list shipped with the game
(`envs/signal/words.txt`, ~350 common concrete nouns, each with a category such as `fruit` or
`tool`), each from a different category; one is the target. The speaker sees the target and gives
a one-word clue; then the listeners, one after the other, pick a candidate. Picks stay hidden until
every listener has picked. Turn-based.

## Action grammar
- Speaker: `[clue <word>]` (also `[clue: word]`, quotes allowed), one word of letters, hyphens
  allowed (`[clue sea-side]`). The clue may not contain the target and the target may not contain
  the clue (case-insensitive): `[clue apples]` or `[clue app]` for `apple` are invalid. Naming two
  different clues, or none, is invalid.
- Listener: exactly one of `[pick <candidate>]` (the candidates, as listed in `legal_moves`).

## Arguments
- `num_listeners=1`: 1 to 8 listeners.
- `num_candidates=4`: 2 to 12 candidate words.
- `clue_choices=False`: when True the speaker's `legal_moves` (and its turn prompt) list the
  candidates' categories as clues, `[clue fruit]`, ...: the target's category is among them and
  singles it out; the speaker must name it, the listener must read it. A language agent can
  then be constrained to those clues; any other allowed clue stays valid.
- `payoff="cooperative"`, `max_cycles` (default 100), `invalid_penalty=0.1`, `max_invalid=3`,
  `render_mode`: as for every game (see `envs.core`).

## Rewards
Every agent, speaker included, scores (number of listeners who picked the target) /
num_listeners, so a full success is 1 for everyone. An invalid move costs that agent 0.1 and it
is asked again; three invalid moves in a row forfeit: the game ends, the forfeiter loses 1, picks
already made are scored.

## infos["view"]
`role` (`speaker` or `listener`), `candidates`, `clue` (None until given), `num_listeners`; the
speaker also `target`; a listener that has picked `my_pick`; once over `target` and `picks` (by
agent).

## Version History
- v0: initial release.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pettingzoo.utils import wrappers

from envs.core.aec import LanguageAECEnv
from envs.core.parallel import make_parallel_class
from envs.signal.rules import Signal


class raw_env(LanguageAECEnv):
    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["ansi", "human"],
        "name": "signal_v0",
        "is_parallelizable": True,
    }
    game_cls = Signal


def env(**kwargs):
    return wrappers.OrderEnforcingWrapper(raw_env(**kwargs))


parallel_env = make_parallel_class(raw_env)
