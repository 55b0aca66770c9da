"""Values made once from a model's array and kept beside it while the array is the same, and
the ranking of a list's candidates (shared by :mod:`recfactor.models.scoring` and
:mod:`recfactor.models.screening`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def kept(model: Any, source: str, name: str, make: Callable[[Any], Any]) -> Any:
    """``make(model.<source>)``, made once for each array ``source`` holds (None for None):
    a new array (a fit, a fold-in's copy) makes it anew; arrays are not changed in place."""
    array = getattr(model, source)
    memo = model.__dict__.get(f"_kept_{name}")
    if memo is not None and memo[0] is array:
        return memo[1]
    value = None if array is None else make(array)
    model.__dict__[f"_kept_{name}"] = (array, value)
    return value


def ranked(r: np.ndarray, c: np.ndarray, v: np.ndarray, rows: int,
           n: int) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """:func:`top_n` of the entries ``v`` at (``r``, ``c``) of a ``rows``-row matrix whose
    other entries are below them."""
    finite = np.isfinite(v)
    r, c, v = r[finite], c[finite], v[finite]
    order = np.lexsort((c, -v, r))
    r, c, v = r[order], c[order], v[order]
    place = np.arange(len(r)) - np.searchsorted(r, np.arange(rows))[r]
    kept = place < n
    idx = np.full((rows, n), -1, dtype=np.int64)
    vals = np.full((rows, n), np.nan)
    idx[r[kept], place[kept]] = c[kept]
    vals[r[kept], place[kept]] = v[kept]
    return idx, vals
