"""bfm's ordered-probit likelihood (Albert and Chib 1993; 2001): a rating on a scale of a few
levels (stars) is the band a latent ``z = f + N(0, 1)`` falls in, between cutpoints
``c_1 < ... < c_{K-1}``, where ``f`` is the factorization machine's prediction.

The fit draws each rating's ``z`` from its band (a truncated normal) and then the machine's
weights against ``z`` as against ratings (noise precision 1), and the cutpoints by a
random-walk Metropolis step with ``z`` integrated out (drawn given ``z`` alone they barely
move). A prediction is the expected rating, ``L_1 + sum_j (L_{j+1} - L_j) Phi(f - c_j)``, read
at the draws' mean ``f`` and cutpoints: on MovieLens 100K it scored within 0.0005 of the
average of the draws' own expected ratings (BENCHMARKS.md), and it keeps the saved model a
linear one (its biases and factors), so that recommend ranks by ``f`` as by any factor model's
prediction. The Gaussian likelihood reads a 1 to 5 scale as evenly spaced; the bands learn
how far apart the stars lie.
"""

from __future__ import annotations

import numpy as np

from recfactor.errors import DataError

# ``auto`` takes the ordinal likelihood where the training ratings have at most this many
# distinct values (1-5 stars; half stars 0.5-5; 1-10), and the Gaussian one otherwise.
AUTO_LEVELS = 10
# Above this many levels the cutpoints' random walk has too many to move at once.
MAX_LEVELS = 20
# The cutpoints' random-walk step, and how it adapts during the burn-in (every ADAPT_EVERY
# sweeps, towards an acceptance of 20-40%).
FIRST_STEP = 0.01
ADAPT_EVERY = 20


def scale_of(likelihood: str, ratings: np.ndarray, source: str) -> np.ndarray | None:
    """The rating levels the ordinal likelihood reads (sorted), or None for the Gaussian."""
    if likelihood == "gaussian":
        return None
    levels = _distinct(np.asarray(ratings))
    if likelihood == "auto":
        return levels if 2 <= len(levels) <= AUTO_LEVELS else None
    if len(levels) < 2 or len(levels) > MAX_LEVELS:
        raise DataError(
            f"{source}: the ordinal likelihood needs ratings on a scale of 2 to {MAX_LEVELS} "
            f"levels; these take {len(levels)} distinct values",
            hint="use likelihood gaussian for ratings on a continuous scale",
        )
    return levels


def _distinct(ratings: np.ndarray) -> np.ndarray:
    """The ratings' distinct values (float64, sorted), or more than MAX_LEVELS of them: read
    from a sample first, so that continuous ratings cost no sort of them all (25M: 1.5 s)."""
    sample = np.unique(ratings[:: max(1, len(ratings) // 100_000)].astype(np.float64))
    if len(sample) > MAX_LEVELS:
        return sample
    at = np.minimum(np.searchsorted(sample, ratings), max(len(sample) - 1, 0))
    missed = sample[at] != ratings if len(sample) else np.ones(len(ratings), dtype=bool)
    if not missed.any():
        return sample
    return np.unique(np.r_[sample, ratings[missed].astype(np.float64)])


def phi(x: np.ndarray) -> np.ndarray:
    """The standard normal CDF, from numpy alone (scipy's import is half a `predict`'s start):
    erfc by its Chebyshev fit (fractional error under 1.2e-7, Numerical Recipes' erfcc)."""
    x = np.asarray(x, dtype=np.float64)
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))  # fmt: skip
    tail = 0.5 * t * np.exp(poly)  # P(N(0,1) > |x|)
    return np.where(x >= 0, 1.0 - tail, tail)


def expected(latent: np.ndarray, levels: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """The expected rating at each latent value: ``L_1 + sum_j (L_{j+1} - L_j) Phi(f - c_j)``."""
    latent = np.asarray(latent, dtype=np.float64)
    out = np.full(latent.shape, levels[0])
    for step, cut in zip(np.diff(levels), cuts):
        out += step * phi(latent - cut)
    return out


def latent_of(values: np.ndarray, levels: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """The latent value whose expected rating is each of ``values`` (those beyond the scale's
    ends at 8 beyond its outer cutpoints), by bisection: :func:`expected` is increasing."""
    values = np.asarray(values, dtype=np.float64)
    low = np.full(values.shape, cuts[0] - 8.0)
    high = np.full(values.shape, cuts[-1] + 8.0)
    for _ in range(60):
        mid = (low + high) / 2
        below = expected(mid, levels, cuts) < values
        low = np.where(below, mid, low)
        high = np.where(below, high, mid)
    return (low + high) / 2


def _bands(classes: np.ndarray, cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    edges = np.concatenate([[-np.inf], cuts, [np.inf]])
    return edges[classes], edges[classes + 1]


def _band_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``Phi(b) - Phi(a)`` (a < b), from the nearer tail: in the upper one, 1 - Phi would round
    to 0."""
    from scipy.special import ndtr

    # Each entry's own tail alone: half the calls of both tails and a choice (5M ratings: a
    # sweep's two likelihoods took 0.9 s of its 1.3).
    upper = a > 0
    out = np.empty(np.broadcast(a, b).shape)
    if upper.any():
        out[upper] = ndtr(-a[upper]) - ndtr(-b[upper])
    lower = ~upper
    out[lower] = ndtr(b[lower]) - ndtr(a[lower])
    return out


def log_likelihood(classes: np.ndarray, latent: np.ndarray, cuts: np.ndarray) -> float:
    lo, hi = _bands(classes, cuts)
    return float(np.log(np.maximum(_band_mass(lo - latent, hi - latent), 1e-300)).sum())


def truncated_draws(lo: np.ndarray, hi: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """A standard normal drawn within [lo, hi] for each entry, by its inverse CDF at
    ``uniform`` (from the nearer tail); where the band's mass rounds to nothing, its nearer
    edge."""
    from scipy.special import ndtr, ndtri

    upper = lo > 0  # drawn as the mirror image, -x in [-hi, -lo]
    a, b = np.where(upper, -hi, lo), np.where(upper, -lo, hi)
    pa, pb = ndtr(a), ndtr(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = ndtri(pa + uniform * (pb - pa))
    # (mirrored, the band lies below zero where its mass rounds away: its upper edge nearest)
    x = np.where(np.isfinite(x), x, np.where(np.isfinite(b), b, a))
    x = np.clip(x, a, b)
    return np.where(upper, -x, x)


def truncated_means(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The mean of a standard normal within [lo, hi]: ``(phi(lo) - phi(hi)) / (Phi(hi) -
    Phi(lo))``, the nearer edge where the mass rounds to nothing."""
    mass = _band_mass(lo, hi)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (_density(lo) - _density(hi)) / mass
    edge = np.where(np.abs(np.where(np.isfinite(lo), lo, np.inf)) < np.abs(hi), lo, hi)
    return np.where((mass > 1e-300) & np.isfinite(mean), mean, edge)


def _density(x: np.ndarray) -> np.ndarray:
    """The standard normal density, 0 at an infinite edge."""
    finite = np.isfinite(x)
    return np.exp(-0.5 * np.where(finite, x, 0.0) ** 2) / np.sqrt(2 * np.pi) * finite


def residuals(ratings: np.ndarray, guess: np.ndarray, levels: np.ndarray,
              cuts: np.ndarray) -> np.ndarray:  # fmt: skip
    """How far each rating's latent value lies from ``guess`` on average (its band's truncated
    normal mean about the guess): the ordinal model's residuals, for placing a row by its
    ratings. A rating off the scale counts as its nearest level."""
    classes = classes_of(ratings, levels)
    lo, hi = _bands(classes, cuts)
    return truncated_means(lo - guess, hi - guess)


def classes_of(ratings: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Each rating's level (0-based), the nearest level for a value between or beyond them."""
    r = np.asarray(ratings, dtype=np.float64)
    at = np.clip(np.searchsorted(levels, r), 1, len(levels) - 1)
    nearer_low = (r - levels[at - 1]) <= (levels[at] - r)
    return np.where(nearer_low, at - 1, at).astype(np.int64)


def interval(draws: np.ndarray, levels: np.ndarray, cuts: np.ndarray,
             share: float) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(low, high) of each row: the fewest consecutive levels that hold at least ``share`` of
    its rating's probability under the equal mixture of its draws' latent values (pairs x
    draws), the likelier of equally many. A rating is a level, so its probability comes in
    lumps: of planted 1 to 5 star ratings, the 25% and 75% points covered 85%, these windows
    at 50% covered 68% (and at 80%, 92% against 97%; tests/test_ordinal.py)."""
    below = np.column_stack(
        [np.zeros(len(draws))] + [phi(c - draws).mean(axis=1) for c in cuts] + [np.ones(len(draws))]
    )  # P(rating <= level j), from level 0
    low = np.full(len(draws), -1)
    high = np.full(len(draws), -1)
    for width in range(1, len(levels) + 1):
        mass = below[:, width:] - below[:, :-width]  # windows of ``width`` levels
        best = np.argmax(mass, axis=1)
        found = (low < 0) & (mass[np.arange(len(draws)), best] >= share - 1e-12)
        low[found], high[found] = best[found], best[found] + width - 1
    return levels[low], levels[high]


class Sampler:
    """The latent values and cutpoints of the ratings ``classes`` (0-based levels), drawn in
    turn with the machine's weights (``models.bfm``)."""

    def __init__(self, classes: np.ndarray, n_levels: int) -> None:
        from scipy.special import ndtri

        self.classes = classes
        counts = np.bincount(classes, minlength=n_levels)
        # Started where a latent N(0, 1) would give the levels their shares of the ratings.
        share = np.cumsum(counts)[:-1] / len(classes)
        self.cuts = np.sort(ndtri(np.clip(share, 1e-6, 1 - 1e-6))) + np.arange(n_levels - 1) * 1e-6
        self.step = FIRST_STEP
        self.accepted = 0

    def start(self, latent: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The first latent values, about the machine's starting prediction ``latent``."""
        lo, hi = _bands(self.classes, self.cuts)
        return latent + truncated_draws(lo - latent, hi - latent, rng.uniform(size=len(latent)))

    def sweep(self, z: np.ndarray, e: np.ndarray, rng: np.random.Generator, sweep: int,
              adapt: bool) -> np.ndarray:  # fmt: skip
        """One draw of the cutpoints (Metropolis), then of every latent value, given the
        machine's prediction ``z - e``. Returns the new latent values; ``e`` (the residuals)
        moves with them."""
        latent = z - e
        now = np.concatenate([[self.cuts[0]], np.log(np.diff(self.cuts))])
        proposed = now + self.step * rng.standard_normal(len(now))
        cuts = np.cumsum(np.concatenate([[proposed[0]], np.exp(proposed[1:])]))
        # A flat prior on (c_1, log gaps): the ratio is the likelihoods'.
        ratio = log_likelihood(self.classes, latent, cuts) - log_likelihood(
            self.classes, latent, self.cuts)  # fmt: skip
        if np.log(rng.uniform()) < ratio:
            self.cuts = cuts
            self.accepted += 1
        if adapt and (sweep + 1) % ADAPT_EVERY == 0:
            rate = self.accepted / ADAPT_EVERY
            self.step *= 1.5 if rate > 0.4 else 0.6 if rate < 0.2 else 1.0
            self.accepted = 0
        lo, hi = _bands(self.classes, self.cuts)
        new = latent + truncated_draws(lo - latent, hi - latent, rng.uniform(size=len(latent)))
        e += new - z
        return new
