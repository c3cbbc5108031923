"""Generated quiz questions with verifiable short answers, and the answer normalisation.

Pure functions of a numpy `Generator`: the same generator state gives the same questions. Answers
are integers or single letters, stored already normalised (`normalise_answer`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np

#: Words used by the word questions: common, lowercase, 3-9 letters.
WORDS = (
    "apple", "banana", "orange", "garden", "window", "pencil", "rabbit", "tiger", "yellow",
    "river", "mountain", "kitchen", "bottle", "candle", "dragon", "forest", "guitar", "island",
    "jacket", "ladder", "monkey", "number", "pocket", "rocket", "silver", "table", "tomato",
    "winter", "zebra", "bread", "cloud", "horse", "lemon", "music", "ocean", "piano", "queen",
    "stone", "train", "water", "cat", "dog", "sun", "book", "chair", "house", "mouse", "planet",
    "doctor", "spoon",
)  # fmt: skip

KINDS = ("add", "sub", "mul", "length", "first", "last", "larger", "smaller")

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_SPACES = re.compile(r"\s+")
_TRIM = "\"'`.,!?;:()"


@dataclass(frozen=True)
class Question:
    kind: str
    text: str
    #: The right answer, normalised.
    answer: str


def normalise_answer(text: str) -> str:
    """Canonical form of an answer: NFKC, lower case, single spaces, no surrounding quotes or final
    punctuation, numbers in plain form ("42.0" -> "42", "+7" -> "7", "3.50" -> "3.5")."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _SPACES.sub(" ", text).strip().strip(_TRIM).strip()
    if _NUMBER.fullmatch(text):
        try:
            value = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
            return text
        if value == value.to_integral_value():
            return str(int(value))
        return format(value.normalize(), "f")
    return text


def same_answer(given: str, expected: str) -> bool:
    return normalise_answer(given) == normalise_answer(expected)


def _two_ints(rng: np.random.Generator, low: int, high: int) -> tuple[int, int]:
    a, b = (int(x) for x in rng.integers(low, high + 1, size=2))
    return a, b


def _word(rng: np.random.Generator) -> str:
    return WORDS[int(rng.integers(len(WORDS)))]


def _add(rng: np.random.Generator) -> Question:
    a, b = _two_ints(rng, 2, 60)
    return Question("add", f"What is {a} + {b}?", str(a + b))


def _sub(rng: np.random.Generator) -> Question:
    a = int(rng.integers(10, 100))
    b = int(rng.integers(1, a))
    return Question("sub", f"What is {a} - {b}?", str(a - b))


def _mul(rng: np.random.Generator) -> Question:
    a, b = _two_ints(rng, 2, 12)
    return Question("mul", f"What is {a} * {b}?", str(a * b))


def _length(rng: np.random.Generator) -> Question:
    w = _word(rng)
    return Question("length", f"How many letters are in '{w}'?", str(len(w)))


def _first(rng: np.random.Generator) -> Question:
    w = _word(rng)
    return Question("first", f"What is the first letter of '{w}'?", w[0])


def _last(rng: np.random.Generator) -> Question:
    w = _word(rng)
    return Question("last", f"What is the last letter of '{w}'?", w[-1])


def _distinct_pair(rng: np.random.Generator) -> tuple[int, int]:
    a = int(rng.integers(1, 100))
    b = int(rng.integers(1, 99))
    return a, b + (b >= a)  # b != a, uniform over the rest


def _larger(rng: np.random.Generator) -> Question:
    a, b = _distinct_pair(rng)
    return Question("larger", f"Which is larger, {a} or {b}?", str(max(a, b)))


def _smaller(rng: np.random.Generator) -> Question:
    a, b = _distinct_pair(rng)
    return Question("smaller", f"Which is smaller, {a} or {b}?", str(min(a, b)))


GENERATORS: dict[str, Callable[[np.random.Generator], Question]] = {
    "add": _add,
    "sub": _sub,
    "mul": _mul,
    "length": _length,
    "first": _first,
    "last": _last,
    "larger": _larger,
    "smaller": _smaller,
}


def check_kinds(kinds: Sequence[str] | None) -> tuple[str, ...]:
    """The question kinds to draw from (all when None); raises ValueError on unknown or no kinds."""
    if kinds is None:
        return KINDS
    if isinstance(kinds, str):
        kinds = (kinds,)
    chosen = tuple(dict.fromkeys(kinds))
    unknown = [k for k in chosen if k not in GENERATORS]
    if unknown or not chosen:
        raise ValueError(f"kinds must be a non-empty subset of {', '.join(KINDS)}, got {kinds!r}")
    return chosen


def make_question(rng: np.random.Generator, kinds: Sequence[str] = KINDS) -> Question:
    """One question of a kind drawn uniformly from `kinds`."""
    kind = kinds[int(rng.integers(len(kinds)))]
    return GENERATORS[kind](rng)


def make_questions(
    rng: np.random.Generator, count: int, kinds: Sequence[str] = KINDS
) -> list[Question]:
    return [make_question(rng, kinds) for _ in range(count)]
