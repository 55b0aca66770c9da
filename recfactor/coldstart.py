"""Users and items a model has not seen, placed by what is known of them, with no refit: their
attributes (a features file's rows, or ``--user-attrs age=25,gender=F``) and, for users, their
ratings (``--history``).

A bfm model saves, beside its factors, how attributes move a row (a ridge regression of the
known rows' bias and factors on their attributes: ``models.bfm.attribute_map``), where a new
user starts (the average user) and the baseline a new item stands at (a baseline's biases,
which follow the observed ratings). A new row's prediction is that start, moved by how its
attributes differ from the known rows' mean; where a user's ratings are known, its bias also
takes their mean residual, shrunk as if ``BIAS_PRIOR_RATINGS`` more ratings sat at the guess,
and its factors the ridge move its residuals ask for. Each placed row says which path
answered it: ``attributes`` or ``history``.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import numpy as np

from recfactor.errors import ParameterError

# A new user's bias from its ratings: their mean residual, shrunk as if this many more ratings
# sat at the attributes' guess.
BIAS_PRIOR_RATINGS = 5.0


def can_place(model: Any) -> bool:
    """Whether ``model`` places new rows by what is known of them (bfm)."""
    return hasattr(model, "fallback_mean_")


def place_users(
    model: Any, ids: list[str], attributes: Any = None, history: Any = None
) -> tuple[Any, dict[str, str]]:
    """A copy of ``model`` that knows the users ``ids``, each placed from its row of
    ``attributes`` (a matrix in the model's user encoding, one row per ID; None: none) and its
    ratings in ``history`` (a Dataset; None: none). Returns the copy and each user's path
    (``history`` where it has ratings, else ``attributes``)."""
    _require(model, "users")
    from recfactor.dataset import index_in
    from recfactor.models.grow import with_users

    n = len(ids)
    bias, factors = _moved(model, "user", attributes, n)
    average = model.new_user_factors_
    if average is not None:  # moved from the average user (a model saved before: from zero)
        factors += average
        mean, item_bias = model.global_mean_, model.item_bias_
    else:
        mean, item_bias = model.fallback_mean_, model.fallback_item_bias_
    items_of = [np.empty(0, dtype=np.int64)] * n
    paths = {str(u): "attributes" for u in ids}
    if history is not None:
        items_of, ratings_of = _history_rows(model, ids, history)
        for r, items in enumerate(items_of):
            if not len(items):
                continue
            paths[str(ids[r])] = "history"
            guess = (mean + item_bias[items] + bias[r]
                     + model.item_factors_[items].astype(np.float64) @ factors[r])  # fmt: skip
            residual = model.residuals(ratings_of[r], guess)
            shift = residual.sum() / (len(residual) + BIAS_PRIOR_RATINGS)
            bias[r] += shift
            factors[r] += _factor_move(model.item_factors_[items], residual - shift)
    items = np.concatenate(items_of).astype(np.int32) if n else np.empty(0, dtype=np.int32)
    bounds = np.r_[0, np.cumsum([len(i) for i in items_of])]
    placed = with_users(model, np.asarray(ids, dtype=object), factors.astype(np.float32), bias,
                         items, bounds)  # fmt: skip
    rows = index_in(placed.user_ids_, [str(u) for u in ids])
    placed.placed_users_ = _marked(model.placed_users_, len(placed.user_ids_), rows)
    alone = np.array([paths[str(u)] == "attributes" for u in ids], dtype=bool)
    placed.placed_by_attributes_ = _marked(
        getattr(model, "placed_by_attributes_", None), len(placed.user_ids_), rows[alone]
    )
    return placed, paths


def place_items(model: Any, ids: list[str], attributes: Any) -> tuple[Any, dict[str, str]]:
    """A copy of ``model`` that knows the items ``ids`` it did not, each placed from its row
    of ``attributes`` (in the model's item encoding)."""
    _require(model, "items")
    from recfactor.dataset import id_array, index_in

    new = index_in(model.item_ids_, [str(i) for i in ids]) < 0
    bias, factors = _moved(model, "item", attributes, len(ids))
    placed = copy.copy(model)
    start = len(model.item_ids_)
    placed.item_ids_ = id_array([str(i) for i in model.item_ids_]
                                + [str(i) for i, n in zip(ids, new) if n])  # fmt: skip
    placed.item_factors_ = np.vstack([model.item_factors_, factors[new].astype(np.float32)])
    placed.item_bias_ = np.r_[model.item_bias_, bias[new]]
    rows = np.arange(start, len(placed.item_ids_))
    placed.placed_items_ = _marked(model.placed_items_, len(placed.item_ids_), rows)
    return placed, {str(i): "attributes" for i, n in zip(ids, new) if n}


# The penalty of a history's move of a user's factors, per rating (as svd's default reg).
FACTOR_PENALTY = 0.1


def _factor_move(item_factors: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """The move of a user's factors that its ratings' residuals ask for: the ridge solution
    of ``residual ~ item_factors @ d`` with ``FACTOR_PENALTY * n`` on ``|d|^2``, solved in its
    dual form (a system as large as the ratings, not as the saved draws' columns)."""
    q = item_factors.astype(np.float64)
    gram = q @ q.T + FACTOR_PENALTY * len(residual) * np.eye(len(residual))
    return q.T @ np.linalg.solve(gram, residual)


def _moved(model: Any, what: str, attributes: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """How ``attributes`` (n rows) move the rows' bias and factors from the known rows' mean
    (none without attributes, or a model trained without them)."""
    columns = model.item_factors_.shape[1]
    mean = getattr(model, f"{what}_attribute_mean_", None)
    mapping = getattr(model, f"{what}_attribute_map_", None)
    if attributes is None or mapping is None:
        return np.zeros(n), np.zeros((n, columns))
    x = attributes.toarray() if hasattr(attributes, "toarray") else np.asarray(attributes)
    moved = (x - mean) @ mapping
    return moved[:, 0].copy(), np.ascontiguousarray(moved[:, 1:])


def _marked(mask: np.ndarray | None, n: int, rows: np.ndarray) -> np.ndarray:
    """The mask of placed rows over ``n`` rows: ``mask``'s, and ``rows``."""
    out = np.zeros(n, dtype=bool)
    if mask is not None:
        out[: min(len(mask), n)] = mask[:n]
    out[rows[(rows >= 0) & (rows < n)]] = True
    return out


def _require(model: Any, what: str) -> None:
    if not can_place(model):
        raise ParameterError(
            f"this {model.name} model cannot place new {what} by what is known of them",
            hint="train --algo bfm (with --user-features or --item-features for attributes)",
        )


def _history_rows(model: Any, ids: list[str], history: Any):
    """Each user's rated items (the model's indices, known items only) and ratings."""
    from recfactor.dataset import index_in

    items = index_in(model.item_ids_, history.item_ids)[history.items]
    users = index_in(np.array([str(u) for u in ids]), history.user_ids.astype(str))[history.users]
    keep = (items >= 0) & (users >= 0)
    order = np.lexsort((items[keep], users[keep]))
    u, i, r = users[keep][order], items[keep][order], history.ratings[keep][order].astype(float)
    bounds = np.searchsorted(u, np.arange(len(ids) + 1))
    spans = list(itertools.pairwise(bounds))
    return [i[a:b] for a, b in spans], [r[a:b] for a, b in spans]


# What the `cold` column of a prediction says: the pair was learned, or which path answered.
ANSWERS = ("false", "baseline", "attributes", "history")


def prepare(
    model: Any, *, history: Any = None, side: Any = None, attributes: dict[str, Any] | None = None
) -> tuple[Any, dict[str, str], dict[str, str]]:
    """``model`` with what a command knows of rows it has not seen: the users of ``history``
    (placed from their ratings, and their attributes where ``side`` has them: bfm; solved
    against the saved items otherwise: ``recfactor.foldin``), the users and items of ``side``'s
    features that it does not know (bfm), and ``attributes`` ({user ID: encoded row}, from
    ``--user-attrs``). Returns the model and each placed user's and item's path."""
    users: dict[str, str] = {}
    items: dict[str, str] = {}
    user_side = None if side is None else side.user
    if history is not None:
        if can_place(model):
            ids = [str(u) for u in history.user_ids]
            rows = None if user_side is None else user_side.rows_for(ids)
            model, found = place_users(model, ids, rows, history)
        else:
            from recfactor.foldin import fold_in

            model, ids, _ = fold_in(model, history)
            found = {str(u): "history" for u in ids}
        users.update(found)
    named = dict(attributes or {})
    if user_side is not None:
        new = [str(u) for u in user_side.ids if model.user_index([str(u)])[0] < 0]
        model, found = place_users(model, new, user_side.rows_for(new))
        users.update(found)
    if named:
        import scipy.sparse as sp

        ids = list(named)
        model, found = place_users(model, ids, sp.vstack([named[u] for u in ids]))
        users.update(found)
    if side is not None and side.item is not None:
        ids = [str(i) for i in side.item.ids]
        model, found = place_items(model, ids, side.item.rows_for(ids))
        items.update(found)
    return model, users, items


def answers(
    user_ids: np.ndarray, user_codes: np.ndarray, item_ids: np.ndarray, item_codes: np.ndarray,
    cold: np.ndarray, users: dict[str, str], items: dict[str, str],
) -> np.ndarray:  # fmt: skip
    """Each pair's entry of :data:`ANSWERS` as codes: 0 learned, 1 a side unknown (the
    baseline), else the placed side's path (the user's first)."""
    from recfactor.dataset import index_in

    out = np.zeros(len(cold), dtype=np.int8)
    for ids, codes, paths in ((item_ids, item_codes, items), (user_ids, user_codes, users)):
        if paths:  # the user's path wins
            known = np.array(list(paths), dtype=str)
            path = np.array([ANSWERS.index(p) for p in paths.values()] + [0], dtype=np.int8)
            by_id = path[index_in(known, np.asarray(ids).astype(str))]  # -1: the last, "false"
            out = np.where(by_id[codes] > 0, by_id[codes], out)
    return np.where(cold, 1, out).astype(np.int8)
