"""SVD++ (Koren 2008): biased matrix factorization where each user's factors also hold the items
they rated, ``mu + b_u + b_i + q_i . (p_u + |N(u)|^-1/2 sum_{j in N(u)} y_j)``.

Fitted by a compiled SGD, user by user (``kernels/svdpp.py``), deterministic like ``svd``. The
saved user factors are the whole user term ``p_u + |N(u)|^-1/2 sum y_j``, so that predict,
recommend, similar and export use it as any factor model's.
"""

from __future__ import annotations

import numpy as np

from recfactor.errors import FitError
from recfactor.models.base import Model
from recfactor.models.declarations import SVDppParams
from recfactor.models.svd import EPOCH_WORK, FACTOR_DTYPE, _normal


class SVDpp(Model):
    """SVD++ on ratings (``factors=20, epochs=50, lr=0.01, reg=0.1``; ``preset="surprise"``
    for Surprise's SVDpp settings). Explicit feedback only."""

    name = "svdpp"
    params_class = SVDppParams

    def _prepare(self) -> None:
        from recfactor.kernels.sgd import warm_up as warm_up_sgd
        from recfactor.kernels.svdpp import warm_up

        warm_up_sgd()
        warm_up()

    def _fit(self, dataset, rng: np.random.Generator) -> None:
        from recfactor.kernels.svdpp import implicit_parts, svdpp_epochs

        p: SVDppParams = self.params
        k = p.factors
        f = FACTOR_DTYPE
        user_factors = _normal(rng, p.init_mean, p.init_std, (dataset.n_users, k))
        item_factors = _normal(rng, p.init_mean, p.init_std, (dataset.n_items, k))
        implicit = _normal(rng, p.init_mean, p.init_std, (dataset.n_items, k))
        order = np.lexsort((dataset.items, dataset.users))
        indptr = np.zeros(dataset.n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(dataset.users, minlength=dataset.n_users), out=indptr[1:])
        owners = dataset.users[order].astype(np.int32)
        items = dataset.items[order].astype(np.int32)
        ratings = dataset.ratings[order].astype(f)
        user_bias = np.zeros(dataset.n_users, dtype=f)
        item_bias = np.zeros(dataset.n_items, dtype=f)
        mu = f(dataset.ratings.mean(dtype=np.float64))
        # Every epoch's draws are made up front, so that how the epochs are grouped into
        # kernel calls cannot change the model.
        user_orders = np.empty((p.epochs, dataset.n_users), dtype=np.int32)
        seeds = np.empty(p.epochs, dtype=np.int64)
        for epoch in range(p.epochs):
            user_orders[epoch] = rng.permutation(dataset.n_users)
            seeds[epoch] = rng.integers(0, 2**63 - 1)
        sse = np.zeros(p.epochs)
        per_call = max(1, EPOCH_WORK // dataset.n_ratings)
        for first in range(0, p.epochs, per_call):
            last = min(first + per_call, p.epochs)
            ran = svdpp_epochs(
                indptr, owners, items, ratings, user_orders[first:last], seeds[first:last], mu,
                user_bias, item_bias, user_factors, item_factors, implicit, f(p.lr), f(p.reg),
                sse[first:last],
            )  # fmt: skip
            for epoch in range(first, first + ran):
                self._on_epoch(epoch + 1, p.epochs)
            if not np.isfinite(sse[first + ran - 1]):
                raise FitError(
                    f"training diverged at epoch {first + ran} (factors became infinite or NaN)",
                    hint=f"use a smaller `lr` (now {p.lr:g}) or a larger `reg`",
                )
        parts = np.empty_like(user_factors)
        implicit_parts(indptr, items, implicit, parts)
        self.user_factors_ = user_factors + parts
        self.item_factors_ = item_factors
        self.global_mean_ = float(mu)
        self.user_bias_ = user_bias.astype(np.float64)
        self.item_bias_ = item_bias.astype(np.float64)
