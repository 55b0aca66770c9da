"""Whether each user's top-N list survives another seed: the overlap of the seeds' lists
(Jaccard and rank-biased overlap at N), by user activity and item popularity, each beside what
two unrelated rankings of the same candidates would share.

The lists are those of each seed's fit to all the data (the same data for every seed), for up
to ``LIST_USERS`` users spread evenly over the user index, each list drawn from the items the
user has not rated (as ``recommend`` gives them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Users whose lists are compared: all of them up to this many, else this many evenly spaced
# (the comparison is a mean over users: 2,000 give it to about +-0.01).
LIST_USERS = 2000
# Rank-biased overlap's persistence (Webber, Moffat and Zobel 2010): the weight of depth d is
# p^(d-1); at 0.9 the top 10 carry about 86% of the weight.
RBO_P = 0.9
QUARTILES = 4


def list_users(n_users: int) -> np.ndarray:
    """The user indices whose lists are compared."""
    if n_users <= LIST_USERS:
        return np.arange(n_users)
    return np.unique(np.linspace(0, n_users - 1, LIST_USERS).astype(np.int64))


def top_lists(model: Any, users: np.ndarray, n: int) -> np.ndarray:
    """Each user's top ``n`` unrated items (item indices; -1 pads a short list)."""
    return model.recommend_index(users, n, exclude_seen=True)[0].astype(np.int32)


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, |A and B| / |A or B| of two lists of item indices (-1: no item)."""
    shared = _shared(a, b)
    sizes = (a >= 0).sum(axis=1) + (b >= 0).sum(axis=1) - shared
    return np.where(sizes > 0, shared / np.maximum(sizes, 1), 1.0)


def rbo(a: np.ndarray, b: np.ndarray, p: float = RBO_P) -> np.ndarray:
    """Per row, the extrapolated rank-biased overlap of two top-N lists: the agreement at each
    depth weighted by p^d, 1 for the same list in the same order."""
    n = a.shape[1]
    agreement = np.empty((len(a), n))
    for d in range(1, n + 1):
        agreement[:, d - 1] = _shared(a[:, :d], b[:, :d]) / d
    return _rbo_from_agreement(agreement, p)


def chance_levels(candidates: np.ndarray, n: int, p: float = RBO_P) -> tuple[float, float]:
    """(Jaccard, RBO) of two rankings drawn independently at random from each user's
    ``candidates`` items, averaged over the users: the null an agreement is read against. Two
    random top-n lists of C items share n^2 / C items on average, and their first d share
    d^2 / C."""
    c = np.maximum(candidates.astype(np.float64), 1.0)
    size = np.minimum(n, c)
    shared = size * size / c
    jac = shared / np.maximum(2 * size - shared, 1e-12)
    depth = np.arange(1, n + 1, dtype=np.float64)
    agreement = np.minimum(depth[None, :], c[:, None]) / c[:, None]
    return float(jac.mean()), float(_rbo_from_agreement(agreement, p).mean())


def compare_lists(
    lists: list[np.ndarray],
    candidates: np.ndarray,
    user_activity: np.ndarray,
    item_popularity: np.ndarray,
) -> dict[str, Any] | None:
    """The agreement of the seeds' lists (one array of users x N per seed, the same users in
    each), averaged over every pair of seeds; None with fewer than two seeds.

    ``candidates``, ``user_activity``: per listed user, the items it could be recommended and
    its training ratings; ``item_popularity``: every item's training ratings. Breakdowns by
    quartile: the Jaccard of the users in each quartile of activity (least active first), and
    for the items of each popularity quartile (least rated first) the share of a seed's
    listed items that the other seed lists too."""
    lists = [x for x in lists if x is not None]
    if len(lists) < 2:
        return None
    n = lists[0].shape[1]
    by_user = _quartiles(user_activity)
    item_q = _quartiles(item_popularity)
    jac, ranked, kept, listed = [], [], np.zeros(QUARTILES), np.zeros(QUARTILES)
    for s in range(len(lists)):
        for t in range(s + 1, len(lists)):
            a, b = lists[s], lists[t]
            jac.append(jaccard(a, b))
            ranked.append(rbo(a, b))
            for x, y in ((a, b), (b, a)):  # both directions: each seed's items in the other
                found = (x[:, :, None] == y[:, None, :]).any(axis=2) & (x >= 0)
                q = item_q[np.maximum(x, 0)]
                for k in range(QUARTILES):
                    here = (q == k) & (x >= 0)
                    listed[k] += here.sum()
                    kept[k] += (found & here).sum()
    per_user = np.mean(jac, axis=0)
    chance_jac, chance_rbo = chance_levels(candidates, n)
    return {
        "list_n": n,
        "list_users": len(per_user),
        "list_jaccard": float(per_user.mean()),
        "chance_list_jaccard": chance_jac,
        "list_rbo": float(np.mean(ranked)),
        "chance_list_rbo": chance_rbo,
        "list_jaccard_by_activity": [
            _mean_or_none(per_user[by_user == k]) for k in range(QUARTILES)
        ],
        "list_kept_by_popularity": [
            float(kept[k] / listed[k]) if listed[k] else None for k in range(QUARTILES)
        ],
    }


def _shared(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, how many items (not -1) the two lists have in common."""
    return ((a[:, :, None] == b[:, None, :]) & (a[:, :, None] >= 0)).any(axis=2).sum(axis=1)


def _rbo_from_agreement(agreement: np.ndarray, p: float) -> np.ndarray:
    """RBO_ext (Webber et al. 2010, eq. 30) from the agreement ``X_d / d`` at depths 1..n."""
    n = agreement.shape[1]
    weights = p ** np.arange(1, n + 1)
    return agreement[:, -1] * p**n + (1 - p) / p * (agreement * weights).sum(axis=1)


def _quartiles(values: np.ndarray) -> np.ndarray:
    """Each value's quartile, 0 (lowest) to 3, by rank (ties broken by position), so that
    every quartile holds a quarter even where many values are equal."""
    order = np.argsort(values, kind="stable")
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = np.arange(len(values))
    return np.minimum(rank * QUARTILES // max(len(values), 1), QUARTILES - 1)


def _mean_or_none(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None
