"""Non-negative matrix factorization, for ratings and for whole non-negative matrices.

Explicit feedback (ratings; unobserved = unknown): the factors are fitted to the observed
entries only, by multiplicative updates (Luo et al. 2014, the algorithm behind Surprise's NMF),
with optional biases fitted exactly in between. Defaults are Surprise's.

Implicit feedback (interactions; unobserved = 0): the whole matrix ``X`` (held sparse) is
factorized as ``W H`` minimising article 000's objective

    0.5 ||X - W H||^2 + l1_w |W|_1 + l1_h |H|_1 + 0.5 l2_w ||W||^2 + 0.5 l2_h ||H||^2

by coordinate descent (``cd``, HALS) or Lee and Seung's multiplicative updates (``mu``), from a
random or NNDSVD(a) start, until the objective's relative decrease falls below ``tol``.
"""

from __future__ import annotations

import numpy as np

from recfactor.errors import DataError, ParameterError
from recfactor.models.base import Model, require_non_negative
from recfactor.models.declarations import EXPLICIT_EPOCHS, IMPLICIT_MAX_ITER, NMFParams


class NMF(Model):
    """Non-negative matrix factorization.

    On ratings (explicit feedback): NMF of the observed entries by multiplicative updates,
    Surprise's defaults (``factors=15, epochs=50, reg_pu=reg_qi=0.06``; ``bias=True`` adds
    biases). On implicit data: NMF of the whole non-negative matrix (unobserved = 0) by
    coordinate descent (``solver="cd"``, default) or multiplicative updates (``"mu"``), with
    ``init`` (random, nndsvd, nndsvda), penalties ``l1_w, l1_h, l2_w, l2_h`` and the stop
    rule ``tol``, as scikit-learn's. Factors are determined at best up to permutation and
    scale: compare seeds with ``recfactor stability``.
    """

    name = "nmf"
    params_class = NMFParams

    def __init__(self, params: NMFParams | None = None, **kwargs) -> None:
        super().__init__(params, **kwargs)
        self.n_iter_: int = 0
        self.objective_: float | None = None

    def _prepare(self) -> None:
        from recfactor.kernels.linalg import csr_layout
        from recfactor.kernels.nmf import warm_up
        from recfactor.models.biases import warm_up as warm_up_biases

        warm_up()
        warm_up_biases()
        from recfactor.kernels import load

        one = np.zeros(1, dtype=np.int32)
        load(csr_layout, one, one, np.zeros(1), 1)

    def _check_values(self, dataset) -> None:
        require_non_negative(
            dataset, "NMF", hint="use `algo` svd (or als) for data with negative values"
        )

    def _check_data(self, dataset) -> None:
        if dataset.feedback == "explicit" and self.params.solver == "cd":
            raise ParameterError(
                "nmf on ratings has the multiplicative solver only (`solver` mu)",
                hint="`solver` cd is for `feedback` implicit (whole-matrix NMF)",
            )

    def _fit(self, dataset, rng: np.random.Generator) -> None:
        if dataset.feedback == "implicit":
            self._fit_whole(dataset, rng)
        else:
            self._fit_observed(dataset, rng)

    # -- ratings: observed entries ---------------------------------------------------------

    def _fit_observed(self, dataset, rng: np.random.Generator) -> None:
        from recfactor.kernels.nmf import masked_mu_rows

        p: NMFParams = self.params
        epochs = p.epochs or EXPLICIT_EPOCHS
        shape_u = (dataset.n_users, p.factors)
        shape_i = (dataset.n_items, p.factors)
        user_factors = rng.uniform(p.init_low, p.init_high, shape_u)
        item_factors = rng.uniform(p.init_low, p.init_high, shape_i)
        by_user = _rows(dataset.users, dataset.items, dataset.ratings, dataset.n_users)
        by_item = _rows(dataset.items, dataset.users, dataset.ratings, dataset.n_items)
        mu = float(dataset.ratings.mean(dtype=np.float64)) if p.bias else 0.0
        user_bias = np.zeros(dataset.n_users)
        item_bias = np.zeros(dataset.n_items)
        for epoch in range(epochs):
            masked_mu_rows(*by_user, mu, user_bias, item_bias, user_factors, item_factors,
                           p.reg_pu, p.reg_bu, p.bias)  # fmt: skip
            masked_mu_rows(*by_item, mu, item_bias, user_bias, item_factors, user_factors,
                           p.reg_qi, p.reg_bi, p.bias)  # fmt: skip
            self._on_epoch(epoch + 1, epochs)
        self.n_iter_ = epochs
        self.user_factors_ = user_factors
        self.item_factors_ = item_factors
        if p.bias:
            self.global_mean_, self.user_bias_, self.item_bias_ = mu, user_bias, item_bias
        else:
            self._baseline_fallback(dataset)
        # The multiplicative updates' fixed point for one user, items held: non-negative
        # least squares with a penalty of reg per rating (and the bias's, per rating).
        self.fold_in_ = {"kind": "ridge", "factor_reg": p.reg_pu, "bias_reg": p.reg_bu,
                         "per_rating": True, "nonnegative": True}  # fmt: skip

    # -- interactions: the whole matrix ----------------------------------------------------

    def _fit_whole(self, dataset, rng: np.random.Generator) -> None:
        import scipy.sparse as sp

        from recfactor.kernels.linalg import csr_dense, gram
        from recfactor.kernels.nmf import hals_rows, mu_whole_rows

        p: NMFParams = self.params
        solver = p.solver or "cd"
        max_iter = p.epochs or IMPLICIT_MAX_ITER
        x = sp.csr_matrix(
            (dataset.ratings.astype(np.float64), (dataset.users, dataset.items)),
            shape=(dataset.n_users, dataset.n_items),
        )
        x.sum_duplicates()
        x.sort_indices()
        w, h = initialise(x, p.factors, p.init, rng)
        ht = np.ascontiguousarray(h.T)
        half_step = hals_rows if solver == "cd" else mu_whole_rows
        x_norm = float(x.multiply(x).sum())
        xt = x.T.tocsr()

        def product(m, dense):  # m @ dense, row-parallel
            return csr_dense(m.indptr, m.indices, m.data, dense)

        # Stop when the projected gradient (the optimality violation, as scikit-learn's cd
        # measures it) has fallen below tol times its first value. Unlike a small change in the
        # objective, this does not stop on a plateau that is not a stationary point.
        first = None
        for iteration in range(1, max_iter + 1):
            violation = half_step(w, product(x, ht), gram(ht), p.l1_w, p.l2_w)
            violation += half_step(ht, product(xt, w), gram(w), p.l1_h, p.l2_h)
            self._on_epoch(iteration, max_iter)
            first = violation if first is None else first
            if violation <= p.tol * first:
                break
        objective = _objective(x_norm, ht, product(xt, w), gram(w), w, p)
        self.n_iter_ = iteration
        self.objective_ = objective
        self.user_factors_ = w
        self.item_factors_ = ht
        self._popularity_fallback(dataset)

    def state(self) -> dict:
        return {**super().state(), "n_iter": self.n_iter_, "objective": self.objective_}

    def restore(self, arrays, state) -> None:
        super().restore(arrays, state)
        self.n_iter_ = int(state.get("n_iter", 0))
        self.objective_ = state.get("objective")


def objective(x, w: np.ndarray, h: np.ndarray, l1_w=0.0, l1_h=0.0, l2_w=0.0, l2_h=0.0) -> float:
    """Article 000's NMF objective for a sparse ``x`` (n x m), ``w`` (n x k), ``h`` (k x m)."""
    ht = np.ascontiguousarray(h.T)
    params = NMFParams(l1_w=l1_w, l1_h=l1_h, l2_w=l2_w, l2_h=l2_h)
    cross = np.asarray(x.T @ w)
    return _objective(float(x.multiply(x).sum()), ht, cross, w.T @ w, w, params)


def _objective(x_norm, ht, cross, gram_w, w, p: NMFParams) -> float:
    # ||X - W H||^2 = ||X||^2 - 2 <X^T W, H^T> + <W^T W, H H^T>, all without forming W H.
    fit = x_norm - 2.0 * float(np.sum(cross * ht)) + float(np.sum(gram_w * (ht.T @ ht)))
    return (
        0.5 * max(fit, 0.0)
        + p.l1_w * float(w.sum())
        + p.l1_h * float(ht.sum())
        + 0.5 * p.l2_w * float(np.sum(w * w))
        + 0.5 * p.l2_h * float(np.sum(ht * ht))
    )


def initialise(x, k: int, how: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Starting ``W`` (n x k) and ``H`` (k x m), non-negative.

    ``random``: scaled half-normal, so that ``W H`` has the mean of ``X`` (as scikit-learn).
    ``nndsvd``: Boutsidis and Gallopoulos (2008), from a truncated SVD; ``nndsvda`` also fills
    its zeros with the mean of ``X`` so multiplicative updates can move them.
    """
    n, m = x.shape
    mean = float(x.sum()) / (n * m)
    if how == "random":
        scale = np.sqrt(max(mean, 1e-12) / k)
        w = scale * np.abs(rng.standard_normal((n, k)))
        h = scale * np.abs(rng.standard_normal((k, m)))
        return w, h
    from scipy.sparse.linalg import svds

    if k >= min(n, m):
        raise DataError(
            f"`init` {how} needs `factors` below {min(n, m)} for a {n} x {m} matrix",
            hint="use `init` random, or fewer factors",
        )
    from recfactor.running import blas

    with blas.threads(1):  # as svd's truncated SVD: the same bits whatever the thread count
        u, s, vt = svds(x.astype(np.float64), k=k, v0=rng.uniform(-1, 1, min(n, m)))
    order = np.argsort(-s)
    u, s, vt = u[:, order], s[order], vt[order]
    w = np.zeros((n, k))
    h = np.zeros((k, m))
    w[:, 0] = np.sqrt(s[0]) * np.abs(u[:, 0])
    h[0, :] = np.sqrt(s[0]) * np.abs(vt[0, :])
    for j in range(1, k):
        a, b = u[:, j], vt[j, :]
        a_pos, a_neg = np.maximum(a, 0), np.maximum(-a, 0)
        b_pos, b_neg = np.maximum(b, 0), np.maximum(-b, 0)
        n_apos, n_bpos = np.linalg.norm(a_pos), np.linalg.norm(b_pos)
        n_aneg, n_bneg = np.linalg.norm(a_neg), np.linalg.norm(b_neg)
        if n_apos * n_bpos >= n_aneg * n_bneg:
            left, right, sigma = (
                a_pos / max(n_apos, 1e-300),
                b_pos / max(n_bpos, 1e-300),
                n_apos * n_bpos,
            )
        else:
            left, right, sigma = (
                a_neg / max(n_aneg, 1e-300),
                b_neg / max(n_bneg, 1e-300),
                n_aneg * n_bneg,
            )
        w[:, j] = np.sqrt(s[j] * sigma) * left
        h[j, :] = np.sqrt(s[j] * sigma) * right
    w[w < 1e-12] = 0.0
    h[h < 1e-12] = 0.0
    if how == "nndsvda":
        w[w == 0] = mean
        h[h == 0] = mean
    return w, h


def _rows(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_rows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR layout of the ratings by ``rows``: (indptr, columns, values)."""
    from recfactor.kernels.linalg import csr_layout

    return csr_layout(rows, cols, values.astype(np.float64), n_rows)
