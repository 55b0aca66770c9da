"""Top-N lists ranked in float32 first, then exactly: a single-precision product of a user's
factors with every item's reads half the memory of the double-precision one (100,000 items at
k=64: 26 MB against 51 MB, 0.6 ms against 1.2-2.5 ms a user), and it is off from the exact
score by at most ``k * 2^-24 * |p| * |q|`` (the rounding of a float32 sum of k products, in
any order). Every item whose float32 score is within twice that bound of the n-th best
survives the screen; those few are scored again in float64 and ranked as
:func:`recfactor.models.scoring.top_n` ranks (best first, ties by lower index). The list is
the one the exact scores of all items give.

For the models scored by the plain ``mu + b_u + b_i + p_u . q_i`` with float32 factors (not
bfm, whose lists also weigh popularity).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recfactor.models.kept import kept, ranked

# Up to this many users at a time (a server's requests) by numpy (:func:`top`); a larger
# block by one compiled pass a row (:func:`block_top`).
MAX_USERS = 16
# Rounding of a float32 sum of k products is at most k * 2^-24 of the sum of their sizes
# (Higham's gamma_k, to first order); doubled for the float64 additions after it.
_UNIT = 2.0**-24
_SAFETY = 2.0


def applies(model: Any) -> bool:
    """Whether ``model``'s factors may be screened in float32 (its caller knows whether its
    scores are the plain ones)."""
    return (
        model.user_factors_ is not None
        and model.item_factors_ is not None
        and model.user_factors_.dtype == np.float32
        and model.item_factors_.dtype == np.float32
    )


def top(model: Any, block: np.ndarray, n: int, exclude_seen: bool,
        hidden: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The top ``n`` items (indices, exact scores) of each user index in ``block``, never the
    ``hidden`` items."""
    p = model.user_factors_[block]
    q = model.item_factors_
    # One user (a server's request): a matrix-vector product, twice as fast as the matrix
    # product numpy would call for a one-row matrix.
    product = (q @ p[0])[None, :] if len(block) == 1 else p @ q.T
    term, user_term = _terms(model, block)
    approx = np.add(product, term, dtype=np.float64)
    del product
    model._rank_out(approx, block, exclude_seen,
                    np.zeros(0, dtype=np.int64) if hidden is None else hidden)  # fmt: skip
    high = np.isnan(approx) | (approx == np.inf)  # never listed: out of the partition
    if high.any():
        approx[high] = -np.inf
    bound = _bound(model, p.astype(np.float64), term)
    m = approx.shape[1]
    n = min(n, m)
    kth = np.partition(approx, m - n, axis=1)[:, m - n]
    if len(block) == 1:
        c = np.flatnonzero(approx[0] >= kth[0] - 2.0 * bound[0])
        r = np.zeros(len(c), dtype=np.int64)
    else:
        r, c = np.nonzero(approx >= (kth - 2.0 * bound)[:, None])
    finite = np.isfinite(approx[r, c])
    r, c = r[finite], c[finite]
    exact = np.einsum("ij,ij->i", p[r].astype(np.float64), q[c].astype(np.float64))
    exact += term[c] + user_term[r]
    return ranked(r, c, exact, len(block), n)


def block_top(model: Any, block: np.ndarray, approx: np.ndarray, n: int
              ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """:func:`top` for a large block of users whose single-precision products ``approx`` are
    made (-inf where an item may not be listed): screened and ranked in one compiled pass a
    row (kernels/ranking.py), the same lists."""
    from recfactor.kernels.ranking import screened_rows, warm_up_screened

    warm_up_screened()
    p = model.user_factors_[block].astype(np.float64)
    term, user_term = _terms(model, block)
    bound = _bound(model, p, term)
    idx, val = np.empty((len(block), n), dtype=np.int64), np.empty((len(block), n))
    screened_rows(approx, np.asarray(term, dtype=np.float64), user_term, bound, p,
                  model._items64(), n, idx, val)  # fmt: skip
    return idx, val


def _bound(model: Any, p: np.ndarray, term: np.ndarray) -> np.ndarray:
    """How far each user's (row of ``p``) float32 score of any item may be from the exact
    one: the rounding of k products, and of the float64 additions of the item ``term``."""
    largest_q = float(_item_norms(model).max()) if len(model.item_ids_) else 0.0
    bound = _SAFETY * p.shape[1] * _UNIT * np.linalg.norm(p, axis=1) * largest_q
    return bound + 1e-12 * (1.0 + (float(np.abs(term).max()) if len(term) else 0.0))


def keep(model: Any) -> None:
    """Make what :func:`top` reuses (the items' norms, mu + b_i) now."""
    _item_norms(model)
    if model.item_bias_ is not None:
        _kept_term(model)


def _terms(model: Any, block: np.ndarray) -> tuple[Any, np.ndarray]:
    """The item term (mu + b_i) and each user's b_u, as ``_scores`` adds them."""
    if not model.uses_bias_:
        return np.zeros(len(model.item_ids_)), np.zeros(len(block))
    term = _kept_term(model)
    user = np.zeros(len(block)) if model.user_bias_ is None else model.user_bias_[block]
    return term, np.asarray(user, dtype=np.float64)


def _kept_term(model: Any) -> np.ndarray:
    """mu + b_i, kept for each array of item biases (the mean goes with them)."""
    if model.item_bias_ is None:
        return np.full(len(model.item_ids_), model.global_mean_)
    return kept(model, "item_bias_", f"item_term_{model.global_mean_!r}",
                 lambda bias: model.global_mean_ + bias)  # fmt: skip


def _item_norms(model: Any) -> np.ndarray:
    return kept(model, "item_factors_", "item_norms",
                 lambda q: np.linalg.norm(np.asarray(q, dtype=np.float64), axis=1))  # fmt: skip
