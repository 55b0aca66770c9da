"""Bayesian PMF's Gibbs step for every row: a draw from each row's Gaussian conditional."""

from __future__ import annotations

import numba as nb
import numpy as np

from recfactor.kernels import cache_enabled, load
from recfactor.kernels.als import _cholesky_solve

CACHE = cache_enabled()


@nb.njit(cache=CACHE, parallel=True)
def sample_rows(indptr, cols, values, other, own, prior_rhs, prior_precision, alpha, noise):
    """Replace each row ``r`` of ``own`` by a draw from its conditional given ``other``:

        precision  P = prior_precision + alpha * sum_j y_j y_j'
        mean       m = P^-1 (prior_rhs + alpha * sum_j values[j] y_j)
        draw       m + L'^-1 noise[r]        (P = L L')

    (``prior_rhs``: the prior's precision times its mean) over the row's ratings ``j`` in
    ``indptr[r]:indptr[r + 1]`` (``y_j = other[cols[j]]``).
    ``noise`` holds the standard normal draws, made beforehand from the fit's generator, so
    that the result does not depend on the threads."""
    k = other.shape[1]
    n_rows = own.shape[0]
    n_chunks = max(min(n_rows, 64), 1)
    for chunk in nb.prange(n_chunks):
        a = np.empty((k, k))
        b = np.empty(k)
        x = np.empty(k)
        for r in range(chunk, n_rows, n_chunks):
            for f in range(k):
                b[f] = prior_rhs[f]
                for g in range(k):
                    a[f, g] = prior_precision[f, g]
            for j in range(indptr[r], indptr[r + 1]):
                c = cols[j]
                v = alpha * values[j]
                for f in range(k):
                    y = other[c, f]
                    b[f] += v * y
                    scaled = alpha * y
                    for g in range(f + 1):
                        a[f, g] += scaled * other[c, g]
            # The mean, P^-1 b, leaving P's Cholesky factor L in a; then L'^-1 noise.
            _cholesky_solve(a, b, x, 0.0)
            for i in range(k - 1, -1, -1):
                t = noise[r, i]
                for m in range(i + 1, k):
                    t -= a[m, i] * own[r, m]
                own[r, i] = t / a[i, i]
            for f in range(k):
                own[r, f] += x[f]


def warm_up() -> None:
    indptr = np.array([0, 1], dtype=np.int64)
    cols = np.zeros(1, dtype=np.int32)
    block = np.ones((1, 1))
    load(sample_rows, indptr, cols, np.ones(1), block, block.copy(), np.zeros(1), block.copy(),
         2.0, block.copy())  # fmt: skip
