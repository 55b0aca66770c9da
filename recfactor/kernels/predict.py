"""Predictions for many (user, item) pairs at once, in parallel: train metrics over every
training rating, and batch ``predict``."""

from __future__ import annotations

import numba as nb
import numpy as np

from recfactor.kernels import cache_enabled, load

CACHE = cache_enabled()


@nb.njit(cache=CACHE, parallel=True, fastmath={"reassoc", "contract"})
def predict_pairs(u, i, mu, user_bias, item_bias, user_factors, item_factors, flags, low, high,
                  out):  # fmt: skip
    """``out[j] = mu + b_u + b_i + p_u . q_i`` with unknown sides (index -1) left out.

    ``flags``: bit 0 set when there are user biases, bit 1 item biases, bit 2 factors, bit 3
    when a known pair's prediction is the factor part alone (plain MF: the biases answer only
    for unknown users and items), bit 4 when predictions are clipped to [``low``, ``high``].
    Each pair is computed on its own, so the result does not depend on the thread count.
    """
    has_user_bias = flags & 1
    has_item_bias = flags & 2
    has_factors = flags & 4
    factors_only = flags & 8
    clip = flags & 16
    k = user_factors.shape[1]
    for j in nb.prange(u.shape[0]):
        a = u[j]
        b = i[j]
        est = mu
        if has_factors and a >= 0 and b >= 0:
            dot = 0.0  # float64 whatever the factors' precision, as numpy's smaller batches
            for f in range(k):
                dot += np.float64(user_factors[a, f]) * np.float64(item_factors[b, f])
            if factors_only:
                est = dot
            else:
                est += dot
        if not (factors_only and has_factors and a >= 0 and b >= 0):
            if has_user_bias and a >= 0:
                est += user_bias[a]
            if has_item_bias and b >= 0:
                est += item_bias[b]
        if clip:
            est = min(max(est, low), high)
        out[j] = est


def warm_up(factors_dtype: np.dtype, index_dtype: np.dtype = np.int64) -> None:
    index = np.zeros(1, dtype=index_dtype)
    bias = np.zeros(1)
    factors = np.zeros((1, 1), dtype=factors_dtype)
    load(predict_pairs, index, index, 0.0, bias, bias, factors, factors, 0, 0.0, 0.0, np.zeros(1))
