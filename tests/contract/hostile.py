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


# ---------------------------------------------------------------------- arbitrary Python objects
class _Boom(Exception):
    """Raised by the hostile objects below: an env must never let it out."""


def _boom(*_args, **_kwargs):
    raise _Boom("hostile object")


_HOSTILE_METHODS = {
    name: _boom
    for name in (
        "__str__", "__repr__", "__format__", "__bytes__", "__len__", "__iter__", "__getitem__",
        "__eq__", "__hash__", "__bool__", "__index__", "__int__", "__float__", "__contains__",
        "__getattr__", "__buffer__", "__lt__", "__add__", "__mul__", "__mod__", "__abs__",
        "__round__", "__trunc__", "__ne__", "strip", "lower", "encode", "decode", "split",
        "get", "keys", "items", "bit_length", "is_integer",
    )
}  # fmt: skip
HostileStr = type("HostileStr", (str,), dict(_HOSTILE_METHODS))
HostileBytes = type("HostileBytes", (bytes,), dict(_HOSTILE_METHODS))
HostileInt = type("HostileInt", (int,), dict(_HOSTILE_METHODS))
HostileFloat = type("HostileFloat", (float,), dict(_HOSTILE_METHODS))
HostileObject = type("HostileObject", (), dict(_HOSTILE_METHODS))
HostileDict = type("HostileDict", (dict,), dict(_HOSTILE_METHODS))


def _self_list() -> list:
    x: list = []
    x.append(x)
    return x


def _self_dict() -> dict:
    x: dict = {}
    x["move"] = x
    return x


def hostile_objects(legal: list[str] | None = None):
    """A hypothesis strategy over arbitrary Python objects an agent might hand to `step()`:
    huge ints, nan/inf, bytes, unicode (lone surrogates included), recursive containers, and
    subclasses of str/bytes/int/float whose methods raise. With `legal`, some of them carry a
    legal move (so episodes get past their first state)."""
    from decimal import Decimal
    from fractions import Fraction

    from hypothesis import strategies as st

    huge_int = st.integers(4_000, 20_000).map(lambda e: 10**e)
    huge_int |= st.just(5000).map(lambda e: -(10**e))
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        huge_int,
        st.floats(allow_nan=True, allow_infinity=True),
        st.complex_numbers(allow_nan=True, allow_infinity=True),
        st.text(),
        st.text(st.characters(codec=None, categories=None), max_size=50),  # surrogates too
        st.binary(),
        st.binary().map(bytearray),
        st.decimals(allow_nan=True),
        st.fractions(),
        st.just("x" * 1_000_000),
        st.sampled_from(
            [..., NotImplemented, object(), int, str, len, Decimal("sNaN"), Fraction(1, 3)]
        ),
        st.sampled_from([np.int64(2), np.float32("nan"), np.str_("[rock]"), np.zeros(3)]),
    )
    hostile = st.one_of(
        st.text(max_size=20).map(HostileStr),
        st.binary(max_size=20).map(HostileBytes),
        st.integers().map(HostileInt),
        huge_int.map(HostileInt),
        st.floats(allow_nan=True).map(HostileFloat),
        st.builds(HostileObject),
        st.builds(HostileDict),
        st.builds(_self_list),
        st.builds(_self_dict),
    )
    containers = st.recursive(
        scalars | hostile,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.tuples(inner, inner)
            | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=6,
    )
    if not legal:
        return containers
    move = st.sampled_from(legal)
    return st.one_of(
        containers,
        move,
        move.map(HostileStr),
        move.map(str.encode),
        st.tuples(st.text(max_size=30), move).map(lambda t: f"{t[0]} {t[1]}"),
    )
