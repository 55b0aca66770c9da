"""Prediction intervals from a Bayesian model's posterior draws (bpmf, bfm): an interval of
the rating itself, the model's noise included, not of its mean.

Each kept draw ``s`` predicts ``f_s = prediction + (d_s - mean_s d_s)`` (``d_s`` its own
``p_u . q_i``, read from its block of the saved factors), and a rating given that draw is
``N(f_s, sigma^2)`` with ``sigma`` the model's noise; the interval at level ``L`` runs between the
``(1 - L) / 2`` and ``(1 + L) / 2`` quantiles of the mixture over the draws, clipped to the
rating scale. A pair with an unknown side has no draws to spread it: its interval is the
noise's alone around the fallback. (bfm keeps its biases averaged over the draws, so its
intervals leave out the biases' own uncertainty.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recfactor.errors import ParameterError

# Pairs a pass works on: the draws of 20,000 pairs x 100 draws take 16 MB.
CHUNK = 20_000
# Bisection steps for each quantile: the bracket (about 12 noise widths) shrinks below 1e-8.
STEPS = 32


def require_intervals(model: Any) -> None:
    """Refuse a point-estimate model (and a Bayesian one saved without its noise)."""
    if model.name not in ("bpmf", "bfm"):
        raise ParameterError(
            f"the {model.name} model gives a single value for each prediction, not a "
            "distribution: it has no interval",
            hint="use --algo bpmf or bfm, whose posterior draws give intervals",
        )
    if getattr(model, "noise_sd_", None) is None or model.feedback_ != "explicit":
        raise ParameterError(f"this {model.name} model file does not record its noise",
                             hint="train it again with this version of recfactor")  # fmt: skip


def check(model: Any, level: float) -> float:
    """Refuse what :func:`intervals` would refuse (the model, the level) before any work."""
    require_intervals(model)
    return check_level(level)


def check_level(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ParameterError(f"`interval` {level:g} must be above 0 and below 1",
                             hint="give the share of ratings to cover, e.g. 0.9")  # fmt: skip
    return float(level)


def intervals(
    model: Any, u: np.ndarray, i: np.ndarray, center: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of each pair's rating at ``level``, around ``center`` (its predictions)."""
    level = check(model, level)
    u, i = np.asarray(u, dtype=np.int64), np.asarray(i, dtype=np.int64)
    center = np.asarray(center, dtype=np.float64)
    low, high = np.empty(len(u)), np.empty(len(u))
    levels, cuts = getattr(model, "levels_", None), getattr(model, "cutpoints_", None)
    for start in range(0, len(u), CHUNK):
        rows = slice(start, start + CHUNK)
        if cuts is None:
            draws = _draws(model, u[rows], i[rows], center[rows])
            low[rows] = _mixture_quantile(draws, model.noise_sd_, (1 - level) / 2)
            high[rows] = _mixture_quantile(draws, model.noise_sd_, (1 + level) / 2)
        else:  # the ordinal likelihood: the fewest levels of the scale that hold the share
            from recfactor.models.ordinal import interval

            draws = _draws(model, u[rows], i[rows], model.to_latent(center[rows]))
            low[rows], high[rows] = interval(draws, levels, cuts, level)
    if model.rating_scale_ is not None:
        low, high = (np.clip(x, *model.rating_scale_) for x in (low, high))
    return low, high


# Training ratings (evenly spaced) on which a model's noise is measured: plenty for one number.
NOISE_RATINGS = 200_000


def noise_of_draws(model: Any, users: np.ndarray, items: np.ndarray, ratings: np.ndarray) -> float:
    """The noise the kept draws leave on the training ratings: the root mean square of
    ``rating - f_s`` over the ratings (up to ``NOISE_RATINGS`` of them) and the draws, where
    ``f_s`` is draw ``s``'s prediction. Where the noise precision is sampled, this is where its
    posterior lies; where it is a fixed parameter (bpmf's ``alpha``), it is the noise the fit
    actually left, so that the intervals hold on data whose noise the parameter misjudges."""
    take = np.unique(np.linspace(0, len(ratings) - 1, min(len(ratings), NOISE_RATINGS)).astype(
        np.int64))  # fmt: skip
    u, i = users[take].astype(np.int64), items[take].astype(np.int64)
    center = model.global_mean_ + np.zeros(len(u))
    if model.user_bias_ is not None:
        center += model.user_bias_[u] + model.item_bias_[i]
    k = model.params.factors
    count = model.item_factors_.shape[1] // k
    parts = (model.user_factors_[u].astype(np.float64) * model.item_factors_[i]).reshape(
        len(u), count, k).sum(axis=2) * count  # fmt: skip
    residual = ratings[take][:, None] - (center[:, None] + parts)
    return float(np.sqrt(np.mean(residual**2)))


def _draws(model: Any, u: np.ndarray, i: np.ndarray, center: np.ndarray) -> np.ndarray:
    """(pairs x draws) of each draw's prediction: ``center`` moved by how far the draw's
    factor part lies from their mean."""
    k = model.params.factors
    count = model.item_factors_.shape[1] // k
    out = np.repeat(center[:, None], count, axis=1)
    known = (u >= 0) & (i >= 0) & (u < len(model.user_factors_)) & (i < len(model.item_factors_))
    if known.any():
        users = model.user_factors_[u[known]].astype(np.float64)
        items = model.item_factors_[i[known]].astype(np.float64)
        # Each block holds a draw scaled by 1/sqrt(draws) on both sides: times the count, its
        # own p.q; their mean is the model's.
        parts = (users * items).reshape(len(users), count, k).sum(axis=2) * count
        out[known] += parts - parts.mean(axis=1, keepdims=True)
    return out


def _mixture_quantile(draws: np.ndarray, sd: float, q: float) -> np.ndarray:
    """The ``q`` quantile of the equal mixture of N(draw, sd^2) over each row's draws."""
    from scipy.special import ndtr

    low = draws.min(axis=1) - 8 * sd
    high = draws.max(axis=1) + 8 * sd
    for _ in range(STEPS):
        mid = (low + high) / 2
        below = ndtr((mid[:, None] - draws) / sd).mean(axis=1) < q
        low = np.where(below, mid, low)
        high = np.where(below, high, mid)
    return (low + high) / 2
