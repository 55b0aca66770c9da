"""A penalty chosen by the data: fits on most of the ratings, scored on a held-out share.

No one regularisation wins on every rating set (BENCHMARKS.md, "Defaults": MovieLens 100K
wants 0.1, dense synthetic sets 0.07, in units of the ratings' spread), so where the user gives
none the fit walks a ladder of values from its middle towards the better neighbour, one fit per
rung, and stops where the held-out error rises. The best value falls with the ratings' number
as one over its square root (measured: on each of the six sets, half the ratings choose the
next rung up, 1.45x, a quarter two rungs, 2.1x; on 9M ratings a 1M sample's choice of 0.1
against 0.033 best on all of them), so the rung found on the ratings fitted (a sample of at
most a million on large data) is scaled to the whole set by the square root of their share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

# In units of the ratings' spread; about 1.45x apart. A sample of large data wants the upper
# rungs (23.75M ratings, a sample of a million: 0.22 or more).
LADDER = (0.016, 0.023, 0.033, 0.048, 0.07, 0.1, 0.15, 0.22, 0.32, 0.46)
START = 4  # rungs START and START + 1 (0.07 and 0.1) are fitted first
# Where nothing can be held out (too few ratings), the value MovieLens-like data wants.
FALLBACK = 0.1
HELD_SHARE = 0.1
# At most this many ratings take part: 3 rungs of 20 epochs on a million ratings cost about
# what 3 epochs of the full fit do at 20M ratings.
MAX_RATINGS = 1_000_000


def chosen_on_holdout(
    dataset: Any,
    rng: np.random.Generator,
    held_out_rmse: Callable[[Any, Any, float], float],
) -> float:
    """The rung of :data:`LADDER` with the lowest ``held_out_rmse(fit, held, value)``, where
    ``fit`` and ``held`` split (a sample of) ``dataset`` (``held`` keeps only ratings whose
    user and item occur in ``fit``), times the square root of ``fit``'s share of the ratings,
    to three figures. Draws from ``rng`` once, whatever the data."""
    draws = np.random.default_rng(rng.integers(0, 2**63 - 1))
    n = dataset.n_ratings
    taken = _sample(draws, n, MAX_RATINGS) if n > MAX_RATINGS else np.arange(n)
    held_mask = draws.random(taken.size) < HELD_SHARE
    fit = dataset.subset(taken[~held_mask])
    held = dataset.subset(taken[held_mask])
    known = (np.bincount(fit.users, minlength=dataset.n_users)[held.users] > 0) & (
        np.bincount(fit.items, minlength=dataset.n_items)[held.items] > 0
    )
    if fit.n_ratings == 0 or not known.any():
        return FALLBACK
    held = held.subset(np.flatnonzero(known))
    scores: dict[int, float] = {}

    def score(rung: int) -> float:
        if rung not in scores:
            scores[rung] = held_out_rmse(fit, held, LADDER[rung])
        return scores[rung]

    step = 1 if score(START + 1) < score(START) else -1
    best = START + 1 if step == 1 else START
    while 0 <= best + step < len(LADDER) and score(best + step) < score(best):
        best += step
    return float(f"{LADDER[best] * np.sqrt(fit.n_ratings / n):.3g}")


def _sample(draws: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``size`` distinct indices below ``n`` drawn uniformly, sorted: the first ``size``
    distinct values of draws made in rounds. ``Generator.choice`` without replacement
    shuffled all ``n`` (192 MB of int64 at 24M ratings, the peak of a large fit); finding the
    first of each value by ``np.unique`` sorted the draws (0.13 s of a 9M-rating fit, against
    0.02 for a flag a rating, marked in the order drawn)."""
    from recfactor.kernels.sgd import mark_first

    marks = np.zeros(n, dtype=np.bool_)
    found = 0
    while found < size:
        found = mark_first(draws.integers(0, n, size - found + size // 16 + 64), marks, found, size)
    return np.flatnonzero(marks)
