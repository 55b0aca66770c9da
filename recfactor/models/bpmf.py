"""Bayesian probabilistic matrix factorization (Salakhutdinov and Mnih 2008), by Gibbs sampling.

``r_ui ~ N(mu + p_u . q_i, 1 / alpha)``, each user's ``p_u ~ N(mu_U, Lambda_U^-1)`` and each
item's ``q_i ~ N(mu_V, Lambda_V^-1)``, with Gaussian-Wishart priors on ``(mu_U, Lambda_U)`` and
``(mu_V, Lambda_V)`` (``beta_0 = 2``, ``nu_0 = k``, ``W_0 = I``, as the paper). Each sweep draws
the hyperparameters, then every user's factors, then every item's, from their conditionals
(``kernels/bpmf.py``). A prediction is the average of ``mu + p_u . q_i`` over the sweeps kept
after the burn-in: the regularisation is learned from the data instead of tuned, and the
averaging over the posterior, not one point of it, is what lowers the error (MovieLens 100K:
BENCHMARKS.md).

The ``samples`` draws kept, scaled by ``1 / sqrt(samples)`` and set side by side, are the
saved factors (``samples * factors`` columns), so that their dot product is that average and
predict, recommend and export use them as any factor model's. ``mu`` is the global mean; a pair
with an unknown item takes the user's factors against the items' mean (and the other way),
the posterior's guess for a new row; a pair of two unknowns is ``mu``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recfactor.errors import ParameterError
from recfactor.models.base import Model
from recfactor.models.declarations import BPMFParams

BETA0 = 2.0


class BPMF(Model):
    """Bayesian PMF by Gibbs sampling (``factors=10, epochs=150, burn_in=20, samples=50,
    alpha=2``). Explicit feedback only."""

    name = "bpmf"
    params_class = BPMFParams
    # Its sweeps are draws from a posterior, not steps towards a point: a third of them is a
    # noisier average after most of the burn-in, which ranks settings by their noise.
    epochs_halve = False

    def _prepare(self) -> None:
        from recfactor.kernels.bpmf import warm_up

        warm_up()

    def _check_data(self, dataset) -> None:
        check_burn_in(self.params)

    def _fit(self, dataset, rng: np.random.Generator) -> None:
        from recfactor.kernels.bpmf import sample_rows
        from recfactor.kernels.linalg import csr_layout

        p: BPMFParams = self.params
        k = p.factors
        mu = float(dataset.ratings.mean(dtype=np.float64))
        # Sampled in units of the ratings' standard deviation: alpha, and the priors (W_0 = I),
        # then mean the same on any scale, and 1e9 stars stay as well conditioned as 5.
        spread = float(dataset.ratings.std(dtype=np.float64))
        spread = spread if spread > 0 and np.isfinite(spread) else 1.0
        values = (dataset.ratings.astype(np.float64) - mu) / spread
        alpha = p.alpha
        by_user = csr_layout(dataset.users, dataset.items, values, dataset.n_users)
        by_item = csr_layout(dataset.items, dataset.users, values, dataset.n_items)
        users = rng.normal(0.0, 0.1, (dataset.n_users, k))
        items = rng.normal(0.0, 0.1, (dataset.n_items, k))
        kept = kept_sweeps(p.burn_in, p.epochs, p.samples)
        scale = np.sqrt(spread / len(kept))  # the average's 1/S, and the unit back, in halves
        saved_users = np.empty((dataset.n_users, k * len(kept)), dtype=np.float32)
        saved_items = np.empty((dataset.n_items, k * len(kept)), dtype=np.float32)
        for sweep in range(p.epochs):
            mean, precision = _hyper(users, rng)
            sample_rows(*by_user, items, users, precision @ mean, precision, alpha,
                        rng.standard_normal((dataset.n_users, k)))  # fmt: skip
            mean, precision = _hyper(items, rng)
            sample_rows(*by_item, users, items, precision @ mean, precision, alpha,
                        rng.standard_normal((dataset.n_items, k)))  # fmt: skip
            if sweep in kept:
                at = kept[sweep] * k
                saved_users[:, at : at + k] = users * scale
                saved_items[:, at : at + k] = items * scale
            self._on_epoch(sweep + 1, p.epochs)
        self.user_factors_, self.item_factors_ = saved_users, saved_items
        self.global_mean_ = mu
        self.user_bias_ = np.zeros(dataset.n_users)
        self.item_bias_ = np.zeros(dataset.n_items)
        from recfactor.intervals import noise_of_draws

        # Measured, not alpha's: on MovieLens 100K u1 the two agree (0.798 and 0.791 stars),
        # on data less noisy than alpha assumes only the measured one gives true intervals.
        self.noise_sd_ = noise_of_draws(self, dataset.users, dataset.items, dataset.ratings)

    def predict_index(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """As any factor model's; a pair with one side unknown takes the other side against
        the known rows' mean, the posterior's guess for a new row (a new item: ``mu + p_u .
        mean q``, the user's own lean), instead of ``mu`` alone."""
        from recfactor.models.scoring import with_lean

        return with_lean(self, np.asarray(u), np.asarray(i), super().predict_index(u, i))

    def restore(self, arrays: dict[str, np.ndarray], state: dict) -> None:
        """As every model's, and the saved columns must be the kept draws' factors side by
        side: a file whose ``factors`` or ``samples`` disagree with its columns would read as
        other draws (zero weights in inspect, a last draw that is not one)."""
        super().restore(arrays, state)
        p = self.params
        # As many draws as _kept_sweeps keeps, counted without listing the sweeps (an edited
        # file's epochs may be any number).
        expected = p.factors * min(p.samples, max(p.epochs - p.burn_in, 0)) * p.ensemble
        for side in (self.user_factors_, self.item_factors_):
            if side is not None and side.shape[1] != expected:
                raise ValueError(f"{side.shape[1]} factor columns, where factors={p.factors}, "
                                 f"the kept draws and the ensemble give {expected}")  # fmt: skip

    def latent_factors(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The last kept draw's factors (the saved columns are every kept draw's, side by
        side: their factors are not one set to read one by one)."""
        if self.user_factors_ is None or self.item_factors_ is None:
            return None
        k = self.params.factors
        draws = self.item_factors_.shape[1] // k
        unscale = np.sqrt(draws)  # undo the average's share, not the ratings' unit
        return (self.user_factors_[:, -k:] * unscale, self.item_factors_[:, -k:] * unscale)


def check_burn_in(params: Any) -> None:
    """A Gibbs sampler's sweeps must leave some after the burn-in (bpmf, bfm)."""
    if params.burn_in >= params.epochs:
        raise ParameterError(
            f"`burn_in` {params.burn_in} leaves none of the {params.epochs} `epochs` to keep",
            hint="give more epochs than burn_in",
        )


def kept_sweeps(burn_in: int, epochs: int, samples: int) -> dict[int, int]:
    """The sweeps kept (sweep -> its slot): ``samples`` of those after the burn-in, evenly
    spaced and ending at the last."""
    after = np.arange(burn_in, epochs)
    if samples < len(after):
        after = after[np.unique(np.round(np.linspace(len(after) - 1, 0, samples)).astype(int))]
    return {int(s): slot for slot, s in enumerate(sorted(after))}


def _hyper(rows: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A draw of (mean, precision) of the rows' Gaussian from its Gaussian-Wishart posterior
    (prior: mean 0, ``beta_0``, ``nu_0 = k``, ``W_0 = I``)."""
    n, k = rows.shape
    centre = rows.mean(axis=0)
    spread = (rows - centre).T @ (rows - centre)
    beta = BETA0 + n
    scale = np.linalg.inv(np.eye(k) + spread + (BETA0 * n / beta) * np.outer(centre, centre))
    precision = _wishart(scale, k + n, rng)
    mean = n * centre / beta
    lower = np.linalg.cholesky(beta * precision)
    return mean + np.linalg.solve(lower.T, rng.standard_normal(k)), precision


def _wishart(scale: np.ndarray, df: float, rng: np.random.Generator) -> np.ndarray:
    """A Wishart draw by Bartlett's decomposition: ``L A A' L'`` with ``scale = L L'``, ``A``
    lower triangular, chi-distributed diagonal and standard normal below it."""
    k = len(scale)
    lower = np.linalg.cholesky((scale + scale.T) / 2)
    a = np.tril(rng.standard_normal((k, k)), -1)
    a[np.diag_indices(k)] = np.sqrt(rng.chisquare(df - np.arange(k)))
    la = lower @ a
    return la @ la.T
