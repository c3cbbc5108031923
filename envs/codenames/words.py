"""The word data shipped with codenames_v0 (package data, read with importlib.resources).

- `words.txt`: the board words, common concrete nouns, one per line, lowercase.
- `categories.json`: category word -> board words it covers; every board word is in one or two
  categories, and no category is a board word or a prefix of one (nor the reverse), so every
  category is a legal clue on every board. This is the "world knowledge" the scripted bots share,
  as a language model knows that a tiger is an animal.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from importlib import resources
from types import MappingProxyType

_PACKAGE = "envs.codenames"


@functools.cache
def word_list() -> tuple[str, ...]:
    text = resources.files(_PACKAGE).joinpath("words.txt").read_text(encoding="utf-8")
    return tuple(w.strip() for w in text.splitlines() if w.strip())


@functools.cache
def categories() -> Mapping[str, tuple[str, ...]]:
    text = resources.files(_PACKAGE).joinpath("categories.json").read_text(encoding="utf-8")
    return MappingProxyType({c: tuple(ws) for c, ws in json.loads(text).items()})


@functools.cache
def categories_of() -> Mapping[str, tuple[str, ...]]:
    """Board word -> the categories it belongs to."""
    inverse: dict[str, list[str]] = {}
    for cat, members in categories().items():
        for w in members:
            inverse.setdefault(w, []).append(cat)
    return MappingProxyType({w: tuple(cs) for w, cs in inverse.items()})


def clashes(clue: str, board: Iterable[str]) -> bool:
    """True when `clue` is a board word, or one of them starts with the other ("apple"/"apples")."""
    return any(clue.startswith(w) or w.startswith(clue) for w in board)
