"""Compiled row solves of alternating least squares.

Each half-step solves one small regularised least-squares problem per row (user or item) with
the other side fixed. Rows are independent and run under ``prange``; every row's arithmetic is
the same whichever thread runs it, so results do not depend on the thread count. The k x k
systems are solved here (Cholesky, or projected coordinate descent for the non-negative case)
rather than by LAPACK, whose threads would compete with numba's for the cores.
"""

from __future__ import annotations

import itertools

import numba as nb
import numpy as np

from recfactor.kernels import cache_enabled, load

CACHE = cache_enabled()

FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@nb.njit(cache=CACHE, fastmath=FASTMATH, inline="always")
def _cholesky_solve(a, b, x, floor):
    """Solve ``a x = b`` for symmetric positive definite ``a`` (overwritten by its factor),
    where ``a`` is a Gram matrix plus at least ``floor`` on its diagonal.

    Every pivot of such a matrix is at least ``floor`` in exact arithmetic; rounding can
    push one below it when the Gram part is much larger (ratings of 1e8 make it 1e16 times
    the regularisation), and the solve then blew up to infinite factors. Pivots are kept at
    ``floor`` or above, which changes nothing where rounding did not interfere.
    """
    k = a.shape[0]
    for j in range(k):
        s = a[j, j]
        for m in range(j):
            s -= a[j, m] * a[j, m]
        if s < floor:
            s = floor
        if s <= 0.0:
            s = 1e-300  # only reachable for a singular system with zero regularisation
        d = np.sqrt(s)
        a[j, j] = d
        for i in range(j + 1, k):
            t = a[i, j]
            for m in range(j):
                t -= a[i, m] * a[j, m]
            a[i, j] = t / d
    for i in range(k):
        t = b[i]
        for m in range(i):
            t -= a[i, m] * x[m]
        x[i] = t / a[i, i]
    for i in range(k - 1, -1, -1):
        t = x[i]
        for m in range(i + 1, k):
            t -= a[m, i] * x[m]
        x[i] = t / a[i, i]


@nb.njit(cache=CACHE, parallel=True, fastmath=FASTMATH)
def explicit_rows(
    indptr, cols, values, mu, other_bias, other, own, own_bias, reg, reg_bias, fit_bias,
    nonnegative, sweeps, first, last, per_count=True,
):  # fmt: skip
    """One explicit half-step: for each row ``r`` with ratings ``values[j]`` of columns
    ``cols[j]`` (``j`` in ``indptr[r]:indptr[r + 1]``), set ``own[r]`` (and ``own_bias[r]``)
    to the minimiser of

        sum_j (values[j] - mu - other_bias[c] - b_r - own[r] . other[c])^2
            + reg * n_r * |own[r]|^2 + reg_bias * n_r * b_r^2

    (weighted-lambda regularisation: Zhou et al. 2008, as Spark; ``per_count=False`` drops the
    ``n_r``). The bias, when fitted, is one more unknown of the same system. ``nonnegative``
    keeps the factors at or above zero. Rows ``first`` to ``last`` only (see :func:`row_spans`).
    """
    k = other.shape[1]
    size = k + 1 if fit_bias else k
    n_chunks = max(min(last - first, 64), 1)
    for chunk in nb.prange(n_chunks):
        a = np.empty((size, size))
        b = np.empty(size)
        x = np.empty(size)
        feature = np.empty(size)
        for r in range(first + chunk, last, n_chunks):
            lo = indptr[r]
            hi = indptr[r + 1]
            n = hi - lo
            if n == 0:
                continue
            scale = n if per_count else 1
            a[:, :] = 0.0
            b[:] = 0.0
            for j in range(lo, hi):
                c = cols[j]
                for f in range(k):
                    feature[f] = other[c, f]
                if fit_bias:
                    feature[k] = 1.0
                target = values[j] - mu - (other_bias[c] if fit_bias else 0.0)
                for f in range(size):
                    b[f] += target * feature[f]
                    for g in range(f + 1):
                        a[f, g] += feature[f] * feature[g]
            for f in range(size):
                for g in range(f):
                    a[g, f] = a[f, g]
                a[f, f] += reg * scale
            if fit_bias:
                a[k, k] += (reg_bias - reg) * scale
            if nonnegative:
                for f in range(k):
                    x[f] = own[r, f]
                if fit_bias:
                    x[k] = own_bias[r]
                _nonnegative_solve(a, b, x, k, fit_bias, sweeps)
            else:
                _cholesky_solve(a, b, x, min(reg, reg_bias) * scale)
            for f in range(k):
                own[r, f] = x[f]
            if fit_bias:
                own_bias[r] = x[k]


@nb.njit(cache=CACHE, fastmath=FASTMATH, inline="always")
def _nonnegative_solve(a, b, x, k, fit_bias, sweeps):
    """Non-negative factors with a free (signed) bias: coordinate descent where only the
    factor coordinates are clipped at zero."""
    size = a.shape[0]
    grad = np.empty(size)
    for f in range(size):
        g = -b[f]
        for m in range(size):
            g += a[f, m] * x[m]
        grad[f] = g
    for _ in range(sweeps):
        largest = 0.0
        for f in range(size):
            if a[f, f] <= 0.0:
                continue
            value = x[f] - grad[f] / a[f, f]
            if value < 0.0 and not (fit_bias and f == k):
                value = 0.0
            delta = value - x[f]
            if delta != 0.0:
                x[f] = value
                for m in range(size):
                    grad[m] += delta * a[m, f]
                if abs(delta) > largest:
                    largest = abs(delta)
        if largest <= 1e-12:
            break


@nb.njit(cache=CACHE, parallel=True, fastmath=FASTMATH)
def implicit_rows(
    indptr, cols, values, other, gram, own, reg_all, alpha, cg_steps, first, last, per_count=False
):  # fmt: skip
    """One implicit half-step (Hu, Koren and Volinsky 2008): for each row, preference 1 on its
    observed columns (0 elsewhere) with confidence ``1 + alpha * value``, solve

        (Y'Y + sum_j (c_j - 1) y_j y_j' + reg I) x = sum_j c_j y_j

    with ``reg = reg_all``, or ``reg_all`` times the row's count with ``per_count`` (Spark's
    weighted lambda), where ``gram = Y'Y`` was computed once for the half-step.
    ``cg_steps = 0`` solves exactly (Cholesky, O(n k^2 + k^3) per row); otherwise that many
    conjugate-gradient steps start from the current row (Takacs et al. 2011), O(n k + k^2)
    each. Rows ``first`` to ``last`` only.
    """
    k = other.shape[1]
    n_chunks = max(min(last - first, 64), 1)
    for chunk in nb.prange(n_chunks):
        a = np.empty((k, k))
        b = np.empty(k)
        x = np.empty(k)
        residual = np.empty(k)
        direction = np.empty(k)
        product = np.empty(k)
        for r in range(first + chunk, last, n_chunks):
            lo = indptr[r]
            hi = indptr[r + 1]
            reg = reg_all * (hi - lo) if per_count else reg_all
            if cg_steps == 0:
                for f in range(k):
                    b[f] = 0.0
                    for g in range(k):
                        a[f, g] = gram[f, g]
                    a[f, f] += reg
                for j in range(lo, hi):
                    c = cols[j]
                    confidence = 1.0 + alpha * values[j]
                    for f in range(k):
                        y = other[c, f]
                        b[f] += confidence * y
                        scaled = (confidence - 1.0) * y
                        for g in range(f + 1):
                            a[f, g] += scaled * other[c, g]
                for f in range(k):
                    for g in range(f):
                        a[g, f] = a[f, g]
                _cholesky_solve(a, b, x, reg)
                for f in range(k):
                    own[r, f] = x[f]
            else:
                for f in range(k):
                    x[f] = own[r, f]
                _implicit_apply(x, product, cols, values, lo, hi, other, gram, reg, alpha)
                for f in range(k):
                    residual[f] = -product[f]
                for j in range(lo, hi):
                    confidence = 1.0 + alpha * values[j]
                    for f in range(k):
                        residual[f] += confidence * other[cols[j], f]
                rs_old = 0.0
                for f in range(k):
                    direction[f] = residual[f]
                    rs_old += residual[f] * residual[f]
                for _ in range(cg_steps):
                    if rs_old < 1e-20:
                        break
                    _implicit_apply(direction, product, cols, values, lo, hi, other, gram,
                                    reg, alpha)  # fmt: skip
                    curvature = 0.0
                    for f in range(k):
                        curvature += direction[f] * product[f]
                    step = rs_old / curvature
                    rs_new = 0.0
                    for f in range(k):
                        x[f] += step * direction[f]
                        residual[f] -= step * product[f]
                        rs_new += residual[f] * residual[f]
                    for f in range(k):
                        direction[f] = residual[f] + (rs_new / rs_old) * direction[f]
                    rs_old = rs_new
                for f in range(k):
                    own[r, f] = x[f]


@nb.njit(cache=CACHE, fastmath=FASTMATH, inline="always")
def _implicit_apply(v, out, cols, values, lo, hi, other, gram, reg, alpha):
    """``out = (Y'Y + sum_j (c_j - 1) y_j y_j' + reg I) v`` without forming the matrix."""
    k = v.shape[0]
    for f in range(k):
        t = reg * v[f]
        for g in range(k):
            t += gram[f, g] * v[g]
        out[f] = t
    for j in range(lo, hi):
        c = cols[j]
        dot = 0.0
        for f in range(k):
            dot += other[c, f] * v[f]
        scaled = alpha * values[j] * dot
        for f in range(k):
            out[f] += scaled * other[c, f]


# Arithmetic per kernel call (about k^2 per rating, k^3 per row): a half-step of ALS at
# k = 100 over 25 million ratings is minutes, and Ctrl-C is only seen between calls.
ROW_WORK = 300_000_000


def row_spans(indptr: np.ndarray, k: int) -> list[tuple[int, int]]:
    """Consecutive row ranges of about ROW_WORK each, covering every row. The rows are
    independent, so solving them in several calls gives the same factors as in one."""
    n_rows = len(indptr) - 1
    work = np.cumsum((np.diff(indptr) + k) * float(k * k))
    edges = [0]
    while edges[-1] < n_rows:
        done = work[edges[-1] - 1] if edges[-1] else 0.0
        nxt = int(np.searchsorted(work, done + ROW_WORK, side="right"))
        edges.append(min(max(nxt, edges[-1] + 1), n_rows))
    return list(itertools.pairwise(edges))


def warm_up() -> None:
    """Load (or compile) the kernels for the types the models use."""
    indptr = np.array([0, 1], dtype=np.int64)
    cols = np.zeros(1, dtype=np.int32)
    one = np.ones(1)
    block = np.ones((1, 1))
    for fit_bias in (True, False):
        load(explicit_rows, indptr, cols, one, 0.0, one.copy(), block, block.copy(),
             one.copy(), 0.1, 0.1, fit_bias, False, 10, 0, 1, True)  # fmt: skip
    load(implicit_rows, indptr, cols, one, block, block, block.copy(), 0.1, 1.0, 0, 0, 1, False)
