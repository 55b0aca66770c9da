"""Top-n of each row of a block of scores in one pass: ``recommend --all-users`` and large
``similar`` batches.

numpy's way (a partition of a copy of the block for each row's n-th value, then the entries
at or above it found and sorted) took 0.5 s a block of 4,096 users x 59,047 items; one pass
keeping each row's best n in order (:func:`top_rows`) takes 0.15 s on one thread.
:func:`screened_rows` starts from single-precision products (half the time of the double
ones) and scores again exactly the few items near each row's n-th (models/screening.py's
bound), its rows on all cores: every user of 25M ratings listed in 21 s instead of 31. It
starts numba's threads, after which evaluate starts its workers by spawning instead of
forking (running.workers.start_method).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from recfactor.kernels import cache_enabled, load

CACHE = cache_enabled()


@nb.njit(cache=CACHE)
def _insert(val, idx, count, n, v, j):
    """``v`` at column ``j`` into a row's best-first list of ``count`` (at most ``n``) entries;
    returns the new count. Columns come in ascending order, so an equal value already in the
    list has the lower column and stays ahead."""
    if count == n and v <= val[n - 1]:
        return count
    p = count if count < n else n - 1
    while p > 0 and val[p - 1] < v:  # a full list drops its last
        val[p] = val[p - 1]
        idx[p] = idx[p - 1]
        p -= 1
    val[p] = v
    idx[p] = j
    return count + 1 if count < n else count


@nb.njit(cache=CACHE)
def top_rows(scores, n, idx, val):
    """``idx[r]``, ``val[r]``: the columns and values of row ``r``'s ``n`` largest finite
    entries, best first, ties by lower column; -1 and NaN pad a row with fewer."""
    rows, m = scores.shape
    for r in range(rows):
        count = 0
        for j in range(m):
            v = scores[r, j]
            if np.isfinite(v):
                count = _insert(val[r], idx[r], count, n, v, j)
        for p in range(count, n):
            idx[r, p] = -1
            val[r, p] = np.nan


@nb.njit(cache=CACHE, parallel=True)
def screened_rows(approx, term, user_term, bound, p, q, n, idx, val):
    """Each row's ``n`` best items by exact score, from single-precision products ``approx``
    (users x items, -inf where an item may not be listed): the items within ``2 * bound[r]``
    of the row's n-th approximate score (``approx + term``) are scored again in double
    precision, ``p[r] . q[j] + term[j] + user_term[r]``, and ranked best first, ties by lower
    column; -1 and NaN pad a row with fewer finite scores."""
    rows, m = approx.shape
    k = p.shape[1]
    for r in nb.prange(rows):  # rows apart: the same lists on any number of threads
        near = np.empty(n)
        near_idx = np.empty(n, dtype=np.int64)
        count = 0
        for j in range(m):
            a = np.float64(approx[r, j]) + term[j]
            if np.isfinite(a):
                count = _insert(near, near_idx, count, n, a, j)
        kth = near[count - 1] if count == n else -np.inf
        floor = kth - 2.0 * bound[r]
        found = 0
        for j in range(m):
            a = np.float64(approx[r, j]) + term[j]
            if not np.isfinite(a) or a < floor:
                continue
            exact = 0.0
            for f in range(k):
                exact += p[r, f] * q[j, f]
            exact = exact + term[j] + user_term[r]
            found = _insert(val[r], idx[r], found, n, exact, j)
        for s in range(found, n):
            idx[r, s] = -1
            val[r, s] = np.nan


def warm_up(dtype: np.dtype = np.float64) -> None:
    load(top_rows, np.zeros((1, 1), dtype=dtype), 1, np.zeros((1, 1), dtype=np.int64),
         np.zeros((1, 1)))  # fmt: skip


def warm_up_screened() -> None:
    f, i = np.zeros((1, 1)), np.zeros((1, 1), dtype=np.int64)
    load(screened_rows, np.zeros((1, 1), dtype=np.float32), np.zeros(1), np.zeros(1), np.zeros(1),
         f, f, 1, i, f)  # fmt: skip
