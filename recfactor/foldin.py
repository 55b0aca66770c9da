"""Users the model has not seen, folded in without retraining: each new user's row is solved
against the saved item factors (and biases), as the fit would have solved it with the items
held fixed.

Explicit models (svd by SGD, ALS): the ridge regression the fit's objective gives one user,
``sum_i (r_ui - mu - b_i - b_u - p_u . q_i)^2 + n_u (lambda_f |p_u|^2 + lambda_b b_u^2)``,
solved exactly (for svd this is the point its SGD moves towards; a closed form makes the
result independent of any order of the ratings). Implicit ALS: Hu, Koren and Volinsky's
weighted least squares for one row, with the saved confidence settings. One small solve per
user; any number of users in one pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recfactor.errors import DataError, ParameterError
from recfactor.models.grow import with_users


def fold_in(model: Any, history: Any) -> tuple[Any, list[str], int]:
    """A copy of ``model`` that also knows the users of ``history`` (a Dataset of their
    ratings or interactions), each solved from their own rows (a user the model knew is
    solved again from the history alone). Returns the copy, the users folded in, and how many
    history rows named an item the model does not know (left out)."""
    from recfactor.dataset import Dataset

    model._require_fitted()
    if not isinstance(history, Dataset):
        raise ParameterError(
            f"fold_in takes the new users' ratings as a Dataset, not {type(history).__name__}",
            hint="build one with Dataset.from_arrays(users, items, ratings)",
        )
    if hasattr(model, "place_history"):  # bfm places a user by its ratings with no solve
        return model.place_history(history)
    setting = model.fold_in_
    if setting is None or model.item_factors_ is None:
        saved_before = model.name in ("svd", "als") and model.item_factors_ is not None
        raise ParameterError(
            f"this {model.name} model cannot fold new users in"
            + (" (it was saved by an older recfactor, or fitted by truncated SVD)"
               if saved_before else ""),
            hint="fold-in works on svd (sgd), als and nmf (ratings) models; train one again",
        )  # fmt: skip
    items = model.item_index(history.item_ids)[history.items]
    known = items >= 0
    if not known.any():
        raise DataError(f"{history.source}: none of its items is in the model",
                        hint="give ratings of items the model was trained on")  # fmt: skip
    users, items, values = history.users[known], items[known], history.ratings[known]
    order = np.lexsort((items, users))
    users, items, values = users[order], items[order], values[order]
    present = np.unique(users)
    starts = np.searchsorted(users, present)
    ends = np.r_[starts[1:], len(users)]
    solve = _implicit_row if setting["kind"] == "implicit" else _ridge_row
    rows, biases = [], []
    from recfactor.running import blas

    # One BLAS thread: each solve is small, and a second thread only adds a hand-over per
    # solve, which on a busy machine waits for a core every time (2,000 users: 75 s with two
    # threads beside two busy processes, 2.1 s with one). The fits run so already.
    with blas.threads(1):
        for a, b in zip(starts, ends):
            factors, bias = solve(model, setting, items[a:b], values[a:b])
            rows.append(factors)
            biases.append(bias)
    folded = with_users(model, history.user_ids[present], np.array(rows), np.array(biases),
                         items, np.r_[starts, len(users)])  # fmt: skip
    return folded, [str(x) for x in history.user_ids[present]], int((~known).sum())


def _ridge_row(model: Any, setting: dict, items: np.ndarray, ratings: np.ndarray):
    q = model.item_factors_[items].astype(np.float64)
    target = ratings.astype(np.float64)
    biased = model.uses_bias_
    if biased:
        target = target - model.global_mean_ - model.item_bias_[items]
        q = np.hstack([q, np.ones((len(items), 1))])
    n = len(items) if setting.get("per_rating", True) else 1
    penalty = np.full(q.shape[1], setting["factor_reg"] * n)
    if biased:
        penalty[-1] = setting["bias_reg"] * n
    # Floored as the fit floors its pivots: a user of one rating at reg 0 stays solvable.
    penalty = np.maximum(penalty, 1e-9)
    if setting.get("nonnegative"):
        # Non-negative factors, a bias of either sign (as the fits keep them): bounded least
        # squares on the penalised system.
        from scipy.optimize import lsq_linear

        low = np.zeros(q.shape[1])
        if biased:
            low[-1] = -np.inf
        system = np.vstack([q, np.diag(np.sqrt(penalty))])
        solution = lsq_linear(system, np.r_[target, np.zeros(len(penalty))], bounds=(low, np.inf),
                              method="bvls").x  # fmt: skip
    else:
        solution = np.linalg.solve(q.T @ q + np.diag(penalty), q.T @ target)
    if biased:
        return solution[:-1], solution[-1]
    return solution, 0.0


def _implicit_row(model: Any, setting: dict, items: np.ndarray, values: np.ndarray):
    y = model.item_factors_.astype(np.float64)
    confidence = setting["alpha"] * values.astype(np.float64) / setting["value_scale"]
    q = y[items]
    reg = setting["reg"] * (len(items) if setting.get("per_rating", False) else 1)
    system = y.T @ y + (q.T * confidence) @ q + reg * np.eye(y.shape[1])
    return np.linalg.solve(system, q.T @ (1.0 + confidence)), 0.0
