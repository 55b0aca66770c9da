"""A fitted model with users added, or put in place of their old rows: what fold-in
(recfactor.foldin) and placement (recfactor.coldstart) give back, the model itself left as it
was."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np


def with_users(model: Any, ids: Any, rows: np.ndarray, biases: np.ndarray, items: np.ndarray,
               bounds: np.ndarray) -> Any:  # fmt: skip
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


def without_users(model: Any) -> Any:
    """A copy of ``model`` that knows no user, its items whole, and that counts the users'
    ratings it left out as training ratings of their items: a new user folded into it
    (recfactor.foldin) gets the list it would get folded into the whole model, without a
    copy of every known user's rows (a server folds one user in at each request). For the
    models whose users are their factors, biases and seen items alone: those that fold users
    in by a solve (``fold_in_``); None for the others (bfm places users, and keeps more of
    them than their rows)."""
    from recfactor import popularity
    from recfactor.dataset import id_array

    if model.fold_in_ is None or hasattr(model, "place_history"):
        return None
    empty = copy.copy(model)
    empty.left_out_counts_ = popularity.item_counts(model)
    empty.user_ids_ = id_array([])
    empty.user_factors_ = model.user_factors_[:0]
    if model.user_bias_ is not None:
        empty.user_bias_ = model.user_bias_[:0]
    if model.seen_indptr_ is not None:
        empty.seen_indptr_ = np.zeros(1, dtype=model.seen_indptr_.dtype)
        empty.seen_items_ = model.seen_items_[:0]
    return empty
