"""The Bayesian factorization machine's Gibbs steps, one side (users' or items') at a time.

A rating's prediction is ``w0 + b[u] + c[i] + U[u] . I[i]``, where each side's bias and
factors are sums over its features (``b = X w``, ``U = X V``; a user's features are its ID, the
items it rated and its attributes). Every parameter ``theta`` of one side enters the
prediction linearly, ``h_r * theta`` with ``h_r = x[u_r, j] * z_r`` (``z_r`` the other side's
factor, or 1 for a bias), so its conditional is Gaussian, and its statistics over the ratings
are sums over the side's rows (Rendle 2013, relational blocks):

    sum_r h_r^2        = sum_u x_uj^2 A_u,   A_u = sum_{r of u} z_r^2
    sum_r h_r e_r      = sum_u x_uj   B_u,   B_u = sum_{r of u} z_r e_r

and after a draw moves ``theta`` by ``d`` only ``B_u -= d x_uj A_u`` of the rows with the
feature change: a feature is sampled in time proportional to its rows, not its ratings. The
residuals are brought up to date once per side and factor. Sums over a row's ratings run in one
thread each (rows in parallel), so the draws do not depend on the thread count.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from recfactor.kernels import cache_enabled

CACHE = cache_enabled()


@nb.njit(cache=CACHE, parallel=True)
def _row_sums(indptr, ratings, z, e, a, b):
    """``a[u] = sum z_r^2`` and ``b[u] = sum z_r e_r`` over each row's ratings."""
    for u in nb.prange(len(indptr) - 1):
        sa = 0.0
        sb = 0.0
        for p in range(indptr[u], indptr[u + 1]):
            r = ratings[p]
            sa += z[r] * z[r]
            sb += z[r] * e[r]
        a[u] = sa
        b[u] = sb


@nb.njit(cache=CACHE)
def _draw_features(fptr, frows, fvals, groups, theta, own, a, b, alpha, lam, mu, noise):
    """Each feature ``j`` in turn: its ``theta`` drawn from the Gaussian conditional given the
    others, then the rows that have it (``own``: the side's sum, ``b``: its statistics) moved
    with it."""
    for j in range(len(fptr) - 1):
        g = groups[j]
        precision = lam[g]
        rhs = lam[g] * mu[g]
        old = theta[j]
        for p in range(fptr[j], fptr[j + 1]):
            u = frows[p]
            x = fvals[p]
            precision += alpha * x * x * a[u]
            rhs += alpha * x * (b[u] + old * x * a[u])
        new = rhs / precision + noise[j] / np.sqrt(precision)
        d = new - old
        theta[j] = new
        if d != 0.0:
            for p in range(fptr[j], fptr[j + 1]):
                u = frows[p]
                x = fvals[p]
                b[u] -= d * x * a[u]
                own[u] += d * x


@nb.njit(cache=CACHE, parallel=True)
def _move_residuals(rows_of, z, before, after, e):
    """``e_r -= (after - before)[row of r] * z_r`` for every rating."""
    for r in nb.prange(len(e)):
        u = rows_of[r]
        e[r] -= (after[u] - before[u]) * z[r]


@nb.njit(cache=CACHE)
def _add_column(out, factors, rows_of, f):
    """``out[r] += factors[rows_of[r], f]`` for every rating: one side's factor ``f`` at each
    rating (numpy's gather of a column, then a sum, allocated twice a call)."""
    for r in range(len(out)):
        out[r] += factors[rows_of[r], f]


def sample_side(side, others, e, alpha, hyper, noise):
    """One Gibbs pass over one side's features: the biases, then each factor.

    ``side`` holds the side's layout (its rows' ratings, its features by column) and its
    parameters (``w``, ``V``) and sums (``b``, ``U``); ``others`` the other sides (the ``z`` of
    each factor is the sum of the other sides' factors at each rating: the item's, and the
    rating's time's where there is one); ``e`` the residuals, kept up to date; ``hyper`` the
    groups' (lambda, mu) for the biases and each factor; ``noise`` standard normal draws, one
    per feature and parameter (features x (k + 1))."""
    n = len(side.rows_of)
    ones = np.ones(n)
    lam, mu = hyper
    k = side.V.shape[1]
    for f in range(-1, k):
        if f < 0:
            z = ones
        else:
            z = np.zeros(n)
            for o in others:
                _add_column(z, o.U, o.rows_of, f)
        own = side.b if f < 0 else side.U[:, f].copy()
        theta = side.w if f < 0 else side.V[:, f].copy()
        before = own.copy()
        a = np.empty(side.n_rows)
        b = np.empty(side.n_rows)
        _row_sums(side.indptr, side.ratings, z, e, a, b)
        _draw_features(side.fptr, side.frows, side.fvals, side.groups, theta, own, a, b, alpha,
                       lam[f + 1], mu[f + 1], np.ascontiguousarray(noise[:, f + 1]))  # fmt: skip
        _move_residuals(side.rows_of, z, before, own, e)
        if f >= 0:
            side.U[:, f] = own
            side.V[:, f] = theta


def warm_up() -> None:
    """Compile the kernels on a tiny example (numba's cache keeps them)."""
    indptr = np.array([0, 1], dtype=np.int64)
    ratings = np.zeros(1, dtype=np.int64)
    z, e = np.ones(1), np.zeros(1)
    a, b = np.empty(1), np.empty(1)
    _row_sums(indptr, ratings, z, e, a, b)
    theta, own = np.zeros(1), np.zeros(1)
    groups = np.zeros(1, dtype=np.int64)
    _draw_features(indptr, ratings, np.ones(1), groups, theta, own, a, b, 1.0, np.ones(1),
                   np.zeros(1), np.zeros(1))  # fmt: skip
    _move_residuals(np.zeros(1, dtype=np.int64), z, own, own, e)
    _add_column(z, np.zeros((1, 1)), np.zeros(1, dtype=np.int64), 0)
