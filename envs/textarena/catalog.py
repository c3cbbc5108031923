"""Which TextArena games are registered, and why the others are left out.

The tables are static so that `import envs` does not import textarena (which imports nltk, rich,
websockets...). They were built with textarena 0.7.4 on Python 3.11 with the network blocked, by
making every registered id without wrappers and resetting it with 1 to 6 players
(`probe()` below re-runs that check for one id; `tests/unit/test_textarena_adapter.py` runs it on
a sample). Player counts are those that reset and that TextArena's own comments document
(`# Name [N Player]`); counts above 6 were not tried.
"""

from __future__ import annotations

import importlib.util

from envs.registry import EnvSpec, refuse, register

#: textarena version the tables were built with (pinned in pyproject.toml).
TEXTARENA_VERSION = "0.7.4"

#: (TextArena id, player counts it plays with here); the first count is the default.
GAMES: tuple[tuple[str, tuple[int, ...]], ...] = (
    ('2048-v0', (1,)),
    ('2048-v0-10x10', (1,)),
    ('2048-v0-3x3', (1,)),
    ('2048-v0-5x5', (1,)),
    ('2048-v0-6x6', (1,)),
    ('2048-v0-8x8', (1,)),
    ('2048-v0-easy', (1,)),
    ('2048-v0-extreme', (1,)),
    ('2048-v0-hard', (1,)),
    ('2048-v0-mega-easy', (1,)),
    ('2048-v0-super-easy', (1,)),
    ('2048-v0-ultra-easy', (1,)),
    ('2048-v0-very-easy', (1,)),
    ('2048-v0-very-hard', (1,)),
    ('Alquerque-v0', (2,)),
    ('Bandit-v0', (1,)),
    ('Bandit-v0-hard', (1,)),
    ('Battleship-v0', (2,)),
    ('Battleship-v0-extreme', (2,)),
    ('Battleship-v0-large', (2,)),
    ('Battleship-v0-standard', (2,)),
    ('Blackjack-v0', (1,)),
    ('Blackjack-v0-long', (1,)),
    ('Breakthrough-v0', (2,)),
    ('Breakthrough-v0-blind', (2,)),
    ('Breakthrough-v0-large', (2,)),
    ('Breakthrough-v0-long', (2,)),
    ('Breakthrough-v0-small', (2,)),
    ('Breakthrough-v0-tiny', (2,)),
    ('Briscola-v0', (2,)),
    ('Chopsticks-v0', (2,)),
    ('Chopsticks-v0-long', (2,)),
    ('Chopsticks-v0-medium', (2,)),
    ('ColonelBlotto-v0', (2,)),
    ('ColonelBlotto-v0-extreme', (2,)),
    ('ColonelBlotto-v0-large', (2,)),
    ('ColonelBlotto-v0-small', (2,)),
    ('ConnectFour-v0', (2,)),
    ('ConnectFour-v0-blind', (2,)),
    ('ConnectFour-v0-large', (2,)),
    ('Countdown-v0', (1,)),
    ('Crosswords-v0', (1,)),
    ('Crosswords-v0-hardcore', (1,)),
    ('Crusade-v0', (2,)),
    ('Cryptarithm-v0', (1,)),
    ('FifteenPuzzle-v0', (1,)),
    ('FrozenLake-v0', (1,)),
    ('FrozenLake-v0-hardcore', (1,)),
    ('FrozenLake-v0-random', (1,)),
    ('GameOfPureStrategy-v0', (2,)),
    ('GermanWhist-v0', (2,)),
    ('Golf-v0', (2,)),
    ('Golf-v0-medium', (2,)),
    ('GuessTheNumber-v0', (1,)),
    ('GuessTheNumber-v0-hardcore', (1,)),
    ('HighSociety-v0', (2,)),
    ('IndianPoker-v0', (2,)),
    ('IndianPoker-v0-extreme', (2,)),
    ('IndianPoker-v0-long', (2,)),
    ('IndianPoker-v0-medium', (2,)),
    ('IndianPoker-v0-short', (2,)),
    ('IteratedMatchingPennies-v0', (2,)),
    ('IteratedPrisonersDilemma-v0', (2,)),
    ('IteratedRockPaperScissors-v0', (2,)),
    ('IteratedTwoThirdsAverage-v0', (2,)),
    ('IteratedUltimatumGame-v0', (2,)),
    ('IteratedUltimatumGame-v0-alternate', (2,)),
    ('KuhnPoker-v0', (2,)),
    ('KuhnPoker-v0-extreme', (2,)),
    ('KuhnPoker-v0-long', (2,)),
    ('KuhnPoker-v0-medium', (2,)),
    ('KuhnPoker-v0-short', (2,)),
    ('LiarsDice-v0', (2, 3, 4, 5, 6)),
    ('LiarsDice-v0-large', (2, 3, 4, 5, 6)),
    ('LiarsDice-v0-small', (2, 3, 4, 5, 6)),
    ('LightsOut-v0', (1,)),
    ('LinesOfAction-v0', (2,)),
    ('LogicPuzzle-v0', (1,)),
    ('LogicPuzzle-v0-hard', (1,)),
    ('MarketEntryGame-v0', (2, 3, 4, 5, 6)),
    ('Mastermind-v0', (1,)),
    ('Mastermind-v0-extreme', (1,)),
    ('Mastermind-v0-hard', (1,)),
    ('MemoryGame-v0', (2,)),
    ('MemoryGame-v0-hard', (2,)),
    ('MemoryGame-v0-medium', (2,)),
    ('Minesweeper-v0', (1,)),
    ('Minesweeper-v0-hard', (1,)),
    ('Minesweeper-v0-medium', (1,)),
    ('Minesweeper-v0-small', (1,)),
    ('NewRecruit-v0', (2,)),
    ('Nim-v0', (2,)),
    ('Nim-v0-large', (2,)),
    ('Nim-v0-medium', (2,)),
    ('Othello-v0', (2,)),
    ('Othello-v0-big', (2,)),
    ('Othello-v0-hard', (2,)),
    ('Othello-v0-huge', (2,)),
    ('Othello-v0-small', (2,)),
    ('Othello-v0-tiny', (2,)),
    ('PegJump-v0', (1,)),
    ('PigDice-v0', (2,)),
    ('PigDice-v0-100', (2,)),
    ('PigDice-v0-150', (2,)),
    ('PigDice-v0-200', (2,)),
    ('PigDice-v0-250', (2,)),
    ('PigDice-v0-300', (2,)),
    ('PigDice-v0-350', (2,)),
    ('PigDice-v0-400', (2,)),
    ('PigDice-v0-450', (2,)),
    ('PigDice-v0-50', (2,)),
    ('PigDice-v0-500', (2,)),
    ('PigDice-v0-long', (2,)),
    ('PigDice-v0-short', (2,)),
    ('Poker-v0', (2, 3, 4, 5, 6)),
    ('Poker-v0-extreme', (2, 3, 4, 5, 6)),
    ('Poker-v0-long', (2, 3, 4, 5, 6)),
    ('Poker-v0-small', (2, 3, 4, 5, 6)),
    ('PublicGoodsGame-v0', (2, 3, 4, 5, 6)),
    ('QuantumTicTacToe-v0', (2,)),
    ('RushHour-v0', (1,)),
    ('SantoriniBaseFixed-v0', (2, 3)),
    ('SecretMafia-v0', (6,)),
    ('Secretary-v0', (1,)),
    ('Secretary-v0-long', (1,)),
    ('Set-v0', (1,)),
    ('SettlersOfCatan-v0', (4,)),
    ('SimpleBlindAuction-v0', (2,)),
    ('SimpleBlindAuction-v0-quick', (2,)),
    ('SimpleBlindAuction-v0-rich', (2,)),
    ('SimpleNegotiation-v0', (2,)),
    ('SimpleNegotiation-v0-long', (2,)),
    ('SimpleNegotiation-v0-short', (2,)),
    ('SimpleTak-v0', (2,)),
    ('SimpleTak-v0-extreme', (2,)),
    ('SimpleTak-v0-large', (2,)),
    ('SimpleTak-v0-medium', (2,)),
    ('Slitherlink-v0', (1,)),
    ('Snake-v0', (2, 3, 4, 5, 6)),
    ('Snake-v0-large', (2, 3, 4, 5, 6)),
    ('Snake-v0-standard', (2, 3, 4, 5, 6)),
    ('Sokoban-v0', (1,)),
    ('SpiteAndMalice-v0', (2,)),
    ('Stratego-v0', (2,)),
    ('Sudoku-v0', (1,)),
    ('Sudoku-v0-easy', (1,)),
    ('Sudoku-v0-hard', (1,)),
    ('Sudoku-v0-medium', (1,)),
    ('Sudoku-v0-very-easy', (1,)),
    ('Surround-v0', (2, 3, 4, 5, 6)),
    ('Surround-v0-large', (2, 3, 4, 5, 6)),
    ('Surround-v0-standard', (2, 3, 4, 5, 6)),
    ('Taboo-v0', (4, 6)),
    ('Taboo-v0-animals', (4, 6)),
    ('Taboo-v0-cars', (4, 6)),
    ('Taboo-v0-food', (4, 6)),
    ('Taboo-v0-full', (4, 6)),
    ('Taboo-v0-literature', (4, 6)),
    ('Taboo-v0-long', (4, 6)),
    ('Taboo-v0-people', (4, 6)),
    ('Taboo-v0-tv', (4, 6)),
    ('Tak-v0', (2,)),
    ('Tak-v0-hard', (2,)),
    ('Tak-v0-medium', (2,)),
    ('ThreeCardMonte-v0', (1,)),
    ('ThreePlayerGOPS-v0', (3,)),
    ('ThreePlayerIPD-v0', (3,)),
    ('ThreePlayerTicTacToe-v0', (3,)),
    ('TicTacToe-v0', (2,)),
    ('TowerOfHanoi-v0', (1,)),
    ('TowerOfHanoi-v0-extreme', (1,)),
    ('TowerOfHanoi-v0-hard', (1,)),
    ('TowerOfHanoi-v0-hardcore', (1,)),
    ('TowerOfHanoi-v0-medium', (1,)),
    ('TruthAndDeception-v0', (2,)),
    ('TruthAndDeception-v0-extreme', (2,)),
    ('TruthAndDeception-v0-long', (2,)),
    ('TwoDollar-v0', (2,)),
    ('UltimateTicTacToe-v0', (2,)),
    ('WildTicTacToe-v0', (2,)),
)

#: Games that use TextArena's team state: rewards come per team (roles may be secret).
TEAM_GAMES = ("Taboo", "SecretMafia")

#: TextArena ids left out, with the reason `envs.make` gives for each.
NEEDS_NLTK = (
    "needs nltk's 'words' corpus, which TextArena downloads when the game module is imported "
    "(no download here: refused rather than reaching for the network)"
)
NEEDS_API_KEY = "needs an OpenRouter API key: an LLM plays judge or game master over the network"
BROKEN_ON_311 = (
    "broken on Python 3.11: the module uses Python 3.12 f-string syntax (PEP 701) and raises "
    "SyntaxError on import"
)
CONCLAVE = (
    "crashes on its first step with every player count (3-6 tried): TypeError, "
    "State.add_observation() missing observation_type"
)
MISSING_DATA = "data files are missing from the textarena 0.7.4 wheel (FileNotFoundError)"

LEFT_OUT: dict[str, str] = {
    'Sokoban-v0-medium': (
        "reset does not finish in 20 s for most seeds (its room generator retries at random)"
    ),
    'BabyAiText-v0': "imports the old 'gym' package, which is not installed",
    'CharacterConclave-v0': CONCLAVE,
    'CharacterConclave-v0-extreme': CONCLAVE,
    'CharacterConclave-v0-long': CONCLAVE,
    'Checkers-v0': BROKEN_ON_311,
    'Checkers-v0-long': BROKEN_ON_311,
    'Chess-v0': BROKEN_ON_311,
    'Chess-v0-blind': BROKEN_ON_311,
    'Chess-v0-long': BROKEN_ON_311,
    'Codenames-v0': NEEDS_NLTK,
    'Codenames-v0-hardcore': NEEDS_NLTK,
    'Debate-v0': NEEDS_API_KEY,
    'Debate-v0-long': NEEDS_API_KEY,
    'Debate-v0-medium': NEEDS_API_KEY,
    'DontSayIt-v0': NEEDS_NLTK,
    'DontSayIt-v0-hardcore': NEEDS_NLTK,
    'DontSayIt-v0-unlimited': NEEDS_NLTK,
    'GuessWho-v0': NEEDS_API_KEY,
    'Hangman-v0': NEEDS_NLTK,
    'Hangman-v0-hardcore': NEEDS_NLTK,
    'IteratedStagHunt-v0': BROKEN_ON_311,
    'IteratedStagHunt-v0-randomized': BROKEN_ON_311,
    'Klondike-v0': (
        "SyntaxError in TextArena's module (env.py line 119, a misplaced elif)"
    ),
    'LetterAuction-v0': NEEDS_NLTK,
    'LetterAuction-v0-hard': NEEDS_NLTK,
    'LetterAuction-v0-medium': NEEDS_NLTK,
    'ReverseTicTacToe-v0': BROKEN_ON_311,
    'ScenarioPlanning-v0': NEEDS_API_KEY,
    'ScorableGames-v0': MISSING_DATA,
    'ScorableGames-v0-7players': MISSING_DATA,
    'ScorableGames-v0-conservative': MISSING_DATA,
    'ScorableGames-v0-game1': MISSING_DATA,
    'ScorableGames-v0-game2': MISSING_DATA,
    'ScorableGames-v0-game3': MISSING_DATA,
    'ScorableGames-v0-medicalethics': MISSING_DATA,
    'ScorableGames-v0-vendorretailer': MISSING_DATA,
    'SpellingBee-v0': NEEDS_NLTK,
    'SpellingBee-v0-large': NEEDS_NLTK,
    'SpellingBee-v0-small': NEEDS_NLTK,
    'TwentyQuestions-v0': NEEDS_API_KEY,
    'TwentyQuestions-v0-hardcore': NEEDS_API_KEY,
    'UltimateTexasHoldem-v0': BROKEN_ON_311,
    'UsedCar-v0-balanced': 'registered entry point points at a module that does not exist',
    'UsedCarNegotiation-v0': MISSING_DATA,
    'UsedCarNegotiation-v0-strong-buyer': MISSING_DATA,
    'UsedCarNegotiation-v0-strong-seller': MISSING_DATA,
    'WordChains-v0': NEEDS_NLTK,
    'WordLadder-v0': NEEDS_NLTK,
    'WordLadder-v0-hard': NEEDS_NLTK,
    'WordLadder-v0-medium': NEEDS_NLTK,
    'WordSearch-v0': NEEDS_NLTK,
    'WordSearch-v0-hardcore': NEEDS_NLTK,
    'Wordle-v0': NEEDS_NLTK,
    'Wordle-v0-hardcore': NEEDS_NLTK,
    'Wordle-v0-long': NEEDS_NLTK,
    'Wordle-v0-long-hardcore': NEEDS_NLTK,
    'Taboo-v0-city/country': "its id holds a '/', which cannot name a run directory",
}


def payoffs_for(players: tuple[int, ...]) -> tuple[str, ...]:
    """One player: the score is the player's own (cooperative); more: zero-sum win/loss."""
    return ("cooperative",) if max(players) == 1 else ("competitive",)


def players_text(players: tuple[int, ...]) -> str:
    if len(players) == 1:
        return str(players[0])
    if players == tuple(range(players[0], players[-1] + 1)):
        return f"{players[0]}-{players[-1]}"
    return "/".join(map(str, players))


def register_textarena_envs() -> int:
    """Register every game of `GAMES` as `textarena/<id>` when textarena is installed."""
    if importlib.util.find_spec("textarena") is None:
        return 0
    for ta_id, why in LEFT_OUT.items():
        refuse(f"textarena/{ta_id}", f"left out of the registry: {why}")
    for ta_id, players in GAMES:
        team = ta_id.split("-", 1)[0] in TEAM_GAMES
        register(
            EnvSpec(
                id=f"textarena/{ta_id}",
                entry_point="envs.textarena.env",
                payoffs=payoffs_for(players),
                players=players_text(players),
                description=f"TextArena's {ta_id}" + (" (teams, rewards per team)" if team else ""),
                teams=False,
                kwargs={"ta_id": ta_id},
            )
        )
    return len(GAMES)


def probe(ta_id: str, num_players: int) -> None:
    """Make `ta_id` without wrappers, reset it and send one move: raises if it does not work."""
    from envs.textarena.game import isolated_random, make_raw

    with isolated_random({}):
        env = make_raw(ta_id)
        env.reset(num_players=num_players, seed=0)
        env.get_observation()
        env.step(action="[definitely not a move]")
