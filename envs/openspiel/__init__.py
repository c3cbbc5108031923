"""OpenSpiel's games as LoRA League environments: `envs.make("openspiel/leduc_poker")`.

`envs.openspiel.game` is the adapter (pyspiel called directly), `envs.openspiel.catalog` says which
games are registered, and `envs.openspiel.exploitability` computes OpenSpiel's exact
exploitability of a policy given as move probabilities per information state.
"""
