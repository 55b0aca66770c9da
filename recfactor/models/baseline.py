"""Baseline estimates: ``mu + b_u + b_i`` for ratings, item popularity for interactions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recfactor.models.base import Model, Params, declare
from recfactor.models.biases import BIAS_EPOCHS, BIAS_REG_I, BIAS_REG_U, fit_biases, warm_up


@dataclass(frozen=True)
class BaselineParams(Params):
    """Defaults as Surprise's BaselineOnly (ALS): 10 epochs, reg_u 15, reg_i 10."""

    epochs: int = declare(BIAS_EPOCHS, low=1, help="Passes over the data",
                          feedback="explicit")  # fmt: skip
    reg_u: float = declare(BIAS_REG_U, low=0.0, flag="reg", feedback="explicit",
                           help="Regularisation of the user and item biases",
                           space="1..50:log")  # fmt: skip
    reg_i: float = declare(BIAS_REG_I, low=0.0, flag="reg", feedback="explicit",
                           help="Regularisation of the user and item biases",
                           space="1..50:log")  # fmt: skip


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
