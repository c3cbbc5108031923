"""Python values as plain JSON: what every JSON file and log line of a run is written through."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["to_jsonable"]


def to_jsonable(obj: Any) -> Any:
    """`obj` as plain JSON values: NaN and infinities become null, numpy and tensors become lists.

    Python's json writes NaN as a bare `NaN`, which is not JSON: pandas, jq and browsers reject
    the file. Dataclasses become dicts, objects with `to_dict()` (league players, match records)
    use it, paths become strings, and mapping keys become strings.
    """
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, set | frozenset):
        return [to_jsonable(v) for v in sorted(obj, key=repr)]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if callable(getattr(obj, "to_dict", None)):
        return to_jsonable(obj.to_dict())
    if callable(getattr(obj, "tolist", None)):  # numpy arrays, torch tensors
        return to_jsonable(obj.tolist())
    raise TypeError(f"cannot write a {type(obj).__name__} as JSON: {obj!r:.80}")
