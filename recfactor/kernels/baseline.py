"""Compiled alternating updates of user and item biases."""

from __future__ import annotations

import numba as nb

from recfactor.kernels import cache_enabled

CACHE = cache_enabled()


@nb.njit(cache=CACHE)
def als_biases(users, items, ratings, mu, count_u, count_i, b_u, b_i, epochs, reg_u, reg_i):
    """``epochs`` rounds of: every ``b_u`` set to its regularised least-squares value given the
    item biases, then every ``b_i`` given the user biases (Koren 2010, section 2.1). ``b_u``
    and ``b_i`` are updated in place, so that a long fit runs as several calls (each round
    depends on ``b_i`` alone: the calls give the same biases as one)."""
    n = ratings.shape[0]
    for _ in range(epochs):
        b_u[:] = 0.0
        for j in range(n):
            b_u[users[j]] += ratings[j] - mu - b_i[items[j]]
        for u in range(b_u.shape[0]):
            b_u[u] /= reg_u + count_u[u]
        b_i[:] = 0.0
        for j in range(n):
            b_i[items[j]] += ratings[j] - mu - b_u[users[j]]
        for i in range(b_i.shape[0]):
            b_i[i] /= reg_i + count_i[i]


@nb.njit(cache=CACHE)
def incidence_biases(indptr, items, sum_u, sum_i, count_u, count_i, b_u, b_i, epochs, reg_u, reg_i):
    """:func:`als_biases` from each user's items (CSR ``indptr``, ``items``) and each row's
    sum of ``rating - mu`` (``sum_u``, ``sum_i``) instead of the ratings themselves: the same
    updates, since a user's sum of ``r - mu - b_i`` is ``sum_u`` less the user's items'
    biases (a model trained on a cluster has these, and not the ratings)."""
    for _ in range(epochs):
        for u in range(b_u.shape[0]):
            taken = 0.0
            for j in range(indptr[u], indptr[u + 1]):
                taken += b_i[items[j]]
            b_u[u] = (sum_u[u] - taken) / (reg_u + count_u[u])
        b_i[:] = 0.0
        for u in range(b_u.shape[0]):
            for j in range(indptr[u], indptr[u + 1]):
                b_i[items[j]] += b_u[u]
        for i in range(b_i.shape[0]):
            b_i[i] = (sum_i[i] - b_i[i]) / (reg_i + count_i[i])
