"""TextArena's games as LoRA League environments: `envs.make("textarena/TicTacToe-v0")`.

See `envs.textarena.game` for how each TextArena trap is handled and `envs.textarena.catalog` for
which games are registered and why the others are left out.
"""
