"""Baseline estimates: ``mu + b_u + b_i`` for ratings, item popularity for interactions."""

from __future__ import annotations

import numpy as np

from recfactor.models.base import Model
from recfactor.models.biases import fit_biases, warm_up
from recfactor.models.declarations import BaselineParams


class Baseline(Model):
    """No factors: explicit ratings get ``mu + b_u + b_i`` (regularised biases fitted by
    alternating closed-form updates, Surprise's BaselineOnly defaults ``epochs=10,
    reg_u=15, reg_i=10``); implicit data get item popularity. The reference line of every
    report, and what the factor models fall back to for unknown users and items."""

    name = "baseline"
    params_class = BaselineParams

    def _prepare(self) -> None:
        warm_up()

    def _fit(self, dataset, rng: np.random.Generator) -> None:
        p: BaselineParams = self.params
        if dataset.feedback == "implicit":
            # Popularity: the share of users who interacted with each item. A user term would
            # not change any ranking, so there is none.
            counts = np.bincount(dataset.items, minlength=dataset.n_items).astype(np.float64)
            self.global_mean_ = 0.0
            self.item_bias_ = counts / max(dataset.n_users, 1)
            self.user_bias_ = None
            return
        self.global_mean_, self.user_bias_, self.item_bias_ = fit_biases(
            dataset.users,
            dataset.items,
            dataset.ratings,
            dataset.n_users,
            dataset.n_items,
            p.epochs,
            p.reg_u,
            p.reg_i,
        )
