"""Top-n of each row of a block of scores in one pass: ``recommend --all-users`` and large
``similar`` batches.

numpy's way (a partition of a copy of the block for each row's n-th value, then the entries
at or above it found and sorted) took 0.5 s a block of 4,096 users x 59,047 items; one pass
keeping each row's best n in order takes 0.15 s, on one thread (a serial kernel: evaluate may
still fork its workers after it).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from recfactor.kernels import cache_enabled, load

CACHE = cache_enabled()


@nb.njit(cache=CACHE)
def top_rows(scores, n, idx, val):
    """``idx[r]``, ``val[r]``: the columns and values of row ``r``'s ``n`` largest finite
    entries, best first, ties by lower column; -1 and NaN pad a row with fewer."""
    rows, m = scores.shape
    for r in range(rows):
        count = 0
        for j in range(m):
            v = scores[r, j]
            if not np.isfinite(v):
                continue
            if count == n and v <= val[r, n - 1]:
                continue  # an equal value is already in, at a lower column
            # Into place after every entry at least as large (those have lower columns).
            p = count if count < n else n - 1
            while p > 0 and val[r, p - 1] < v:  # a full list drops its last
                val[r, p] = val[r, p - 1]
                idx[r, p] = idx[r, p - 1]
                p -= 1
            val[r, p] = v
            idx[r, p] = j
            if count < n:
                count += 1
        for p in range(count, n):
            idx[r, p] = -1
            val[r, p] = np.nan


def warm_up(dtype: np.dtype = np.float64) -> None:
    load(top_rows, np.zeros((1, 1), dtype=dtype), 1, np.zeros((1, 1), dtype=np.int64),
         np.zeros((1, 1)))  # fmt: skip
