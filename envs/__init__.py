"""LoRA League's language games as PettingZoo environments.

>>> import envs
>>> env = envs.make("kuhn_poker_v0")               # AEC
>>> par = envs.make_parallel("rps_v0", rounds=3)   # Parallel
>>> envs.spec("negotiation_v0").payoffs
('mixed', 'competitive', 'cooperative')

This package imports only the standard library, numpy, gymnasium and pettingzoo.
"""

from envs.registry import EnvSpec, list_envs, make, make_parallel, register, spec
from envs.suite import register_builtin_envs

register_builtin_envs()

__all__ = ["EnvSpec", "list_envs", "make", "make_parallel", "register", "spec"]
