"""SVD++ epochs (Koren 2008): ``mu + b_u + b_i + q_i . (p_u + |N(u)|^-1/2 sum_{j in N(u)} y_j)``.

Surprise updates every ``y_j`` of a user at each of the user's ratings, |N(u)| k work per
rating (17 s per MovieLens 100K fold). Here the ratings are taken user by user (users in a
fresh seeded order each epoch, each user's ratings reshuffled): the user's implicit part
``z_u`` is summed once, moved at each rating as Surprise's updates of the ``y_j`` move it
(``z <- (1 - lr reg) z + lr err q_i``), and the ``y_j`` take the user's gathered gradient once,
at the end, with the shrinkage of the user's |N(u)| updates: an epoch costs O(ratings x k).

One thread: the ``y_j`` of one user's items are shared with every other user who rated them,
so users cannot run side by side without racing. The order is fixed by the seeds, so the model
is the same on every run.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from recfactor.kernels import cache_enabled, load
from recfactor.kernels.sgd import FASTMATH, _shuffle_range

CACHE = cache_enabled()


@nb.njit(cache=CACHE, fastmath=FASTMATH)
def svdpp_epochs(
    indptr, owners, items, ratings, user_orders, seeds, mu, user_bias, item_bias,
    user_factors, item_factors, implicit, lr, reg, sse,
):  # fmt: skip
    """Epochs over ratings grouped by user (``indptr``; ``owners[t]`` is rating t's user), one
    per row of ``user_orders``; updates everything in place. ``sse[e]`` receives the sum of
    squared errors; an epoch whose sum is not finite is the last one run. Returns how many
    epochs ran."""
    k = user_factors.shape[1]
    one = user_factors.dtype.type(1)
    shrink = one - lr * reg
    z = np.zeros(k, dtype=user_factors.dtype)
    gathered = np.zeros(k, dtype=user_factors.dtype)
    for e in range(user_orders.shape[0]):
        total = 0.0
        for position in range(user_orders.shape[1]):
            u = user_orders[e, position]
            lo = indptr[u]
            hi = indptr[u + 1]
            if hi == lo:
                continue
            _shuffle_range(owners, items, ratings, lo, hi, seeds[e])
            scale = one / np.sqrt(user_factors.dtype.type(hi - lo))
            for f in range(k):
                z[f] = 0
                gathered[f] = 0
            for t in range(lo, hi):
                j = items[t]
                for f in range(k):
                    z[f] += implicit[j, f]
            for f in range(k):
                z[f] *= scale
            for t in range(lo, hi):
                i = items[t]
                dot = user_factors.dtype.type(0)
                for f in range(k):
                    dot += item_factors[i, f] * (user_factors[u, f] + z[f])
                err = ratings[t] - (mu + user_bias[u] + item_bias[i] + dot)
                total += err * err
                user_bias[u] += lr * (err - reg * user_bias[u])
                item_bias[i] += lr * (err - reg * item_bias[i])
                step = lr * err
                for f in range(k):
                    pf = user_factors[u, f]
                    qf = item_factors[i, f]
                    user_factors[u, f] = shrink * pf + step * qf
                    item_factors[i, f] = shrink * qf + step * (pf + z[f])
                    gathered[f] += err * qf
                    z[f] = shrink * z[f] + step * qf
            decay = shrink ** (hi - lo)
            for t in range(lo, hi):
                j = items[t]
                for f in range(k):
                    implicit[j, f] = decay * implicit[j, f] + lr * scale * gathered[f]
        sse[e] = total
        if not np.isfinite(total):
            return e + 1
    return user_orders.shape[0]


@nb.njit(cache=CACHE, fastmath=FASTMATH)
def implicit_parts(indptr, items, implicit, out):
    """``out[u] = |N(u)|^-1/2 * sum of implicit[j] over the items j user u rated``."""
    k = implicit.shape[1]
    for u in range(indptr.shape[0] - 1):
        n = indptr[u + 1] - indptr[u]
        for f in range(k):
            out[u, f] = 0
        for t in range(indptr[u], indptr[u + 1]):
            for f in range(k):
                out[u, f] += implicit[items[t], f]
        if n > 0:
            for f in range(k):
                out[u, f] /= np.sqrt(out.dtype.type(n))


def warm_up() -> None:
    """Load (or compile, the first time) the kernels for the types the model uses."""
    f = np.float32
    idx = np.zeros(1, dtype=np.int32)
    ptr = np.array([0, 1], dtype=np.int64)
    one = np.zeros(1, dtype=f)
    square = np.zeros((1, 1), dtype=f)
    load(svdpp_epochs,
        ptr, idx, idx.copy(), one, np.zeros((1, 1), dtype=np.int32), np.zeros(1, dtype=np.int64),
        f(0), one.copy(), one.copy(), square, square.copy(), square.copy(), f(0), f(0),
        np.zeros(1),
    )  # fmt: skip
    load(implicit_parts, ptr, idx, square, square.copy())
