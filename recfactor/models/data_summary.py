"""What a factor model keeps of its training data besides the factors: the IDs, the rating
scale, the fallback for unknown users and items, each user's seen items.

A local fit reads them off its Dataset; a fit on a cluster computes them where the ratings
are (recfactor.spark_engine) and sends the driver this, whose size grows with the users and
items (and the seen items' four bytes each), never with whole ratings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DataSummary:
    """``baseline`` (explicit feedback: the global mean, user and item biases at the
    baseline's default settings) answers for unknown users and items; ``item_counts``
    (implicit feedback: each item's number of interactions) gives popularity. ``seen`` is
    each user's items, sorted, as CSR (indptr int64, items int32)."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    feedback: str
    rating_range: tuple[float, float] | None
    baseline: tuple[float, np.ndarray, np.ndarray] | None
    item_counts: np.ndarray | None
    seen: tuple[np.ndarray, np.ndarray]

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @classmethod
    def of(cls, dataset: object, baseline: bool = True) -> DataSummary:
        """The summary of a local Dataset (``baseline``: fit the fallback's biases; a model
        whose own biases answer for unknown sides needs none)."""
        from recfactor.kernels.pairs import seen_by_user
        from recfactor.models.biases import baseline_estimates

        explicit = dataset.feedback == "explicit"
        seen = dataset.seen_by_user
        if seen is None:
            seen = seen_by_user(dataset.users, dataset.items, dataset.n_users)[:2]
        return cls(
            dataset.user_ids, dataset.item_ids, dataset.feedback,
            (float(dataset.ratings.min()), float(dataset.ratings.max())) if explicit else None,
            baseline_estimates(dataset) if explicit and baseline else None,
            None if explicit else np.bincount(dataset.items, minlength=dataset.n_items),
            tuple(seen),
        )  # fmt: skip
