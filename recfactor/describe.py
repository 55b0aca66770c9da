"""Dataset statistics for ``recfactor describe``."""

from __future__ import annotations

from typing import Any

import numpy as np

from recfactor.io.ratings import Dataset


def describe(dataset: Dataset) -> dict[str, Any]:
    """Size, density, per-user and per-item counts, value histogram and the long tail."""
    per_user = np.bincount(dataset.users, minlength=dataset.n_users)
    per_item = np.bincount(dataset.items, minlength=dataset.n_items)
    by_popularity = np.sort(per_item)[::-1]
    head = max(1, int(np.ceil(0.2 * dataset.n_items)))
    values, counts = np.unique(dataset.ratings, return_counts=True)
    if len(values) > 20:  # continuous values: ten equal-width bins instead of one per value
        counts, edges = np.histogram(dataset.ratings, bins=10)
        labels = [f"{edges[k]:.3g}-{edges[k + 1]:.3g}" for k in range(10)]
    else:
        labels = [f"{v:g}" for v in values]
    return {
        "source": dataset.source,
        "feedback": dataset.feedback,
        "users": dataset.n_users,
        "items": dataset.n_items,
        "ratings": dataset.n_ratings,
        "density": dataset.density,
        "rating_min": float(dataset.ratings.min()),
        "rating_max": float(dataset.ratings.max()),
        "rating_mean": float(dataset.ratings.mean(dtype=np.float64)),
        "ratings_per_user_min": int(per_user.min()),
        "ratings_per_user_median": float(np.median(per_user)),
        "ratings_per_user_max": int(per_user.max()),
        "ratings_per_item_min": int(per_item.min()),
        "ratings_per_item_median": float(np.median(per_item)),
        "ratings_per_item_max": int(per_item.max()),
        "top_20pct_items_share": float(by_popularity[:head].sum() / dataset.n_ratings),
        "items_with_under_5_ratings": int((per_item < 5).sum()),
        "users_with_under_5_ratings": int((per_user < 5).sum()),
        "histogram": [{"value": lab, "count": int(c)} for lab, c in zip(labels, counts)],
    }
