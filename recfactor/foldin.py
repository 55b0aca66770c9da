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

import copy
from typing import Any

import numpy as np

from recfactor.errors import DataError, ParameterError


def fold_in(model: Any, history: Any) -> tuple[Any, list[str], int]:
    """A copy of ``model`` that also knows the users of ``history`` (a Dataset of their
    ratings or interactions), each solved from their own rows (a user the model knew is
    solved again from the history alone). Returns the copy, the users folded in, and how many
    history rows named an item the model does not know (left out)."""
    model._require_fitted()
    from recfactor import coldstart

    if coldstart.can_place(model):  # bfm places a user by its ratings with no solve
        placed, paths = coldstart.place_users(model, [str(u) for u in history.user_ids], None,
                                              history)  # fmt: skip
        known = placed.item_index(history.item_ids)[history.items] >= 0
        users = [u for u, path in paths.items() if path == "history"]
        return placed, users, int((~known).sum())
    setting = model.fold_in_
    if setting is None or model.item_factors_ is None:
        saved_before = model.name in ("svd", "als") and model.item_factors_ is not None
        raise ParameterError(
            f"this {model.name} model cannot fold new users in"
            + (" (it was saved by an older recfactor, or fitted by truncated SVD)"
               if saved_before else ""),
            hint="fold-in works on svd (sgd), als and nmf (ratings) models; train one again",
        )  # fmt: skip
    from recfactor.dataset import index_in

    items = index_in(model.item_ids_, history.item_ids)[history.items]
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
    folded = _with_users(model, history.user_ids[present], np.array(rows), np.array(biases),
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
    confidence = setting["alpha"] * values / setting["value_scale"]
    q = y[items]
    reg = setting["reg"] * (len(items) if setting.get("per_rating", False) else 1)
    system = y.T @ y + (q.T * confidence) @ q + reg * np.eye(y.shape[1])
    return np.linalg.solve(system, q.T @ (1.0 + confidence)), 0.0


def _with_users(model, ids, rows, biases, items, bounds) -> Any:
    """``model`` with the folded users' rows appended, or put in place of their old rows."""
    from recfactor.dataset import id_array, index_in

    folded = copy.copy(model)
    at = index_in(model.user_ids_, ids)
    new = at < 0
    positions = at.copy()
    positions[new] = len(model.user_ids_) + np.arange(int(new.sum()))
    total = len(model.user_ids_) + int(new.sum())
    added = [str(x) for x in np.asarray(ids, dtype=object)[new]]
    folded.user_ids_ = id_array([str(x) for x in model.user_ids_] + added)
    factors = np.zeros((total, rows.shape[1]), dtype=model.user_factors_.dtype)
    factors[: len(model.user_ids_)] = model.user_factors_
    factors[positions] = rows
    folded.user_factors_ = factors
    if model.user_bias_ is not None:
        user_bias = np.zeros(total)
        user_bias[: len(model.user_bias_)] = model.user_bias_
        if model.uses_bias_:
            user_bias[positions] = biases
        folded.user_bias_ = user_bias
    folded.seen_indptr_, folded.seen_items_ = _seen(model, positions, items, bounds, total)
    return folded


def _seen(model, positions, items, bounds, total):
    """Each user's seen items: the model's, with the folded users' history instead (None
    where the model was loaded without them, as ``predict`` loads it)."""
    if model.seen_indptr_ is None:
        return None, None
    old_counts = np.diff(model.seen_indptr_)
    keep = np.ones(len(old_counts), dtype=bool)
    keep[positions[positions < len(old_counts)]] = False
    old_users = np.repeat(np.arange(len(old_counts)), old_counts)
    kept = np.repeat(keep, old_counts)
    new_users = np.repeat(positions, np.diff(bounds))
    users = np.concatenate([old_users[kept], new_users])
    seen = np.concatenate([model.seen_items_[kept], items]).astype(np.int32)
    order = np.argsort(users, kind="stable")
    indptr = np.zeros(total + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=total), out=indptr[1:])
    return indptr, seen[order]
