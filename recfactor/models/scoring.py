"""What a fitted model answers, the same for every model: predictions for (user, item) pairs
(the baseline for an unknown side, clipped to the rating scale), top-N lists, the nearest items
by cosine similarity of their factors."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from recfactor.dataset import id_strings, index_in
from recfactor.errors import ColdStartError, ParameterError
from recfactor.models.kept import kept, ranked

# Up to this many IDs, a kept lookup table answers one ID at a time (beyond, a sort wins).
TABLE_LOOKUPS = 4096


def _looked_up(model: Any, name: str, ids: Any) -> np.ndarray:
    """:func:`index_in` of ``ids`` in the model's vocabulary ``name``, through the table
    :meth:`Scoring.keep_ready` made where it still matches the vocabulary."""
    vocabulary = getattr(model, name)
    memo = model.__dict__.get(f"_lookup_{name}")
    query = id_strings(ids).ravel()
    if memo is None or memo[0] is not vocabulary or len(query) > TABLE_LOOKUPS:
        return index_in(vocabulary, query)
    get = memo[1].get
    return np.fromiter((get(q, -1) for q in query.tolist()), dtype=np.int64, count=len(query))


@dataclass(frozen=True)
class Predictions:
    """Predicted values for (user, item) pairs, and which pairs had an unknown side."""

    values: np.ndarray  # (n,) float64
    cold: np.ndarray  # (n,) bool


class Scoring:
    """The answers of a fitted :class:`recfactor.models.base.Model` (a mixin: the fitted
    arrays are the model's)."""

    # What answers for a user the model does not know, in words (the command line's note).
    unknown_user_answer = "the baseline"

    def predict(self, users: Any, items: Any, *, strict: bool = False) -> Predictions:
        """Predict for parallel sequences of user and item IDs (strings or anything printable).

        Unknown IDs fall back to the baseline (``mu + b_i``, ``mu + b_u`` or ``mu``) and are
        flagged in ``cold``; with ``strict`` they raise :class:`ColdStartError` instead.
        """
        self._require_fitted()
        u = self.user_index(users)
        i = self.item_index(items)
        if len(u) != len(i):
            raise ParameterError(f"{len(u)} users and {len(i)} items: predict takes them in pairs",
                                 hint="give one user and one item a pair")  # fmt: skip

        def name(side: str, k: int) -> str:
            return str(id_strings(users if side == "user" else items).ravel()[k])

        return self._predict_known(u, i, strict, name)

    def predict_coded(
        self,
        user_ids: np.ndarray,
        user_codes: np.ndarray,
        item_ids: np.ndarray,
        item_codes: np.ndarray,
        *,
        strict: bool = False,
    ) -> Predictions:
        """:meth:`predict` for pair ``j`` = (``user_ids[user_codes[j]]``,
        ``item_ids[item_codes[j]]``): each distinct ID is looked up once, not once a pair."""
        self._require_fitted()
        u = self.user_index(user_ids)[user_codes]
        i = self.item_index(item_ids)[item_codes]

        def name(side: str, k: int) -> str:
            return str(user_ids[user_codes[k]] if side == "user" else item_ids[item_codes[k]])

        return self._predict_known(u, i, strict, name)

    def _predict_known(
        self, u: np.ndarray, i: np.ndarray, strict: bool, name: Callable[[str, int], str]
    ) -> Predictions:
        cold = (u < 0) | (i < 0)
        if strict and cold.any():
            k = int(np.argmax(cold))
            side = "user" if u[k] < 0 else "item"
            raise ColdStartError(
                f"unknown {side} {name(side, k)!r}: not in the training data",
                hint="drop `strict` to fall back to the baseline for unknown users and items",
            )
        return Predictions(self.predict_index(u, i), cold)

    def predict_index(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Predictions for integer indices; -1 marks an unknown user or item."""
        u, i = np.asarray(u), np.asarray(i)
        if u.dtype not in (np.int32, np.int64) or i.dtype != u.dtype:
            u, i = u.astype(np.int64), i.astype(np.int64)
        if self._compiled_for(len(u)):
            return self._predict_compiled(u, i)
        known_u = u >= 0
        known_i = i >= 0
        est = np.full(u.shape, self.global_mean_, dtype=np.float64)
        if self.user_bias_ is not None:
            est[known_u] += self.user_bias_[u[known_u]]
        if self.item_bias_ is not None:
            est[known_i] += self.item_bias_[i[known_i]]
        both = known_u & known_i
        if self.user_factors_ is not None:
            inner = pair_dots(self.user_factors_, self.item_factors_, u[both], i[both])
            if self.uses_bias_:
                est[both] += inner
            else:
                est[both] = inner
        return self._clip(est)

    def _compiled_for(self, n: int) -> bool:
        """Whether ``n`` pairs are predicted by the compiled loop (see COMPILED_PREDICT_*)."""
        if "numba" in sys.modules:
            return n >= COMPILED_PREDICT_MIN_LOADED
        # Loading numba costs what numpy takes for this much work.
        factors = 0 if self.user_factors_ is None else self.user_factors_.shape[1]
        return n * max(factors, 1) >= COMPILED_PREDICT_WORK

    def _predict_compiled(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        from recfactor.kernels.predict import predict_pairs, warm_up

        model = self._compiled_model()
        warm_up(model[3].dtype, u.dtype)
        out = np.empty(len(u))
        predict_pairs(u, i, *model, out)
        return out

    def error_sums(self, u: np.ndarray, i: np.ndarray, ratings: np.ndarray) -> tuple[float, float]:
        """(sum of squared errors, sum of absolute errors) of :meth:`predict_index` against
        ``ratings``. Where predictions are this class's own and the pairs many, a compiled
        loop sums them without an array of them (9M training ratings: 0.07 s against
        0.11-0.16)."""
        u, i = np.asarray(u), np.asarray(i)
        own = type(self).predict_index is Scoring.predict_index
        if own and "numba" in sys.modules and len(u) >= ERRORS_BLOCK:
            from recfactor.kernels.predict import pair_errors, warm_up_errors

            if u.dtype not in (np.int32, np.int64) or i.dtype != u.dtype:
                u, i = u.astype(np.int64), i.astype(np.int64)
            model = self._compiled_model()
            warm_up_errors(u, ratings, model)
            squared, absolute = pair_errors(u, i, ratings, *model)
            return float(squared), float(absolute)
        squared = absolute = 0.0
        # A block at a time: over 24 million ratings, whole-length temporaries were the
        # largest allocation of a fit (three float64 copies, 570 MB).
        for start in range(0, len(u), ERRORS_BLOCK):
            stop = start + ERRORS_BLOCK
            estimate = self.predict_index(u[start:stop], i[start:stop])
            estimate -= ratings[start:stop]
            absolute += float(np.abs(estimate).sum())
            # Not np.dot: a BLAS call starts OpenBLAS's threads, which then spin beside the
            # next fit's (svd on u1.base 0.03 -> 0.06-0.12 s in a loop of fits).
            squared += float(np.square(estimate).sum())
        return squared, absolute

    def _compiled_model(self) -> tuple:
        """The compiled predictions' arguments after the pairs: the mean, biases, factors,
        flags and clipping range (see ``recfactor.kernels.predict.predict_pairs``)."""
        dummy_bias = np.zeros(1)
        factors = self.user_factors_
        flags = (
            (self.user_bias_ is not None)
            | (self.item_bias_ is not None) << 1
            | (factors is not None) << 2
            | (factors is not None and not self.uses_bias_) << 3
            | (self.rating_scale_ is not None) << 4
        )
        low, high = self.rating_scale_ or (0.0, 0.0)
        if factors is None:
            factors = np.zeros((1, 1))
        item_factors = self.item_factors_ if self.item_factors_ is not None else factors
        return (float(self.global_mean_),
                dummy_bias if self.user_bias_ is None else self.user_bias_,
                dummy_bias if self.item_bias_ is None else self.item_bias_,
                factors, item_factors, int(flags), float(low), float(high))  # fmt: skip

    def _clip(self, est: np.ndarray) -> np.ndarray:
        if self.rating_scale_ is None:
            return est
        low, high = self.rating_scale_
        return np.clip(est, low, high)

    def user_index(self, users: Any) -> np.ndarray:
        self._require_fitted()
        return _looked_up(self, "user_ids_", users)

    def item_index(self, items: Any) -> np.ndarray:
        self._require_fitted()
        return _looked_up(self, "item_ids_", items)

    def keep_ready(self) -> None:
        """Make now what each answer would make again, for a model that answers many requests
        (a server): tables that find IDs (a scan of 100,000 item IDs takes about 0.5 ms an
        ID), the float64 item factors and their unit rows. Each is kept while its array is
        the same; copies made after this (a fold-in's) share them."""
        from recfactor.models import screening

        if screening.applies(self):
            screening.keep(self)
        else:
            self._items64()
        if self.item_factors_ is not None:
            self._unit_items()
        for name in ("user_ids_", "item_ids_"):
            ids = getattr(self, name)
            table = {str(x): j for j, x in enumerate(ids.tolist())}
            self.__dict__[f"_lookup_{name}"] = (ids, table)

    # -- ranking ---------------------------------------------------------------------------

    def scores(self, u: np.ndarray) -> np.ndarray:
        """Unclipped predictions of every item for each user index in ``u``: (len(u), n_items).

        Clipping would tie the top items at the top of the scale, so ranking uses raw scores.
        """
        return self._scores(np.asarray(u, dtype=np.int64), self._items64())

    def _items64(self) -> np.ndarray | None:
        """The item factors in float64, converted once for each array of them (a server
        ranks all items at every request: 100,000 x 64 took 10 ms a conversion)."""
        return kept(self, "item_factors_", "items64",
                     lambda q: np.asarray(q, dtype=np.float64))  # fmt: skip

    def _unit_items(self) -> np.ndarray:
        """The item factors scaled to unit length (a zero row stays zero), kept as
        :meth:`_items64`."""

        def unit(q: np.ndarray) -> np.ndarray:
            q = np.asarray(q, dtype=np.float64)
            norms = np.linalg.norm(q, axis=1)
            return q / np.where(norms > 0, norms, 1.0)[:, None]

        return kept(self, "item_factors_", "unit_items", unit)

    def _scores(
        self, u: np.ndarray, item_factors: np.ndarray | None, out: np.ndarray | None = None
    ) -> np.ndarray:
        """:meth:`scores` with the item factors already in float64: written in three passes
        over the (users x items) block, not six (a block of 1024 users x 20,000 items is
        160 MB; the passes, not the product, were most of the time); into ``out`` when given
        (a block's worth of fresh memory is faulted in page by page: reused, the products of
        `recommend --all-users` on 25M ratings took 0.11 s a block instead of 0.14-0.25)."""
        if out is None:
            out = np.empty((len(u), len(self.item_ids_)))
        if item_factors is not None:
            np.matmul(self.user_factors_[u].astype(np.float64), item_factors.T, out=out)
        else:
            out[...] = 0.0
        if self.uses_bias_ or self.user_factors_ is None:
            # mu + b_u shifts a whole row and changes no ranking, but it makes the scores
            # read as (unclipped) predicted ratings.
            item_term = np.full(len(self.item_ids_), self.global_mean_)
            if self.item_bias_ is not None:
                item_term += self.item_bias_
            out += item_term
            if self.user_bias_ is not None:
                out += self.user_bias_[u][:, None]
        return out

    def recommend_index(
        self, u: np.ndarray, n: int, exclude_seen: bool = True, allowed: Any = None,
        on_block: Callable[[int, int], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Top-``n`` item indices and scores for each user index; -1 pads short lists.
        ``allowed``: a mask of the items that may be listed (None: every item); ``on_block``
        hears (users done, users) after each block."""
        self._require_fitted()
        u = np.asarray(u, dtype=np.int64)
        n = max(0, min(n, len(self.item_ids_)))
        hidden = np.zeros(0, dtype=np.int64) if allowed is None else np.flatnonzero(~allowed)
        top = np.full((len(u), n), -1, dtype=np.int64)
        top_scores = np.full((len(u), n), np.nan)
        from recfactor.models import screening

        screened = (len(u) <= screening.MAX_USERS and type(self)._scores is Scoring._scores
                    and screening.applies(self))  # fmt: skip
        # Many users, short lists: single-precision products screened in a compiled pass.
        batch = (not screened and n <= COMPILED_TOP_N and len(u) * len(self.item_ids_)
                 >= COMPILED_TOP_CELLS and type(self)._scores is Scoring._scores
                 and screening.applies(self))  # fmt: skip
        q = None if screened or batch else self._items64()
        # Bounded memory, a block of users x items at a time, in one block of memory reused.
        size = rows_a_block(len(self.item_ids_))
        dtype = np.float32 if batch else np.float64
        reused = None if screened else np.empty((min(len(u), size), len(self.item_ids_)), dtype)
        for start in range(0, len(u), size):
            block = u[start : start + size]
            if screened:
                idx, val = screening.top(self, block, n, exclude_seen, hidden)
            elif batch:
                approx = np.matmul(self.user_factors_[block], self.item_factors_.T,
                                   out=reused[: len(block)])  # fmt: skip
                self._rank_out(approx, block, exclude_seen, hidden)
                idx, val = screening.block_top(self, block, approx, n)
            else:
                s = self._scores(block, q, reused[: len(block)])
                self._rank_out(s, block, exclude_seen, hidden)
                idx, val = top_n(s, n)
            top[start : start + len(block)] = idx
            top_scores[start : start + len(block)] = val
            if on_block is not None:
                on_block(start + len(block), len(u))
        return top, top_scores

    def _rank_out(self, scores: np.ndarray, block: np.ndarray, exclude_seen: bool,
                  hidden: np.ndarray) -> None:  # fmt: skip
        """-inf, never listed, in a block's scores where its users rated the item in training
        (``exclude_seen``) and for the ``hidden`` items."""
        if exclude_seen:
            rows, cols = self._seen_cells(block)
            scores[rows, cols] = -np.inf
        scores[:, hidden] = -np.inf

    def _seen_cells(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row in ``block``, item) of every training rating of the block's users."""
        first, last = self.seen_indptr_[block], self.seen_indptr_[block + 1]
        counts = last - first
        rows = np.repeat(np.arange(len(block)), counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return rows, self.seen_items_[np.repeat(first, counts) + within]

    def recommend(
        self, user: Any, n: int = 10, exclude_seen: bool = True
    ) -> list[tuple[str, float]]:
        """Top-``n`` (item ID, score) for one known user ID."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ParameterError(f"n must be a whole number of 1 or more, not {n!r}",
                                 hint="ask for the top 10 with n=10")  # fmt: skip
        u = self.user_index([user])
        if u[0] < 0:
            raise ColdStartError(f"unknown user {str(user)!r}: not in the training data")
        idx, val = self.recommend_index(u, n, exclude_seen)
        return [(str(self.item_ids_[j]), float(v)) for j, v in zip(idx[0], val[0]) if j >= 0]

    def export_note(self) -> str | None:
        """What `export` says of the biases and factors it writes, where they are not simply a
        rating's terms (None: nothing)."""
        return None

    def latent_factors(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The user and item factors of one fit, to read factor by factor (``inspect``): the
        saved ones, for most models; None without factors."""
        if self.user_factors_ is None or self.item_factors_ is None:
            return None
        n = self.params.ensemble
        if n == 1:
            return self.user_factors_, self.item_factors_
        # A seed ensemble's last member: its block of columns, unscaled from the average.
        k = self.item_factors_.shape[1] // n
        return (self.user_factors_[:, -k:] * np.sqrt(n), self.item_factors_[:, -k:] * np.sqrt(n))

    def similar_index(
        self, i: np.ndarray, n: int, allowed: Any = None,
        on_block: Callable[[int, int], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Top-``n`` items by cosine similarity of item factors, the item itself excluded;
        ``allowed`` and ``on_block`` as :meth:`recommend_index`'s."""
        self._require_fitted()
        if self.item_factors_ is None:
            raise ParameterError(
                f"the {self.name} model has no item factors to compare",
                hint="train a factor model (`algo` svd) for similar items",
            )
        unit = self._unit_items()
        i = np.asarray(i, dtype=np.int64)
        n = max(0, min(n, len(self.item_ids_) - 1))
        hidden = np.zeros(0, dtype=np.int64) if allowed is None else np.flatnonzero(~allowed)
        top = np.full((len(i), n), -1, dtype=np.int64)
        top_sims = np.full((len(i), n), np.nan)
        # A block of items against every item at a time, as recommend_index's users (all the
        # 59,047 items of 25M ratings at once were 28 GB).
        size = rows_a_block(len(self.item_ids_))
        reused = np.empty((min(len(i), size), len(self.item_ids_)))
        for start in range(0, len(i), size):
            block = i[start : start + size]
            sims = np.matmul(unit[block], unit.T, out=reused[: len(block)])
            sims[np.arange(len(block)), block] = -np.inf
            sims[:, hidden] = -np.inf
            top[start : start + len(block)], top_sims[start : start + len(block)] = top_n(sims, n)
            if on_block is not None:
                on_block(start + len(block), len(i))
        return top, top_sims

    def similar_items(self, item: Any, n: int = 10) -> list[tuple[str, float]]:
        i = self.item_index([item])
        if i[0] < 0:
            raise ColdStartError(f"unknown item {str(item)!r}: not in the training data")
        idx, val = self.similar_index(i, n)
        return [(str(self.item_ids_[j]), float(v)) for j, v in zip(idx[0], val[0]) if j >= 0]

    # -- persistence (arrays only; persist.py owns the file) --------------------------------


# Where numba is loaded already (by a fit), predictions for this many pairs or more come from
# a compiled parallel loop (9 million training ratings: 2.1 -> 0.15 s; 20,000 test pairs:
# numpy's float64 sums took twice as long). Where it is not, only from this much work (pairs
# times factors): numpy takes about 10 ns a factor a pair, and importing numba and loading the
# loop 0.45-0.6 s (100,000 pairs at k 100: 0.1 s by numpy, where the loop's 0.6 s was half of
# a `predict` process).
COMPILED_PREDICT_MIN_LOADED = 1000
COMPILED_PREDICT_WORK = 50_000_000
# Pairs scored at a time where error_sums does not sum them in a compiled loop: fewer than
# this, whose numpy sums take milliseconds (each new combination of types costs the loop 2-3
# s of compiling, once).
ERRORS_BLOCK = 1 << 20


def pair_dots(p: np.ndarray, q: np.ndarray, u: np.ndarray, i: np.ndarray) -> np.ndarray:
    """``p[u[j]] . q[i[j]]`` for every j, summed in float64 (as the compiled loop of large
    batches), a block at a time so that a batch does not become one large float64 copy."""
    out = np.empty(len(u), dtype=np.float64)
    step = 16384
    for start in range(0, len(u), step):
        uu, ii = u[start : start + step], i[start : start + step]
        out[start : start + step] = np.einsum(
            "ij,ij->i", p[uu].astype(np.float64, copy=False), q[ii].astype(np.float64, copy=False)
        )
    return out


# A block of users' (or items') scores against every item takes at most this much memory
# (and at most 1024 rows): on 25M ratings' 59,047 items, 1024 users were 483 MB; 568 rank
# as fast.
BLOCK_BYTES = 256 << 20


def rows_a_block(n_items: int) -> int:
    """How many rows of scores against ``n_items`` items a block holds."""
    return max(64, min(1024, BLOCK_BYTES // (8 * max(n_items, 1))))


# Blocks of at least this many scores are ranked by a compiled pass (kernels/ranking.py),
# for lists of at most COMPILED_TOP_N (its insertion costs n at worst); a smaller block is
# not worth loading numba for (a server's or `similar --item`'s one row).
COMPILED_TOP_CELLS = 1 << 21
COMPILED_TOP_N = 64


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the ``n`` largest entries of each row, best first.

    Ties break by lower index so results are reproducible; entries that are not finite are
    never returned (their slots hold -1 and NaN). A large block with a short list is ranked
    by one compiled pass (kernels/ranking.py); otherwise each row's n-th largest value is
    found by a partition of the values (four times faster than a partition of their indices:
    a server ranks 100,000 items at every request), and only the entries at or above it are
    sorted.
    """
    rows, m = scores.shape
    if n == 0 or m == 0:
        return np.zeros((rows, 0), dtype=np.int64), np.zeros((rows, 0))
    n = min(n, m)
    if rows * m >= COMPILED_TOP_CELLS and n <= COMPILED_TOP_N and scores.dtype.kind == "f":
        from recfactor.kernels.ranking import top_rows, warm_up

        warm_up(scores.dtype)
        idx, vals = np.empty((rows, n), dtype=np.int64), np.empty((rows, n))
        top_rows(np.ascontiguousarray(scores), n, idx, vals)
        return idx, vals
    if not scores.max() < np.inf:  # NaN or +inf: a partition puts both above everything
        scores = np.where(np.isnan(scores) | (scores == np.inf), -np.inf, scores)
    kth = np.partition(scores, m - n, axis=1)[:, m - n]
    # The entries at or above each row's n-th value, by their place in the flat array (a
    # two-dimensional nonzero takes three times as long).
    r, c = np.divmod(np.flatnonzero(scores >= kth[:, None]), m)
    return ranked(r, c, scores[r, c], rows, n)


def with_lean(model: Any, u: np.ndarray, i: np.ndarray, est: np.ndarray) -> np.ndarray:
    """``est`` with each half-known pair's known side taken against the other side's mean
    factors, the posterior's guess for a new row (a new item: ``p_u . mean q``, the user's own
    lean), instead of nothing (the Bayesian models: bpmf, bfm)."""
    half = (u < 0) != (i < 0)
    if not half.any() or model.user_factors_ is None:
        return est
    users, items = half & (u >= 0), half & (i >= 0)
    lean = np.zeros(len(est))
    lean[users] = model.user_factors_[u[users]] @ model.item_factors_.mean(axis=0)
    lean[items] = model.item_factors_[i[items]] @ model.user_factors_.mean(axis=0)
    return model._clip(est + lean)
