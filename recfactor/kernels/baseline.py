"""Compiled alternating updates of user and item biases."""

from __future__ import annotations

import numba as nb
import numpy as np

from recfactor.kernels import cache_enabled

CACHE = cache_enabled()


@nb.njit(cache=CACHE)
def als_biases(users, items, ratings, mu, n_users, n_items, epochs, reg_u, reg_i):
    """``epochs`` rounds of: every ``b_u`` set to its regularised least-squares value given the
    item biases, then every ``b_i`` given the user biases (Koren 2010, section 2.1)."""
    n = ratings.shape[0]
    count_u = np.zeros(n_users)
    count_i = np.zeros(n_items)
    for j in range(n):
        count_u[users[j]] += 1.0
        count_i[items[j]] += 1.0
    b_u = np.zeros(n_users)
    b_i = np.zeros(n_items)
    for _ in range(epochs):
        b_u[:] = 0.0
        for j in range(n):
            b_u[users[j]] += ratings[j] - mu - b_i[items[j]]
        for u in range(n_users):
            b_u[u] /= reg_u + count_u[u]
        b_i[:] = 0.0
        for j in range(n):
            b_i[items[j]] += ratings[j] - mu - b_u[users[j]]
        for i in range(n_items):
            b_i[i] /= reg_i + count_i[i]
    return b_u, b_i
