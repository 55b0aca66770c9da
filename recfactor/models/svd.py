"""Matrix factorization: biased SGD (Funk; Koren, Bell, Volinsky 2009), plain MF, truncated SVD.

Explicit feedback, ``solver="sgd"``: ``mu + b_u + b_i + p_u . q_i`` learned by SGD over the
observed ratings in a fresh seeded order each epoch (``bias=False`` drops the biases: plain MF).
``solver="lanczos"``: a truncated SVD of the residuals of the baseline (scipy's ARPACK).
Implicit feedback: PureSVD (Cremonesi et al. 2010), a truncated SVD of the interaction matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recfactor.errors import DataError, FitError
from recfactor.models.base import Model, Params, above, at_least, one_of
from recfactor.models.baseline import BaselineParams, fit_biases

# SGD runs in float32: twice the SIMD width of float64, and its rounding is far below the
# noise of rating data (ml-100k RMSE agrees with float64 to 1e-6).
FACTOR_DTYPE = np.float32


@dataclass(frozen=True)
class SVDParams(Params):
    """Defaults equal Surprise's SVD so figures compare one to one."""

    factors: int = at_least(1, 100)
    epochs: int = at_least(1, 20)
    lr: float = above(0.0, 0.005)
    reg: float = at_least(0.0, 0.02)
    init_mean: float = 0.0
    init_std: float = at_least(0.0, 0.1)
    bias: bool = True
    solver: str = one_of(("sgd", "lanczos"), "sgd")


class SVD(Model):
    name = "svd"
    params_class = SVDParams

    def _prepare(self) -> None:
        if self.params.solver == "sgd":
            from recfactor.kernels.sgd import warm_up

            warm_up()

    def _fit(self, dataset, rng: np.random.Generator) -> None:
        p: SVDParams = self.params
        if dataset.feedback == "implicit":
            self._fit_pure_svd(dataset, rng)
        elif p.solver == "lanczos":
            self._fit_lanczos(dataset, rng)
        else:
            self._fit_sgd(dataset, rng)

    def _baseline(self, dataset) -> tuple[float, np.ndarray, np.ndarray]:
        b = BaselineParams()
        return fit_biases(
            dataset.users,
            dataset.items,
            dataset.ratings,
            dataset.n_users,
            dataset.n_items,
            b.epochs,
            b.reg_u,
            b.reg_i,
        )

    def _fit_sgd(self, dataset, rng: np.random.Generator) -> None:
        from recfactor.kernels.sgd import sgd_epoch

        p: SVDParams = self.params
        k = p.factors
        user_factors = rng.normal(p.init_mean, p.init_std, (dataset.n_users, k))
        item_factors = rng.normal(p.init_mean, p.init_std, (dataset.n_items, k))
        user_factors = user_factors.astype(FACTOR_DTYPE)
        item_factors = item_factors.astype(FACTOR_DTYPE)
        user_bias = np.zeros(dataset.n_users, dtype=FACTOR_DTYPE)
        item_bias = np.zeros(dataset.n_items, dtype=FACTOR_DTYPE)
        ratings = dataset.ratings.astype(FACTOR_DTYPE)
        mu = FACTOR_DTYPE(dataset.ratings.mean()) if p.bias else FACTOR_DTYPE(0)
        f = FACTOR_DTYPE
        for epoch in range(p.epochs):
            order = rng.permutation(dataset.n_ratings).astype(np.int32)
            sgd_epoch(
                dataset.users,
                dataset.items,
                ratings,
                order,
                mu,
                user_bias,
                item_bias,
                user_factors,
                item_factors,
                f(p.lr),
                f(p.reg),
                f(p.lr),
                f(p.reg),
                p.bias,
            )
            if not (np.isfinite(user_factors).all() and np.isfinite(item_factors).all()):
                raise FitError(
                    f"training diverged at epoch {epoch + 1} (factors became infinite or NaN)",
                    hint=f"use a smaller --lr (now {p.lr:g}) or a larger --reg",
                )
        self.user_factors_ = user_factors
        self.item_factors_ = item_factors
        if p.bias:
            self.global_mean_ = float(mu)
            self.user_bias_ = user_bias.astype(np.float64)
            self.item_bias_ = item_bias.astype(np.float64)
        else:
            # Plain MF predicts p_u . q_i alone; the baseline only answers for unknown IDs.
            self.uses_bias_ = False
            self.global_mean_, self.user_bias_, self.item_bias_ = self._baseline(dataset)

    def _fit_lanczos(self, dataset, rng: np.random.Generator) -> None:
        mu, b_u, b_i = self._baseline(dataset)
        residual = dataset.ratings - mu - b_u[dataset.users] - b_i[dataset.items]
        u, s, vt = self._truncated_svd(dataset, residual, rng)
        root = np.sqrt(s)
        self.global_mean_, self.user_bias_, self.item_bias_ = mu, b_u, b_i
        self.user_factors_ = u * root
        self.item_factors_ = vt.T * root

    def _fit_pure_svd(self, dataset, rng: np.random.Generator) -> None:
        u, s, vt = self._truncated_svd(dataset, dataset.ratings, rng)
        # PureSVD scores with the item space alone: r_u V V^T, i.e. p_u = U_u S, q_i = V_i.
        self.user_factors_ = u * s
        self.item_factors_ = vt.T.copy()
        self.uses_bias_ = False
        counts = np.bincount(dataset.items, minlength=dataset.n_items).astype(np.float64)
        self.item_bias_ = counts / dataset.n_users  # popularity, for unknown users only

    def _truncated_svd(
        self, dataset, values: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import scipy.sparse as sp
        from scipy.sparse.linalg import svds

        k = self.params.factors
        limit = min(dataset.n_users, dataset.n_items) - 1
        if k > limit:
            raise DataError(
                f"{dataset.source}: --factors {k} is more than a truncated SVD of a "
                f"{dataset.n_users} x {dataset.n_items} matrix allows ({limit})",
                hint=f"use --factors {max(limit, 1)} or fewer",
            )
        matrix = sp.csr_matrix(
            (values, (dataset.users, dataset.items)), shape=(dataset.n_users, dataset.n_items)
        )
        v0 = rng.uniform(-1.0, 1.0, min(matrix.shape))
        u, s, vt = svds(matrix, k=k, v0=v0, solver="arpack")
        order = np.argsort(-s, kind="stable")
        return u[:, order], s[order], vt[order]
