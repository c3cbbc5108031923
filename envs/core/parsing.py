"""Turning anything an agent sends into text, and finding bracketed moves inside it.

Every action is parsed, never trusted: `None`, bytes, numbers, dicts, megabyte strings and unicode
all
arrive here. `coerce_text` never raises; a game's parser then looks for its `[move]` grammar inside.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

# Agents think aloud; the move is a bracketed token somewhere in the text. We only look at a bounded
# prefix so that a 1 MB answer costs the same as a 4 kB one.
MAX_PARSED_CHARS = 4_096
_BRACKETED = re.compile(r"\[([^\[\]\n]{1,80})\]")
_SPACES = re.compile(r"\s+")


def coerce_text(action: object) -> str | None:
    """Return the action as text (bounded length), or None when it cannot be read as text."""
    if isinstance(action, str):
        text = action
    elif isinstance(action, bytes | bytearray):
        text = bytes(action[: MAX_PARSED_CHARS * 4]).decode("utf-8", errors="replace")
    elif isinstance(action, bool) or action is None:
        return None
    elif isinstance(action, int | float):
        text = str(action)
    else:
        return None
    return text[:MAX_PARSED_CHARS]


def normalise(token: str) -> str:
    """Canonical form of a move token: NFKC, lower case, single spaces."""
    token = unicodedata.normalize("NFKC", token)
    return _SPACES.sub(" ", token.strip().lower())


def find_bracketed(text: str) -> list[str]:
    """All bracketed tokens in `text`, normalised, in order of appearance."""
    return [normalise(m) for m in _BRACKETED.findall(text[:MAX_PARSED_CHARS])]


def match_legal(text: str, legal_moves: Sequence[str]) -> str | None:
    """The one legal move that `text` names, or None.

    `legal_moves` are canonical strings such as "[bet]". The answer is accepted when exactly one
    distinct
    legal move appears in brackets: "I'll [bet] now" -> "[bet]"; "[bet] or [check]" -> None (two
    moves).
    Tokens that are not legal moves (chatter in brackets) are ignored.
    """
    canonical = {normalise(m.strip("[]")): m for m in legal_moves}
    named = {canonical[t] for t in find_bracketed(text) if t in canonical}
    if len(named) == 1:
        return named.pop()
    return None
