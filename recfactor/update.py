"""A saved model brought up to date with new ratings: the ratings it was trained on and the new
ones are combined (a new rating of a pair already rated replaces it; implicit counts add up),
and the model is fitted again starting from its own factors, so that the users and items it
knew start where they were and new ones start as a fit would start them.

The model file keeps each user's items but not their ratings, so the ratings it was trained
on are read again (from the file its manifest names, checked against its SHA-256, or from a
file the caller gives).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from recfactor.dataset import Dataset, build_dataset, index_in, merge_duplicates


@dataclass(frozen=True)
class Update:
    """What an update did: the model fitted, and counts for the user."""

    model: Any
    new_users: int
    new_items: int
    new_ratings: int
    replaced: int
    warm: bool

    def summary(self) -> dict[str, Any]:
        return {"new_users": self.new_users, "new_items": self.new_items,
                "new_ratings": self.new_ratings, "replaced": self.replaced,
                "warm_start": self.warm}  # fmt: skip


def combine(base: Dataset, extra: Dataset) -> Dataset:
    """``base`` and ``extra`` as one dataset: the IDs of ``base`` keep their codes, new ones
    follow; a pair in both is rated as in ``extra`` (explicit) or by their sum (implicit)."""
    user_ids = _union(base.user_ids, extra.user_ids)
    item_ids = _union(base.item_ids, extra.item_ids)
    users = np.r_[base.users, index_in(user_ids, extra.user_ids)[extra.users]]
    items = np.r_[base.items, index_in(item_ids, extra.item_ids)[extra.items]]
    values = np.r_[base.ratings, extra.ratings]
    policy = "sum" if base.feedback == "implicit" else "last"
    source = f"{base.source} + {extra.source}"
    users, items, values, lines, seen = merge_duplicates(
        users, items, values, None, 1, len(user_ids), len(item_ids), policy, source, "rating"
    )
    return build_dataset(user_ids, item_ids, users, items, values, lines, base.feedback,
                         source, base.rating_column, unit="rating", seen=seen)  # fmt: skip


def _union(known: np.ndarray, more: np.ndarray) -> np.ndarray:
    fresh = more[index_in(known, more) < 0]
    return np.concatenate([known, fresh]) if len(fresh) else known


def update(
    model: Any,
    base: Dataset,
    extra: Dataset,
    params: dict[str, Any] | None = None,
    on_epoch: Any = None,
) -> Update:
    """``model`` fitted again on ``base`` (the ratings it was trained on) and ``extra`` (new
    ones), from its own factors where its fit can start from them (ALS; svd by SGD), else
    from scratch, with its own settings and ``params`` over them (``epochs``: how many passes
    the update makes)."""
    from recfactor.errors import DataError

    model._require_fitted()
    if extra.feedback != model.feedback_ or base.feedback != model.feedback_:
        raise DataError(f"{extra.source}: {extra.feedback} feedback, but the model was "
                        f"trained on {model.feedback_}",
                        hint=f"read the new ratings as {model.feedback_} feedback "
                        "(`feedback`)")  # fmt: skip
    fresh = type(model)(model.params_class(**{**_own(model.params), **(params or {})}))
    # The new ratings checked on their own first, so that a fault is named by their file's
    # line, not by its position among the combined ratings (NMF's negative values).
    fresh._check_values(extra)
    combined = combine(base, extra).with_side(base.side)  # the attributes, by ID
    # An ensemble is refitted whole: its members would otherwise share one start.
    warm = fresh.warm_starts and fresh.params.ensemble == 1
    scale = None
    if model.rating_scale_ is not None:
        low, high = model.rating_scale_
        scale = (min(low, float(extra.ratings.min())), max(high, float(extra.ratings.max())))
    fresh.fit(combined, rating_scale=scale, on_epoch=on_epoch,
              warm_start=model if warm else None)  # fmt: skip
    pairs = base.n_ratings + extra.n_ratings - combined.n_ratings
    return Update(
        model=fresh,
        new_users=int((index_in(model.user_ids_, combined.user_ids) < 0).sum()),
        new_items=int((index_in(model.item_ids_, combined.item_ids) < 0).sum()),
        new_ratings=extra.n_ratings - pairs,
        replaced=pairs,
        warm=warm,
    )


def _own(params: Any) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
