"""Small compiled linear-algebra helpers shared by the models' kernels.

Done in numba rather than BLAS or scipy: BLAS threads keep spinning after a call and take the
cores from the numba threads that follow (measured: every kernel 2-4x slower on 2 cores), and
fixed row chunks keep every sum in the same order whatever the thread count.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from recfactor.kernels import cache_enabled, load

CACHE = cache_enabled()

FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@nb.njit(cache=CACHE)
def csr_layout(rows, cols, values, n_rows):
    """Ratings grouped by row (a stable counting sort): (indptr, columns, values)."""
    n = rows.shape[0]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    for j in range(n):
        indptr[rows[j] + 1] += 1
    for r in range(n_rows):
        indptr[r + 1] += indptr[r]
    fill = indptr[:-1].copy()
    out_cols = np.empty(n, dtype=np.int32)
    out_values = np.empty(n, dtype=np.float64)
    for j in range(n):
        at = fill[rows[j]]
        fill[rows[j]] += 1
        out_cols[at] = cols[j]
        out_values[at] = values[j]
    return indptr, out_cols, out_values


@nb.njit(cache=CACHE, parallel=True)
def csr_dense(indptr, indices, data, dense):
    """``X @ dense`` for a CSR matrix ``X``, one row per task (a fixed order of additions)."""
    n = indptr.shape[0] - 1
    k = dense.shape[1]
    out = np.zeros((n, k))
    for r in nb.prange(n):
        for j in range(indptr[r], indptr[r + 1]):
            value = data[j]
            column = indices[j]
            for f in range(k):
                out[r, f] += value * dense[column, f]
    return out


@nb.njit(cache=CACHE, parallel=True, fastmath=FASTMATH)
def gram(a):
    """``a.T @ a`` summed over fixed chunks of rows, in a fixed order."""
    n, k = a.shape
    n_chunks = 16
    partial = np.zeros((n_chunks, k, k))
    for c in nb.prange(n_chunks):
        for r in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            for g in range(k):
                weight = a[r, g]
                for f in range(k):
                    partial[c, g, f] += weight * a[r, f]
    out = np.zeros((k, k))
    for c in range(n_chunks):
        out += partial[c]
    return out


def warm_up() -> None:
    """Load (or compile) the helpers for the types the models use."""
    indptr = np.array([0, 1], dtype=np.int64)
    cols = np.zeros(1, dtype=np.int32)
    one = np.ones(1)
    block = np.ones((1, 1))
    load(csr_layout, cols, cols, one, 1)
    load(csr_dense, indptr, cols, one, block)
    load(csr_dense, indptr.astype(np.int32), cols, one, block)
    load(gram, block)
