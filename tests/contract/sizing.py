"""Which games the contract tests run over, and how hard each is pushed.

Every registered game is checked, home and foreign (`openspiel/...`, `textarena/...`): 10 home
games and a few hundred foreign ones. The home games get the full budget. The foreign ones share
the same adapter code per collection (`envs.openspiel.game`, `envs.textarena.game`), so what a
long hostile run would add there is the adapter's behaviour again, not the game's: they get a
smaller budget per game (fewer hostile actions, fewer api_test cycles, fewer seeds), which keeps
the whole contract suite within a few minutes on 2 cores while still running every test on every
registered game.
"""

from __future__ import annotations

import envs

HOME_IDS = envs.list_envs("")
FOREIGN_IDS = [i for i in envs.list_envs() if "/" in i]
ALL_IDS = HOME_IDS + FOREIGN_IDS


def is_foreign(env_id: str) -> bool:
    return "/" in env_id


#: The fast tier (`pytest -m "not slow"`) checks every home game and every tenth foreign game
#: (each collection's adapter is one piece of code); the README's full command checks them all.
FAST_FOREIGN_IDS = frozenset(FOREIGN_IDS[::10])


def in_fast_tier(env_id: str) -> bool:
    return not is_foreign(env_id) or env_id in FAST_FOREIGN_IDS


def hostile_actions_for(env_id: str) -> int:
    return 40 if is_foreign(env_id) else 1_000


def hostile_episodes_for(env_id: str) -> int:
    """Episodes of hostile objects per API (`test_hostile_objects.py`), up to 12 actions each."""
    return 4 if is_foreign(env_id) else 10


def api_cycles_for(env_id: str) -> int:
    return 12 if is_foreign(env_id) else 50


def seeds_for(env_id: str) -> int:
    """Seeds of the whole-episode determinism and payoff-invariant tests."""
    return 2 if is_foreign(env_id) else 4


# TextArena games in which no answer is invalid, so the forfeit and penalty tests do not apply
# (found by running them over every registered game): chat or free-text phases where any message
# is a move (negotiation, conversation rounds before a decision, clue giving, deception), and the
# simultaneous grid games Snake and Surround, which read an unreadable answer as a default move.
_FREE_TEXT_GAMES = (
    "IteratedPrisonersDilemma", "MarketEntryGame", "PublicGoodsGame", "SimpleBlindAuction",
    "SimpleNegotiation", "Snake", "Surround", "Taboo", "ThreePlayerIPD", "TruthAndDeception",
)  # fmt: skip
FREE_TEXT: frozenset[str] = frozenset(
    i
    for i in FOREIGN_IDS
    if i.startswith("textarena/") and i.removeprefix("textarena/").split("-")[0] in _FREE_TEXT_GAMES
)
