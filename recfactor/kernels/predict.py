"""Predictions for many (user, item) pairs at once, in parallel: train metrics over every
training rating, and batch ``predict``."""

from __future__ import annotations

import numba as nb
import numpy as np

from recfactor.kernels import cache_enabled, load

CACHE = cache_enabled()


FASTMATH = {"reassoc", "contract"}


@nb.njit(cache=CACHE, fastmath=FASTMATH, inline="always")
def _estimate(a, b, mu, user_bias, item_bias, user_factors, item_factors, flags, low, high):
    """One pair's prediction (see :func:`predict_pairs`)."""
    has_factors = flags & 4
    factors_only = flags & 8
    est = mu
    if has_factors and a >= 0 and b >= 0:
        dot = 0.0  # float64 whatever the factors' precision, as numpy's smaller batches
        for f in range(user_factors.shape[1]):
            dot += np.float64(user_factors[a, f]) * np.float64(item_factors[b, f])
        if factors_only:
            est = dot
        else:
            est += dot
    if not (factors_only and has_factors and a >= 0 and b >= 0):
        if flags & 1 and a >= 0:
            est += user_bias[a]
        if flags & 2 and b >= 0:
            est += item_bias[b]
    if flags & 16:
        est = min(max(est, low), high)
    return est


@nb.njit(cache=CACHE, parallel=True, fastmath=FASTMATH)
def predict_pairs(u, i, mu, user_bias, item_bias, user_factors, item_factors, flags, low, high,
                  out):  # fmt: skip
    """``out[j] = mu + b_u + b_i + p_u . q_i`` with unknown sides (index -1) left out.

    ``flags``: bit 0 set when there are user biases, bit 1 item biases, bit 2 factors, bit 3
    when a known pair's prediction is the factor part alone (plain MF: the biases answer only
    for unknown users and items), bit 4 when predictions are clipped to [``low``, ``high``].
    Each pair is computed on its own, so the result does not depend on the thread count.
    """
    for j in nb.prange(u.shape[0]):
        out[j] = _estimate(u[j], i[j], mu, user_bias, item_bias, user_factors, item_factors,
                           flags, low, high)  # fmt: skip


# Pairs whose errors one thread sums before the sums are added up, in order.
ERROR_PIECE = 1 << 15


@nb.njit(cache=CACHE, parallel=True, fastmath=FASTMATH)
def pair_errors(u, i, ratings, mu, user_bias, item_bias, user_factors, item_factors, flags, low,
                high):  # fmt: skip
    """(sum of squared errors, sum of absolute errors) of :func:`predict_pairs`' predictions
    against ``ratings``, without an array of them: pieces of :data:`ERROR_PIECE` pairs are
    summed on their own and their sums added in order, the same on any thread count."""
    n = u.shape[0]
    pieces = (n + ERROR_PIECE - 1) // ERROR_PIECE
    partial = np.zeros((pieces, 2))
    for p in nb.prange(pieces):
        squared = 0.0
        absolute = 0.0
        for j in range(p * ERROR_PIECE, min(n, (p + 1) * ERROR_PIECE)):
            error = _estimate(u[j], i[j], mu, user_bias, item_bias, user_factors, item_factors,
                              flags, low, high) - ratings[j]  # fmt: skip
            squared += error * error
            absolute += abs(error)
        partial[p, 0] = squared
        partial[p, 1] = absolute
    squared = 0.0
    absolute = 0.0
    for p in range(pieces):
        squared += partial[p, 0]
        absolute += partial[p, 1]
    return squared, absolute


def warm_up(factors_dtype: np.dtype, index_dtype: np.dtype = np.int64) -> None:
    index = np.zeros(1, dtype=index_dtype)
    bias = np.zeros(1)
    factors = np.zeros((1, 1), dtype=factors_dtype)
    load(predict_pairs, index, index, 0.0, bias, bias, factors, factors, 0, 0.0, 0.0, np.zeros(1))


def warm_up_errors(pairs: np.ndarray, ratings: np.ndarray, model: tuple) -> None:
    """Load :func:`pair_errors` for these pairs', ratings' and model's types."""
    load(pair_errors, pairs[:1], pairs[:1], ratings[:1], *model)
