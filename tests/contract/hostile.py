"""Hostile actions: everything an agent (or a broken caller) might hand to `env.step()`."""

from __future__ import annotations

import numpy as np

_CHATTER = ["", " ", "\n", "[", "]", "[]", "[[]]", "[ ]", "hello", "I think so", "[move]", "¿qué?"]


def hostile_actions(legal: list[str] | None, rng: np.random.Generator) -> object:
    """One hostile action; roughly a third of them hide a legal move somewhere."""
    kind = int(rng.integers(12))
    some_legal = legal[int(rng.integers(len(legal)))] if legal else "[x]"
    if kind == 0:
        return None
    if kind == 1:
        return bytes(rng.integers(0, 256, size=int(rng.integers(0, 64))).astype(np.uint8))
    if kind == 2:
        return [int(rng.integers(-5, 5)), 3.5, float("nan"), True][int(rng.integers(4))]
    if kind == 3:
        return {"move": some_legal}
    if kind == 4:
        return "x" * 1_000_000 if rng.random() < 0.5 else some_legal + "y" * 1_000_000
    if kind == 5:
        return "".join(chr(int(c)) for c in rng.integers(0x20, 0x2FFF, size=40))
    if kind == 6:
        return (
            f"Let me think... {_CHATTER[int(rng.integers(len(_CHATTER)))]} so {some_legal}. Done."
        )
    if kind == 7 and legal and len(legal) > 1:
        return f"{legal[0]} or maybe {legal[-1]}"
    if kind == 8:
        return some_legal.upper()
    if kind == 9:
        return some_legal.encode()
    if kind == 10:
        return _CHATTER[int(rng.integers(len(_CHATTER)))]
    return some_legal
