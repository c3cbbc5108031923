"""# Codenames (two teams of two)

| | |
|---|---|
| Import | `envs.make("codenames_v0")` / `envs.make_parallel("codenames_v0")` |
| Agents | `red_0` (spymaster), `red_1` (guesser), `blue_0` (spymaster), `blue_1` (guesser) |
| Teams | `red`, `blue` |
| Payoff kinds | `team_battle` |
| Actions | free text; spymaster `[clue <word> <n>]`, guesser `[guess <word>]` or `[pass]` |
| Observation | `{"text": str}`: rules, board (and key, for spymasters), history, prompt |

A board of `board_size` words is drawn from a shipped list of common concrete nouns
(`envs/codenames/words.txt`). A secret key colours them: the starting team (drawn at random) gets
one word more than the other, the rest are neutral but one, the assassin (9/8/7/1 on a 25-word
board, 4/3/4/1 on the default 12). Spymasters see the key; guessers see only the board and what has
been revealed.

Teams alternate turns, starting team first. In a turn the spymaster gives a clue, then the guesser
guesses up to n + 1 times. A guess reveals the word's colour to everyone: the team's own colour lets
it guess again (while guesses remain); a neutral or opponent word ends the turn (an opponent word
counts for the opponent); the assassin loses the game for the guessing team. A team whose words are
all revealed wins at once. After `max_turns` turns (both teams counted) the team that found more of
its words wins; equal counts are a draw. Turn-based: one agent acts at a time.

## Action grammar
- Spymaster: `[clue <word> <n>]`, e.g. `[clue animal 2]` (also `[clue: animal, 2]`). The clue is
  one word of 2-20 ASCII letters that is not a board word, and no board word starts with it or is
  its start (so no plurals of board words); 1 <= n <= `board_size`. Two different clues in one
  reply, or none, is invalid.
- Guesser: `[guess <word>]` for an unrevealed board word, or `[pass]` to end the turn, allowed once
  the guesser has made a guess this turn. `infos["legal_moves"]` lists them; exactly one must be
  named.

## Arguments
- `board_size=12`: words on the board, 6 to 25.
- `max_turns=8`: team turns in all (4 each) before the game is decided by words found.
- `payoff="team_battle"`, `max_cycles` (default 300), `invalid_penalty=0.1`, `max_invalid=3`,
  `render_mode`: as for every game (see `envs.core`).

## Rewards
Raw score per agent: +1 for each member of the winning team, -1 for each member of the losing team,
0 on a draw. An invalid move costs its author 0.1 and is asked again; three invalid moves in a row
forfeit: that agent's team loses.

## infos["view"]
`team`, `role` (`spymaster` or `guesser`), `board`, `revealed` (word -> colour), `first`, `turn`,
`max_turns`, `playing` (team to play), `phase` (`clue` or `guess`), `clue` (`{"word", "number"}` or
None), `guesses_made`, `guesses_left`, `words_left` (per team), `clues` (all clues so far),
`winner`; spymasters also get `key` (word -> colour). The category lists in
`envs/codenames/categories.json` are the shared word knowledge the scripted bots use.

## Version History
- v0: initial release.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pettingzoo.utils import wrappers

from envs.codenames.rules import Codenames
from envs.core.aec import LanguageAECEnv
from envs.core.parallel import make_parallel_class


class raw_env(LanguageAECEnv):
    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["ansi", "human"],
        "name": "codenames_v0",
        "is_parallelizable": True,
    }
    game_cls = Codenames


def env(**kwargs):
    return wrappers.OrderEnforcingWrapper(raw_env(**kwargs))


parallel_env = make_parallel_class(raw_env)
