"""Regular expressions for free-form moves (`Game.move_format`), in the dialect both Python's `re`
and xgrammar (vLLM's structured outputs) read: literals, character classes, `{m,n}`, `(?:|)`.

A format is what a constrained decoder steers a model into: every string that fully matches it
is a move the game's parser reads. Keep them bounded (every repeat with an upper bound), so a
completion fits a known token budget (`agents.serving.base.room_for_choices`).
"""

from __future__ import annotations

import re

#: Characters of a talk message: letters, digits, space and plain punctuation (no brackets, so
#: the message cannot close the move early, and nothing a parser cleans away).
MESSAGE_CHARS = "A-Za-z0-9 ,.!?'"
#: Longest message a format allows: `[say ...]` stays within about 55 tokens even spelt one
#: character per token, and a short line is what the talk phases ask for.
MESSAGE_FORMAT_CHARS = 48


def say_format(max_chars: int = MESSAGE_FORMAT_CHARS) -> str:
    """`[say <message>]`: 1 to `max_chars` characters, the first not a space (a blank message is
    no message)."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    first = MESSAGE_CHARS.replace(" ", "")
    return rf"\[say [{first}][{MESSAGE_CHARS}]{{0,{max_chars - 1}}}\]"


def number_format(lo: int, hi: int) -> str:
    """A whole number from `lo` to `hi` in plain decimal (no sign, no leading zeros)."""
    if not 0 <= lo <= hi:
        raise ValueError(f"need 0 <= lo <= hi, got {lo}..{hi}")
    return "(?:" + "|".join(str(n) for n in range(hi, lo - 1, -1)) + ")"


def word_format(min_chars: int, max_chars: int) -> str:
    """A lower-case ASCII word of `min_chars` to `max_chars` letters."""
    if not 1 <= min_chars <= max_chars:
        raise ValueError(f"need 1 <= min_chars <= max_chars, got {min_chars}..{max_chars}")
    return f"[a-z]{{{min_chars},{max_chars}}}"


def either(*formats: str) -> str:
    """Any one of `formats`."""
    return "|".join(f"(?:{f})" for f in formats)


def matches(pattern: str, text: str) -> bool:
    """Whether `text` is a whole match of `pattern` (as the constrained decoder reads it)."""
    return re.fullmatch(pattern, text) is not None
