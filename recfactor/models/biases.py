"""Regularised user and item biases: the baseline model's fit, and the fallback of every
factor model for unknown users and items (kept apart from both, which import it)."""

from __future__ import annotations

import numpy as np

from recfactor.models.declarations import BIAS_EPOCHS, BIAS_REG_I, BIAS_REG_U


def warm_up() -> None:
    """Load (or compile) the bias kernel before fits are timed."""
    from recfactor.kernels import load
    from recfactor.kernels.baseline import als_biases

    one, zero = np.zeros(1, dtype=np.int32), np.zeros(1)
    load(als_biases, one, one, zero, 0.0, zero, zero, zero, zero, 1, 1.0, 1.0)


def fit_biases(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    n_users: int,
    n_items: int,
    epochs: int,
    reg_u: float,
    reg_i: float,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Regularised biases by alternating closed-form updates (Koren 2010, section 2.1).

    Each update is the exact minimiser of the squared error plus ``reg * b^2`` for one side with
    the other side fixed, so the objective never increases.
    """
    from recfactor.kernels.baseline import als_biases

    ratings = ratings.astype(np.float64, copy=False)
    mu = float(ratings.mean())
    count_u = np.bincount(users, minlength=n_users).astype(np.float64)
    count_i = np.bincount(items, minlength=n_items).astype(np.float64)
    b_u, b_i = np.zeros(n_users), np.zeros(n_items)
    # A call at most EPOCH_WORK ratings x epochs long, so that Ctrl-C (handled between calls)
    # stops a fit of many epochs within a second.
    per_call = max(1, EPOCH_WORK // max(len(ratings), 1))
    for first in range(0, epochs, per_call):
        rounds = min(per_call, epochs - first)
        als_biases(users, items, ratings, mu, count_u, count_i, b_u, b_i, rounds, reg_u, reg_i)
    return mu, b_u, b_i


# Ratings x epochs per kernel call (about 0.05 s).
EPOCH_WORK = 20_000_000


def baseline_estimates(dataset) -> tuple[float, np.ndarray, np.ndarray]:
    """``mu, b_u, b_i`` of ``dataset`` with the default baseline settings."""
    return fit_biases(
        dataset.users, dataset.items, dataset.ratings, dataset.n_users, dataset.n_items,
        BIAS_EPOCHS, BIAS_REG_U, BIAS_REG_I,
    )  # fmt: skip
