"""LoRA League's language games as PettingZoo environments.

>>> import envs
>>> env = envs.make("kuhn_poker_v0")               # AEC
>>> par = envs.make_parallel("rps_v0", rounds=3)   # Parallel
>>> envs.spec("negotiation_v0").payoffs
('mixed', 'competitive', 'cooperative')

Games of other collections are registered under a namespace when their package is installed:
`envs.make("openspiel/leduc_poker")`, `envs.make("textarena/TicTacToe-v0")`
(see `envs.openspiel`, `envs.textarena`); `envs.refused()` lists the ids left out, with why.

Importing this package imports only the standard library, numpy, gymnasium and pettingzoo:
pyspiel and textarena are imported when one of their games is made.
"""

from envs.openspiel.catalog import register_openspiel_envs
from envs.registry import EnvSpec, list_envs, make, make_parallel, refused, register, spec
from envs.suite import register_builtin_envs
from envs.textarena.catalog import register_textarena_envs

register_builtin_envs()
register_openspiel_envs()
register_textarena_envs()

__all__ = ["EnvSpec", "list_envs", "make", "make_parallel", "refused", "register", "spec"]
