"""Compiled half-steps of non-negative matrix factorization.

Two problems, both solved a block of rows at a time with the other factor fixed, each row on
its own (``prange``), so results do not depend on the thread count:

- ratings (observed entries only): multiplicative updates on the rows of a CSR layout;
- whole non-negative matrices: hierarchical ALS (coordinate descent) on each row, given the
  small Gram matrix of the other factor and the sparse-dense product.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from recfactor.kernels import cache_enabled, linalg, load

CACHE = cache_enabled()

# 'reassoc' lets the dot products vectorise; no 'nnan'/'ninf', so NaN checks stay honest.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@nb.njit(cache=CACHE, parallel=True, fastmath=FASTMATH)
def masked_mu_rows(
    indptr, cols, values, mu, own_bias, other_bias, own, other, reg, reg_bias, fit_bias,
):  # fmt: skip
    """One multiplicative half-step for every row of a CSR ratings layout.

    Row ``r`` (a user, or an item in the transposed layout) has ratings ``values[j]`` against
    columns ``cols[j]`` for ``j`` in ``indptr[r]:indptr[r + 1]``. With ``fit_bias`` the row's
    bias is first set to its exact regularised least-squares value given everything else.
    Then, with ``t = r - mu - b_row - b_col`` the part left for the factors and ``d = own .
    other`` their current estimate, the gradient of the squared error splits into
    non-negative parts: ``sum (d + max(-t, 0)) other + reg n own`` and
    ``sum max(t, 0) other``; their ratio is the update (Lee and Seung's auxiliary-function
    argument applies to each row, so the objective never increases). Surprise instead puts
    the raw rating against the bias-including estimate, which is not a split of the biased
    objective's gradient and lets some seeds wander off.
    """
    k = own.shape[1]
    n_rows = own.shape[0]
    # Rows go in fixed interleaved chunks (row r in chunk r % n_chunks, so popular rows are
    # spread out), each chunk with its own scratch space: no allocation per row, and the same
    # arithmetic whatever the thread count.
    n_chunks = min(n_rows, 16)
    for chunk in nb.prange(n_chunks):
        numerator = np.empty(k)
        denominator = np.empty(k)
        longest = 0
        for r in range(chunk, n_rows, n_chunks):
            longest = max(longest, indptr[r + 1] - indptr[r])
        dots = np.empty(longest)
        for r in range(chunk, n_rows, n_chunks):
            _mu_row(r, indptr, cols, values, mu, own_bias, other_bias, own, other, reg,
                    reg_bias, fit_bias, numerator, denominator, dots)  # fmt: skip


@nb.njit(cache=CACHE, inline="always", fastmath=FASTMATH)
def _mu_row(
    r, indptr, cols, values, mu, own_bias, other_bias, own, other, reg, reg_bias, fit_bias,
    numerator, denominator, dots,
):  # fmt: skip
    lo = indptr[r]
    hi = indptr[r + 1]
    n = hi - lo
    if n == 0:
        return
    k = own.shape[1]
    row = own[r]
    numerator[:] = 0.0
    denominator[:] = 0.0
    if not fit_bias:
        # Ratings are non-negative here: all of each goes to the numerator, one pass.
        for j in range(lo, hi):
            c = cols[j]
            dot = 0.0
            for f in range(k):
                dot += row[f] * other[c, f]
            value = values[j]
            for f in range(k):
                numerator[f] += value * other[c, f]
                denominator[f] += dot * other[c, f]
    else:
        for j in range(lo, hi):
            c = cols[j]
            dot = 0.0
            for f in range(k):
                dot += row[f] * other[c, f]
            dots[j - lo] = dot
        total = 0.0
        for j in range(lo, hi):
            total += values[j] - mu - other_bias[cols[j]] - dots[j - lo]
        own_bias[r] = total / (n * (1.0 + reg_bias))
        for j in range(lo, hi):
            c = cols[j]
            target = values[j] - (mu + own_bias[r] + other_bias[c])
            gain = target if target > 0.0 else 0.0
            loss = dots[j - lo] + (-target if target < 0.0 else 0.0)
            for f in range(k):
                numerator[f] += gain * other[c, f]
                denominator[f] += loss * other[c, f]
    for f in range(k):
        below = denominator[f] + reg * n * row[f]
        if below > 0.0:
            row[f] *= numerator[f] / below


@nb.njit(cache=CACHE, parallel=True, fastmath=FASTMATH)
def hals_rows(own, cross, gram, l1, l2):
    """One HALS half-step: each row of ``own`` minimises, coordinate by coordinate,
    ``0.5 ||x_r - own_r other||^2 + l1 |own_r|_1 + 0.5 l2 |own_r|^2`` over non-negative values,
    where ``cross = X other^T`` and ``gram = other other^T`` (k x k) were computed once.

    The row's gradient is kept as a vector and corrected after each coordinate's change
    (``grad += delta * gram[f]``), which is the same arithmetic as recomputing it but without a
    reduction per coordinate. Returns the L1 norm of the projected gradient before the step
    (the optimality violation that the stop rule reads).
    """
    k = own.shape[1]
    n = own.shape[0]
    n_chunks = min(n, 64)
    partial = np.zeros(n_chunks)
    for chunk in nb.prange(n_chunks):
        grad = np.empty(k)
        violation = 0.0
        for r in range(chunk, n, n_chunks):
            violation += _hals_row(own[r], cross[r], gram, l1, l2, grad)
        partial[chunk] = violation
    return partial.sum()


@nb.njit(cache=CACHE, fastmath=FASTMATH, inline="always")
def _hals_row(row, cross, gram, l1, l2, grad):
    k = row.shape[0]
    for f in range(k):
        grad[f] = l1 - cross[f] + l2 * row[f]
    for g in range(k):
        weight = row[g]
        for f in range(k):
            grad[f] += weight * gram[g, f]
    violation = 0.0
    for f in range(k):
        if row[f] > 0.0:
            violation += abs(grad[f])
        elif grad[f] < 0.0:
            violation -= grad[f]
    for f in range(k):
        curvature = gram[f, f] + l2
        if curvature <= 0.0:
            continue
        old = row[f]
        value = old - grad[f] / curvature
        if value < 0.0:
            value = 0.0
        delta = value - old
        if delta != 0.0:
            row[f] = value
            for g in range(k):
                grad[g] += delta * gram[f, g]
            grad[f] += l2 * delta
    return violation


@nb.njit(cache=CACHE, parallel=True, fastmath=FASTMATH)
def mu_whole_rows(own, cross, gram, l1, l2):
    """One Lee-Seung multiplicative half-step for the whole-matrix objective (with the L1 and
    L2 penalties in the denominator, as scikit-learn does). Returns the optimality violation
    before the step, as ``hals_rows``."""
    k = own.shape[1]
    n = own.shape[0]
    n_chunks = min(n, 64)
    partial = np.zeros(n_chunks)
    for chunk in nb.prange(n_chunks):
        below = np.empty(k)
        violation = 0.0
        for r in range(chunk, n, n_chunks):
            row = own[r]
            for f in range(k):
                below[f] = l1 + l2 * row[f]
            for g in range(k):
                weight = row[g]
                for f in range(k):
                    below[f] += weight * gram[g, f]
            for f in range(k):
                grad = below[f] - cross[r, f]
                if row[f] > 0.0:
                    violation += abs(grad)
                elif grad < 0.0:
                    violation -= grad
            for f in range(k):
                row[f] = row[f] * cross[r, f] / below[f] if below[f] > 0.0 else 0.0
        partial[chunk] = violation
    return partial.sum()


def warm_up() -> None:
    """Load (or compile) the kernels for the types the models use."""
    indptr = np.array([0, 1], dtype=np.int64)
    cols = np.zeros(1, dtype=np.int32)
    one = np.ones(1)
    block = np.ones((1, 1))
    load(masked_mu_rows, indptr, cols, one, 0.0, one.copy(), one.copy(), block.copy(), block.copy(),
                   0.0, 0.0, True)  # fmt: skip
    load(hals_rows, block.copy(), block, block, 0.0, 0.0)
    load(mu_whole_rows, block.copy(), block, block, 0.0, 0.0)
    linalg.warm_up()
