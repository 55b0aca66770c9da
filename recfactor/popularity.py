"""How many training ratings each item of a model had, and the floor below which `recommend` and
`similar` leave an item out by default.

A factor model ranks an item rated once or twice by factors fitted to almost nothing: on
MovieLens 100K, ALS recommended films rated once, and a one-rating film came first among Toy
Story's neighbours. The default floor follows the data: 5% of the mean ratings per item, at
least 1 (MovieLens 100K: 3, leaving out 209 of 1,682 films; a small set: 1, leaving out none).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# The default floor as a share of the mean number of ratings per item.
FLOOR_SHARE = 0.05


def item_counts(model: Any) -> np.ndarray | None:
    """Training ratings per item (None where the model file does not keep them), with those of
    the users a copy of the model left out (:func:`recfactor.models.grow.without_users`).
    Counted once for each array of seen items: a server asks it at every request (20 ms on
    10M ratings); the array must not be changed in place."""
    if model.seen_items_ is None:
        return None
    memo = model.__dict__.get("_counts_memo")
    if memo is not None and memo[0] is model.seen_items_:
        return memo[1]
    counts = np.bincount(model.seen_items_, minlength=len(model.item_ids_))
    others = getattr(model, "left_out_counts_", None)
    if others is not None:
        counts += others
    model._counts_memo = (model.seen_items_, counts)
    return counts


def default_floor(counts: np.ndarray) -> int:
    """The default `min_ratings` for items rated ``counts`` times."""
    if len(counts) == 0:
        return 1
    return max(1, round(FLOOR_SHARE * float(counts.mean())))
