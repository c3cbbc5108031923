"""Which OpenSpiel games are registered, and why the others are not.

The table is static so that `import envs` does not import `pyspiel`; `discover()` rebuilds it
from the installed open_spiel and `tests/unit/test_openspiel_adapter.py` checks the two agree.
Regenerate with `python -m envs.openspiel.catalog` after upgrading open_spiel.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from envs.registry import EnvSpec, refuse, register

#: open_spiel version the table was built with (pinned in pyproject.toml).
OPENSPIEL_VERSION = "2.0.2"

SAMPLED = "sampled-stochastic chance: outcomes cannot be enumerated and seeded here"
NEEDS_PARAMS = "needs parameters to load (a wrapper or file-based game)"

# Games left out of the registry, with the reason (checked by the adapter tests).
LEFT_OUT_BY_NAME = {
    "chess": "move names collide once case is ignored ('Bc4' bishop vs 'bc4' pawn capture)",
    "crazyhouse": "move names collide once case is ignored (as chess)",
    "morpion_solitaire": "move names are lists of bracketed cells, not one token",
    "crossword": "LegalActions unimplemented: the game uses action structs only",
}

# Left out by their OpenSpiel game type (`_why_left_out`), as `discover()` found them.
LEFT_OUT_BY_TYPE = {
    'add_noise': SAMPLED,
    'bridge_uncontested_bidding': SAMPLED,
    'cached_tree': SAMPLED,
    'coop_to_1p': NEEDS_PARAMS,
    'efg_game': NEEDS_PARAMS,
    'mfg_crowd_modelling': 'mean-field game (no finite set of players)',
    'mfg_crowd_modelling_2d': 'mean-field game (no finite set of players)',
    'mfg_dynamic_routing': 'mean-field game (no finite set of players)',
    'mfg_garnet': 'mean-field game (no finite set of players)',
    'misere': SAMPLED,
    'negotiation': SAMPLED,
    'nfg_game': NEEDS_PARAMS,
    'normal_form_extensive_game': NEEDS_PARAMS,
    'repeated_game': NEEDS_PARAMS,
    'repeated_poker': NEEDS_PARAMS,
    'restricted_nash_response': SAMPLED,
    'start_at': SAMPLED,
    'stones_and_gems': SAMPLED,
    'tarok': SAMPLED,
    'turn_based_simultaneous_game': SAMPLED,
    'zerosum': SAMPLED,
}

#: (name, players, payoff kinds) of every registered OpenSpiel game, from `discover()`.
GAMES: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ('2048', 1, ('cooperative',)),
    ('amazons', 2, ('competitive',)),
    ('antichess', 2, ('competitive',)),
    ('backgammon', 2, ('competitive',)),
    ('banqi', 2, ('competitive',)),
    ('bargaining', 2, ('mixed', 'competitive', 'cooperative')),
    ('battleship', 2, ('competitive',)),
    ('blackjack', 1, ('cooperative',)),
    ('blotto', 2, ('competitive',)),
    ('breakthrough', 2, ('competitive',)),
    ('bridge', 4, ('competitive',)),
    ('capture_the_flag', 2, ('competitive',)),
    ('catch', 1, ('cooperative',)),
    ('checkers', 2, ('competitive',)),
    ('chinese_checkers', 2, ('competitive',)),
    ('cliff_walking', 1, ('cooperative',)),
    ('clobber', 2, ('competitive',)),
    ('coin_game', 2, ('mixed', 'competitive', 'cooperative')),
    ('colored_trails', 3, ('mixed', 'competitive', 'cooperative')),
    ('connect_four', 2, ('competitive',)),
    ('coop_box_pushing', 2, ('cooperative',)),
    ('coordinated_mp', 2, ('competitive',)),
    ('crazy_eights', 5, ('mixed', 'competitive', 'cooperative')),
    ('cribbage', 2, ('mixed', 'competitive', 'cooperative')),
    ('cursor_go', 2, ('competitive',)),
    ('dark_chess', 2, ('competitive',)),
    ('dark_hex', 2, ('competitive',)),
    ('dark_hex_ir', 2, ('competitive',)),
    ('deep_sea', 1, ('cooperative',)),
    ('dots_and_boxes', 2, ('competitive',)),
    ('dou_dizhu', 3, ('competitive',)),
    ('einstein_wurfelt_nicht', 2, ('competitive',)),
    ('euchre', 4, ('competitive',)),
    ('first_sealed_auction', 2, ('mixed', 'competitive', 'cooperative')),
    ('gin_rummy', 2, ('competitive',)),
    ('go', 2, ('competitive',)),
    ('go_fish', 2, ('competitive',)),
    ('gomoku', 2, ('competitive',)),
    ('goofspiel', 2, ('competitive',)),
    ('hanabi', 2, ('cooperative',)),
    ('havannah', 2, ('competitive',)),
    ('hearts', 4, ('mixed', 'competitive', 'cooperative')),
    ('hex', 2, ('competitive',)),
    ('hive', 2, ('competitive',)),
    ('kriegspiel', 2, ('competitive',)),
    ('kuhn_poker', 2, ('competitive',)),
    ('laser_tag', 2, ('mixed', 'competitive', 'cooperative')),
    ('latent_ttt', 2, ('competitive',)),
    ('leduc_poker', 2, ('competitive',)),
    ('lewis_signaling', 2, ('mixed', 'competitive', 'cooperative')),
    ('liars_dice', 2, ('competitive',)),
    ('liars_dice_ir', 2, ('competitive',)),
    ('lines_of_action', 2, ('competitive',)),
    ('maedn', 2, ('competitive',)),
    ('mancala', 2, ('competitive',)),
    ('markov_soccer', 2, ('competitive',)),
    ('matching_pennies_3p', 3, ('mixed', 'competitive', 'cooperative')),
    ('matrix_bos', 2, ('mixed', 'competitive', 'cooperative')),
    ('matrix_brps', 2, ('competitive',)),
    ('matrix_cd', 2, ('mixed', 'competitive', 'cooperative')),
    ('matrix_coordination', 2, ('cooperative',)),
    ('matrix_mp', 2, ('competitive',)),
    ('matrix_pd', 2, ('mixed', 'competitive', 'cooperative')),
    ('matrix_rps', 2, ('competitive',)),
    ('matrix_rpsw', 2, ('competitive',)),
    ('matrix_sh', 2, ('mixed', 'competitive', 'cooperative')),
    ('matrix_shapleys_game', 2, ('mixed', 'competitive', 'cooperative')),
    ('mnk', 2, ('competitive',)),
    ('nim', 2, ('competitive',)),
    ('nine_mens_morris', 2, ('competitive',)),
    ('oh_hell', 3, ('mixed', 'competitive', 'cooperative')),
    ('oshi_zumo', 2, ('competitive',)),
    ('othello', 2, ('competitive',)),
    ('oware', 2, ('competitive',)),
    ('pathfinding', 1, ('cooperative',)),
    ('pentago', 2, ('competitive',)),
    ('phantom_go', 2, ('competitive',)),
    ('phantom_ttt', 2, ('competitive',)),
    ('phantom_ttt_ir', 2, ('competitive',)),
    ('pig', 2, ('competitive',)),
    ('quoridor', 2, ('competitive',)),
    ('rbc', 2, ('competitive',)),
    ('repeated_leduc_poker', 2, ('competitive',)),
    ('sheriff', 2, ('mixed', 'competitive', 'cooperative')),
    ('shogi', 2, ('competitive',)),
    ('skat', 3, ('competitive',)),
    ('snake', 2, ('mixed', 'competitive', 'cooperative')),
    ('social_deduction', 6, ('mixed', 'competitive', 'cooperative')),
    ('solitaire', 1, ('cooperative',)),
    ('spades', 4, ('mixed', 'competitive', 'cooperative')),
    ('tic_tac_toe', 2, ('competitive',)),
    ('tiny_bridge_2p', 2, ('cooperative',)),
    ('tiny_bridge_4p', 4, ('competitive',)),
    ('tiny_hanabi', 2, ('cooperative',)),
    ('trade_comm', 2, ('mixed', 'competitive', 'cooperative')),
    ('twixt', 2, ('competitive',)),
    ('ultimate_tic_tac_toe', 2, ('competitive',)),
    ('universal_poker', 2, ('competitive',)),
    ('xiangqi', 2, ('competitive',)),
    ('y', 2, ('competitive',)),
    ('yacht', 2, ('competitive',)),
)


def _why_left_out(gt) -> str | None:
    import pyspiel

    kinds = pyspiel.GameType
    if gt.short_name in LEFT_OUT_BY_NAME:
        return LEFT_OUT_BY_NAME[gt.short_name]
    if gt.dynamics == kinds.Dynamics.MEAN_FIELD:
        return "mean-field game (no finite set of players)"
    if gt.chance_mode == kinds.ChanceMode.SAMPLED_STOCHASTIC:
        return SAMPLED
    if not (gt.provides_observation_string or gt.provides_information_state_string):
        return "no observation or information-state string to show as text"
    if not gt.default_loadable:
        return NEEDS_PARAMS
    return None


def _native_game_names() -> set[str]:
    """The games pyspiel registers on its own import, listed in a fresh interpreter.

    Python-implemented games (chat_game, tiny_bridge_4p, ...) join pyspiel's registry only once
    `open_spiel.python.games` is imported, which OpenSpiel's own algorithms do: a listing in this
    process would depend on what was imported before it.
    """
    code = "import pyspiel; print(' '.join(g.short_name for g in pyspiel.registered_games()))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def discover() -> tuple[tuple[tuple[str, int, tuple[str, ...]], ...], dict[str, str]]:
    """(registered games, {left-out game: reason}) from the installed pyspiel."""
    import pyspiel

    from envs.openspiel.game import load_game, payoffs_for

    native = _native_game_names()
    games, left_out = [], {}
    registered = [g for g in pyspiel.registered_games() if g.short_name in native]
    for gt in sorted(registered, key=lambda g: g.short_name):
        why = _why_left_out(gt)
        if why is not None:
            left_out[gt.short_name] = why
            continue
        game = load_game(gt.short_name)
        games.append((gt.short_name, game.num_players(), payoffs_for(game)))
    return tuple(games), left_out


def register_openspiel_envs() -> int:
    """Register every game of `GAMES` as `openspiel/<name>` when open_spiel is installed."""
    if importlib.util.find_spec("pyspiel") is None:
        return 0
    for name, why in {**LEFT_OUT_BY_TYPE, **LEFT_OUT_BY_NAME}.items():
        refuse(f"openspiel/{name}", f"left out of the registry: {why}")
    for name, players, payoffs in GAMES:
        register(
            EnvSpec(
                id=f"openspiel/{name}",
                entry_point="envs.openspiel.env",
                payoffs=payoffs,
                players=str(players),
                description=f"OpenSpiel's {name} (information-state text, named moves).",
                kwargs={"game": name},
            )
        )
    return len(GAMES)


if __name__ == "__main__":  # pragma: no cover - maintenance helper
    found, skipped = discover()
    for entry in found:
        print(f"    {entry!r},")
    for name, why in skipped.items():
        print(f"# left out {name}: {why}")
