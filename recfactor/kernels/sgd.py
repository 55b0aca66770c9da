"""Stochastic gradient descent epochs for biased and plain matrix factorization."""

from __future__ import annotations

import numba as nb
import numpy as np

# 'reassoc' lets LLVM vectorise the dot-product reduction and 'contract' fuse multiply-adds.
# No 'nnan'/'ninf': divergence shows up as NaN/inf and is checked outside the kernel.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@nb.njit(cache=True, fastmath=FASTMATH, nogil=True)
def sgd_epoch(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    order: np.ndarray,
    mu: float,
    user_bias: np.ndarray,
    item_bias: np.ndarray,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    lr: float,
    reg: float,
    lr_bias: float,
    reg_bias: float,
    fit_bias: bool,
) -> float:
    """One pass over ``ratings`` in ``order``; updates in place, returns the sum of squared
    errors seen before each update (the usual running training loss)."""
    k = user_factors.shape[1]
    one = user_factors.dtype.type(1)
    shrink = one - lr * reg
    sse = 0.0
    for t in range(order.shape[0]):
        j = order[t]
        u = users[j]
        i = items[j]
        p = user_factors[u]
        q = item_factors[i]
        dot = user_factors.dtype.type(0)
        for f in range(k):
            dot += p[f] * q[f]
        if fit_bias:
            err = ratings[j] - (mu + user_bias[u] + item_bias[i] + dot)
            user_bias[u] += lr_bias * (err - reg_bias * user_bias[u])
            item_bias[i] += lr_bias * (err - reg_bias * item_bias[i])
        else:
            err = ratings[j] - dot
        sse += err * err
        step = lr * err
        for f in range(k):
            pf = p[f]
            qf = q[f]
            p[f] = shrink * pf + step * qf
            q[f] = shrink * qf + step * pf
    return sse


def warm_up() -> None:
    """Load (or compile, the first time) the kernel for the types the models use."""
    f = np.float32
    idx = np.zeros(1, dtype=np.int32)
    one = np.zeros(1, dtype=f)
    sgd_epoch(
        idx,
        idx,
        one,
        idx,
        f(0),
        one.copy(),
        one.copy(),
        np.zeros((1, 1), f),
        np.zeros((1, 1), f),
        f(0),
        f(0),
        f(0),
        f(0),
        True,
    )
