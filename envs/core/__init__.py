"""Shared machinery of the language games: spaces, payoff layer, move parsing, base classes."""

from envs.core.game import Event, Game
from envs.core.parsing import coerce_text, find_bracketed
from envs.core.payoff import PAYOFF_KINDS, apply_payoff
from envs.core.spaces import FreeText

__all__ = [
    "PAYOFF_KINDS",
    "Event",
    "FreeText",
    "Game",
    "apply_payoff",
    "coerce_text",
    "find_bracketed",
]
