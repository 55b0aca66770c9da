"""Whether a model's nearest-neighbour items would survive another seed: the same settings
fitted again from another start, and each item's top-k neighbours compared between the two.

Item factors are determined only up to the freedoms of the factorization (a rotation, a
rescaling of factors), and a fit that stops before the optimum keeps some of its random
start; cosine neighbours inherit both. ``train`` measures this where a second fit is cheap and
records it in the model's manifest, so that ``similar`` can say when its lists are one draw
among many.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Items compared: the most-rated (their neighbours are the ones people look up), at most this
# many, so the check costs two small matrix products whatever the catalogue's size.
SAMPLE_ITEMS = 300
NEIGHBOURS = 10
# Below this share of neighbours kept, `similar` says its lists are not stable.
STABLE_SHARE = 0.5


def neighbour_stability(first: Any, second: Any, k: int = NEIGHBOURS) -> dict[str, Any] | None:
    """The share of each sampled item's ``k`` nearest neighbours (cosine of item factors) that
    ``first`` and ``second`` (the same data and settings, two seeds) agree on, averaged over
    up to :data:`SAMPLE_ITEMS` most-rated items, and what chance alone would give; None where
    the models have no item factors or too few items."""
    if first.item_factors_ is None or second.item_factors_ is None:
        return None
    n_items = len(first.item_ids_)
    k = min(k, n_items - 1)
    if k < 1 or list(first.item_ids_) != list(second.item_ids_):
        return None
    sample = _most_rated(first, SAMPLE_ITEMS)
    a, _ = first.similar_index(sample, k)
    b, _ = second.similar_index(sample, k)
    kept = [len(set(x[x >= 0]) & set(y[y >= 0])) / k for x, y in zip(a, b)]
    return {"k": k, "items": len(sample), "seeds": [first.params.seed, second.params.seed],
            "shared": round(float(np.mean(kept)), 4),
            "chance": round(k / (n_items - 1), 4)}  # fmt: skip


def _most_rated(model: Any, limit: int) -> np.ndarray:
    n_items = len(model.item_ids_)
    if model.seen_items_ is None:
        return np.arange(min(n_items, limit))
    counts = np.bincount(model.seen_items_, minlength=n_items)
    return np.sort(np.argsort(-counts, kind="stable")[:limit])


def unstable_note(record: dict[str, Any] | None) -> str | None:
    """What `similar` says of a model whose neighbours another seed would change (None when
    they are stable, or were not measured)."""
    if not record or record.get("shared") is None or record["shared"] >= STABLE_SHARE:
        return None
    k = record["k"]
    return (f"note: these neighbours are not stable across seeds: fitted again from another "
            f"seed, {record['shared'] * k:.1f} of each item's {k} nearest stay the same "
            f"(chance: {record['chance'] * k:.1f}); read them as one draw among many")  # fmt: skip
