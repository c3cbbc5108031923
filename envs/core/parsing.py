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


# An int is rendered only if its decimal form fits the parsed prefix: 3 bits per digit is a lower
# bound (log2(10) = 3.32), so this stays under MAX_PARSED_CHARS digits and under Python's
# int-to-str digit limit (4,300 by default), and costs nothing for 10**5000.
_MAX_INT_BITS = MAX_PARSED_CHARS * 3


def coerce_text(action: object) -> str | None:
    """Return the action as text (bounded length), or None when it cannot be read as text.

    Never raises, whatever `action` is: only the built-in types' own methods are called (a
    subclass's `__str__`, `__getitem__` or `__repr__` never runs), huge ints are refused without
    being converted, and anything else is None (an invalid move for the game).
    """
    try:
        return _coerce(action)
    except Exception:  # a hostile object got past the type checks: it names no move
        return None


def _coerce(action: object) -> str | None:
    if isinstance(action, str):
        text = str.__str__(action)  # a plain str even for a subclass
    elif isinstance(action, bytes | bytearray):
        head = bytes(memoryview(action)[: MAX_PARSED_CHARS * 4])
        text = head.decode("utf-8", errors="replace")
    elif isinstance(action, bool) or action is None:
        return None
    elif isinstance(action, int):
        if int.bit_length(action) > _MAX_INT_BITS:
            return None
        text = int.__repr__(action)
    elif isinstance(action, float):
        text = float.__repr__(action)
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
