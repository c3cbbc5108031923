"""# Tic-Tac-Toe

| | |
|---|---|
| Import | `envs.make("tictactoe_v0")` / `envs.make_parallel("tictactoe_v0")` |
| Agents | `player_0` (X, moves first), `player_1` (O) |
| Teams | none (each player is its own team) |
| Payoff kinds | `competitive` |
| Actions | free text (`FreeText`); the move is an empty cell, `[A1]` to `[C3]` |
| Observation | `{"text": str}`: rules, the moves so far, the board and the empty cells |

Players take turns putting their mark (X, then O) in an empty cell of a 3x3 board; three marks in
a row, column or diagonal win. Cells are named by column `A`-`C` (left to right) then row `1`-`3`
(top to bottom): `A1` is the top-left cell, `B2` the centre, `C3` the bottom-right. The turn prompt
shows the board as text:

```
   A B C
1  X . O
2  . X .
3  . . .
```

`envs.tictactoe.theory` holds the exact minimax over these rules (the game value is a draw).

## Action grammar
Exactly one empty cell in brackets anywhere in the text ("The centre is free: [B2]"), column letter
then row number; case and spaces around the cell are ignored (`[b2]`, `[ B2 ]`). Occupied cells in
brackets are ignored; naming two different empty cells, or none, is invalid.

## Arguments
- `payoff="competitive"`, `max_cycles=40`, `invalid_penalty=0.1`, `max_invalid=3`, `render_mode`: as
  for every game (see `envs.core`).

## Rewards
Win +1, loss -1, draw 0 (zero-sum). An invalid move costs 0.1 and the player is asked again; three
invalid moves in a row forfeit the game, which counts as a loss (-1, the opponent +1).

## infos["view"]
`mark` (`"X"` or `"O"`), `board` (cell name -> `"X"`, `"O"` or `"."`), `moves` (cells in the order
played, X first), `winner` (`"X"`, `"O"` or None).

## Version History
- v0: initial release.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pettingzoo.utils import wrappers

from envs.core.aec import LanguageAECEnv
from envs.core.parallel import make_parallel_class
from envs.tictactoe.rules import TicTacToe


class raw_env(LanguageAECEnv):
    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["ansi", "human"],
        "name": "tictactoe_v0",
        "is_parallelizable": True,
    }
    game_cls = TicTacToe


def env(**kwargs):
    return wrappers.OrderEnforcingWrapper(raw_env(**kwargs))


parallel_env = make_parallel_class(raw_env)
