"""Bayesian factorization machine (Rendle 2013; Freudenthaler, Schmidt-Thieme and Rendle 2011),
by Gibbs sampling: everything a user or an item is known by, in one model.

A user is a set of features: its ID, the items it rated (``1 / sqrt(n)`` each: the implicit
signal of SVD++), and its attributes (``--user-features``); an item likewise (its ID, the users
who rated it, its attributes). A rating is ``w0 + b_u + c_i + U_u . I_i + noise``, where each
side's bias and factors are the sums of its features' (``b_u = sum_j x_uj w_j``, ``U_u = sum_j
x_uj v_j``): a factorization machine over the two sides' features, without the interactions of
a side's features with each other (they add a constant to each user, which its bias already
holds). Every weight has a Gaussian prior whose mean and precision are drawn too, one pair per
feature group (the IDs, the implicit features, each attribute column; each factor its own), so
that the regularisation is learned from the data, and the noise's precision likewise
(``kernels/bfm.py`` for the sampling).

Ratings on a scale of a few levels (stars) are read by an ordered probit (``likelihood``,
models/ordinal.py): the machine then models a latent value, and a rating is the band between
learned cutpoints that it falls in. A prediction is the average over the sweeps kept after
the burn-in (through the link, the expected rating). As bpmf's, the kept draws'
sums are saved side by side, scaled by ``1 / sqrt(samples)``, so that predict, recommend,
similar and export read them as any factor model's; the features' own draws are saved the same
way, so that a new user is placed from its attributes and the items it rated
(:func:`recfactor.models.bfm.place`) with no refit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from recfactor.errors import DataError
from recfactor.models.base import Model
from recfactor.models.bpmf import check_burn_in, kept_sweeps
from recfactor.models.declarations import BFMParams
from recfactor.models.scoring import pair_dots

# The hyperpriors (Rendle 2013, as libFM and myFM): Gamma(1, 1) on precisions, N(0, 1 /
# (gamma0 lambda)) on means; a weak N(0, 1/W0_PRECISION) on the global bias.
ALPHA0 = 1.0
BETA0 = 1.0
GAMMA0 = 1.0
W0_PRECISION = 1e-2
DAY = 86_400.0  # the time context's bins: a day of Unix seconds
CLIPPED = 1 << 4  # the compiled predictions' flag that clips them (Scoring._compiled_model)
# The baseline that sets a new row's level (see _fit): epochs, user and item regularisation.
FALLBACK_EPOCHS = 10
FALLBACK_REG = (5.0, 2.0)
# The ridge penalties tried for the map from attributes to a row's bias and factors; the one
# with the least leave-one-out error is kept.
ATTRIBUTE_PENALTIES = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0)
# The ratings (evenly spaced) on which a penalty's placements are judged.
SELECTION_RATINGS = 20_000


class BFM(Model):
    """Bayesian factorization machine by Gibbs sampling (``factors=16, epochs=200,
    burn_in=50, samples=100``), on the ratings, the implicit signal of who rated what, and the
    users' and items' attributes where given. Explicit feedback only."""

    name = "bfm"
    params_class = BFMParams
    takes_features = True
    epochs_halve = False  # draws from a posterior, not steps towards a point (as bpmf)
    # A sweep calls its kernels from Python, each once per side and factor over every rating
    # (4,400 calls a fit at the defaults), and each call in parallel first wakes the threads
    # that slept since the last: on MovieLens 100K u1 with attributes a fit took 6.9 s on two
    # threads and 2.7 s on one; on 900,000 synthetic ratings two threads gain 10%, on 400,000
    # one is still faster (1.8 s against 2.2, BENCHMARKS.md).
    parallel_min_ratings = 600_000

    def _prepare(self) -> None:
        from recfactor.kernels.bfm import warm_up

        warm_up()

    def _check_data(self, dataset) -> None:
        from recfactor.models import ordinal

        check_burn_in(self.params)
        # The ordinal likelihood refused before the fit where the ratings take too many values.
        ordinal.scale_of(self.params.likelihood, dataset.ratings, dataset.source)

    def _fit(self, dataset, rng: np.random.Generator) -> None:
        from recfactor.kernels.bfm import sample_side
        from recfactor.models import ordinal

        p: BFMParams = self.params
        k = p.factors
        levels = ordinal.scale_of(p.likelihood, dataset.ratings, dataset.source)
        if levels is None:
            mu = float(dataset.ratings.mean(dtype=np.float64))
            spread = float(dataset.ratings.std(dtype=np.float64))
            spread = spread if spread > 0 and np.isfinite(spread) else 1.0
            y = (dataset.ratings.astype(np.float64) - mu) / spread
        else:  # the latent values' unit is the noise's own; no global bias (the cutpoints')
            mu, spread = 0.0, 1.0
            sampler = ordinal.Sampler(ordinal.classes_of(dataset.ratings, levels), len(levels))
        side = getattr(dataset, "side", None)
        shape = (dataset.n_users, dataset.n_items)
        users = _Side.build(dataset.users, dataset.items, *shape, p.implicit,
                            _attributes(side, "user", dataset.user_ids), k, rng)  # fmt: skip
        items = _Side.build(dataset.items, dataset.users, *shape[::-1], p.implicit,
                            _attributes(side, "item", dataset.item_ids), k, rng)  # fmt: skip
        times = None
        day = getattr(dataset, "times", None)
        if day is not None and p.time:
            days = np.floor(np.asarray(day, dtype=np.float64) / DAY).astype(np.int64)
            self.first_day_ = int(days.min())
            days -= self.first_day_
            times = _Side.build(days, np.zeros(len(days), dtype=np.int64), int(days.max()) + 1, 1,
                                False, None, k, rng)  # fmt: skip
        w0 = 0.0
        sides = [users, items] + ([] if times is None else [times])
        if levels is not None:
            y = sampler.start(_predicted(sides), rng)
        e = y - _predicted(sides)
        kept = kept_sweeps(p.burn_in, p.epochs, p.samples)
        keep = _Kept(sides, len(kept), k)
        n = len(y)
        noise_var = 0.0  # the kept sweeps' noise variances summed, in the ratings' unit
        cuts = 0.0  # the kept sweeps' cutpoints summed (ordinal)
        for sweep in range(p.epochs):
            if levels is not None:
                alpha = 1.0
                y = sampler.sweep(y, e, rng, sweep, adapt=sweep < p.burn_in)
            else:
                alpha = rng.gamma((ALPHA0 + n) / 2, 2.0 / (BETA0 + float(e @ e)))
                precision = alpha * n + W0_PRECISION
                draw = rng.standard_normal()
                new = alpha * float(e.sum() + n * w0) / precision + draw / np.sqrt(precision)
                e -= new - w0
                w0 = new
            for own in sides:
                hyper = own.hyper(rng)
                noise = rng.standard_normal((own.n_features, k + 1))
                sample_side(own, [s for s in sides if s is not own], e, alpha, hyper, noise)
            if sweep in kept:
                keep.add(kept[sweep], w0, sides)
                noise_var += spread**2 / alpha
                if levels is not None:
                    cuts = cuts + sampler.cuts
            self._on_epoch(sweep + 1, p.epochs)
        scale = np.sqrt(spread / len(kept))  # the average's 1/S, and the unit back, in halves
        self.noise_sd_ = float(np.sqrt(noise_var / len(kept)))
        self.levels_ = levels
        self.cutpoints_ = None if levels is None else cuts / len(kept)
        user_bias = spread * keep.bias[0] / len(kept)
        item_bias = spread * keep.bias[1] / len(kept)
        # Each side's mean bias moves into the global one (the same predictions), so that a
        # row nothing is known of stands at its side's mean, not at zero.
        self.global_mean_ = mu + spread * keep.w0 / len(kept) + user_bias.mean() + item_bias.mean()
        self.user_bias_ = user_bias - user_bias.mean()
        self.item_bias_ = item_bias - item_bias.mean()
        self.user_factors_ = (keep.factors[0] * scale).astype(np.float32)
        self.item_factors_ = (keep.factors[1] * scale).astype(np.float32)
        self.day_bias_ = self.day_factors_ = self.user_days_ = self.user_day_bias_ = None
        if times is not None:
            # A prediction with no time is the user's at its own days: their mean context is
            # folded into the user's factors (U + C_u against I) and bias (U . C_u and the days'
            # bias), so that predict and recommend without a time read it as any factor model.
            import scipy.sparse as sp

            n = dataset.n_users
            counts = np.bincount(users.rows_of, minlength=n).astype(np.float64)
            weight = 1.0 / np.maximum(counts, 1.0)[users.rows_of]
            share = sp.csr_matrix((weight, (users.rows_of, times.rows_of)),
                                  shape=(n, times.n_rows))  # fmt: skip
            day_bias = spread * keep.bias[2] / len(kept)
            day_factors = keep.factors[2] * scale
            own = np.asarray(share @ day_factors)
            self.user_day_bias_ = share @ day_bias
            lean = np.einsum("ij,ij->i", self.user_factors_.astype(np.float64), own)
            self.user_bias_ = self.user_bias_ + self.user_day_bias_ + lean
            self.user_factors_ = (self.user_factors_ + own).astype(np.float32)
            self.day_bias_, self.day_factors_ = day_bias, day_factors.astype(np.float32)
            self.user_days_ = own.astype(np.float32)
            # Centred again, their mean into the global bias: a user with no row stands at
            # the users' mean bias (below), which the days' part had moved off zero.
            centre = float(self.user_bias_.mean())
            self.global_mean_ += centre
            self.user_bias_ = self.user_bias_ - centre
        # A user the fit did not see stands at the average user: the users' factors weighted
        # by their ratings, the users' mean bias (0: in the global one). On MovieLens 100K's
        # held-out users (u1..u5) it scored 1.0223 where the baseline's level scored 1.0303,
        # and with their attributes 1.0178 against 1.0298 (BENCHMARKS.md): a row of zeros
        # lacks the taste every rater shares (the implicit features' sum above all), which
        # the baseline cannot restore. The users' biases weighted likewise scored worse
        # (1.0247; 1.0194): heavy raters rate lower than a newcomer does.
        counts = np.bincount(dataset.users, minlength=dataset.n_users).astype(np.float64)
        self.new_user_factors_ = (counts @ self.user_factors_.astype(np.float64)) / counts.sum()
        from recfactor.models.biases import fit_biases

        # Where an item is new, the level is a baseline's, which follows the observed ratings
        # (the model's own biases stand where an average user would rate an item, not where its
        # raters do); a placed row adds how its attributes move it. Regularised lighter than
        # Surprise's BaselineOnly (15, 10): on MovieLens 100K u1, users held out entirely
        # score 1.009 against 1.019 (BENCHMARKS.md).
        mean, self.fallback_user_bias_, self.fallback_item_bias_ = fit_biases(
            dataset.users, dataset.items, dataset.ratings, dataset.n_users, dataset.n_items,
            FALLBACK_EPOCHS, *FALLBACK_REG,
        )  # fmt: skip
        self.fallback_mean_ = float(mean)
        for what, s in (("user", _features(side, "user")), ("item", _features(side, "item"))):
            found = None
            if s is not None:
                found = self._attribute_map(what, s.rows_for(getattr(dataset, f"{what}_ids")),
                                            dataset)  # fmt: skip
            setattr(self, f"{what}_attribute_mean_", None if found is None else found[0])
            setattr(self, f"{what}_attribute_map_", None if found is None else found[1])
        self.encodings_ = {w: None if s is None else s.encoding.to_dict()
                           for w, s in (("user", _features(side, "user")),
                                        ("item", _features(side, "item")))}  # fmt: skip
        self.uses_bias_ = True

    def _attribute_map(self, what: str, rows: Any, dataset: Any) -> Any:
        """:func:`attribute_map` of one side, its placements judged on the side's ratings."""
        users = what == "user"
        own, other = (dataset.users, dataset.items) if users else (dataset.items, dataset.users)
        bias, factors = (self.user_bias_, self.user_factors_) if users else (
            self.item_bias_, self.item_factors_)  # fmt: skip
        other_factors = self.item_factors_ if users else self.user_factors_
        other_bias = self.fallback_item_bias_ if users else self.fallback_user_bias_
        step = max(1, len(own) // SELECTION_RATINGS)
        at = other[::step]
        # Judged from the baseline's level, also for users (who now start at the average user):
        # judged from there, the map chose penalties that placed them worse (MovieLens 100K's
        # held-out users 1.0187 against 1.0178, BENCHMARKS.md).
        level, value = self.fallback_mean_ + other_bias[at], dataset.ratings[::step]
        if self.cutpoints_ is not None:  # on the latent scale: each rating's band's mean
            level = self.to_latent(level)
            value = level + self.residuals(value, level)
        picked = (own[::step], at, other_factors, level, value)
        return attribute_map(rows, bias, factors, picked)

    # --- the file ------------------------------------------------------------------------

    FEATURE_ARRAYS = ("fallback_user_bias", "fallback_item_bias", "user_attribute_mean",
                      "user_attribute_map", "item_attribute_mean", "item_attribute_map",
                      "day_bias", "day_factors", "user_days", "user_day_bias",
                      "new_user_factors", "levels", "cutpoints")  # fmt: skip
    # None (a model saved before it was kept): a new user stands at the baseline's level.
    new_user_factors_: np.ndarray | None = None

    @property
    def unknown_user_answer(self) -> str:
        return "the baseline" if self.new_user_factors_ is None else "the average user"

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = super().to_arrays()
        for name in self.FEATURE_ARRAYS:
            if getattr(self, name + "_", None) is not None:
                arrays[name] = getattr(self, name + "_")
        return arrays

    def state(self) -> dict[str, Any]:
        return {**super().state(), "encodings": self.encodings_,
                "fallback_mean": self.fallback_mean_,
                "first_day": getattr(self, "first_day_", None)}  # fmt: skip

    def restore(self, arrays: dict[str, np.ndarray], state: dict) -> None:
        super().restore(arrays, state)
        for name in self.FEATURE_ARRAYS:
            setattr(self, name + "_", arrays.get(name))
        encodings = state.get("encodings") or {}
        self.encodings_ = {w: encodings.get(w) for w in ("user", "item")}
        self.fallback_mean_ = float(state.get("fallback_mean", self.global_mean_))
        if not np.isfinite(self.fallback_mean_):
            raise ValueError("a new row's level is not a finite number")
        if (self.levels_ is None) != (self.cutpoints_ is None) or (
            self.levels_ is not None and not _valid_scale(self.levels_, self.cutpoints_)
        ):
            raise ValueError("its ordinal scale (levels and cutpoints) is not a valid one")
        first = state.get("first_day")
        self.first_day_ = int(first) if isinstance(first, int) else 0

    # Rows placed by their features (recfactor.coldstart), not learned. A placed user's row is
    # the average user's moved by what is known of it (``new_user_factors_``), read as any
    # learned row's; a placed item's level is the fallback's, its item_bias_ and factors how
    # its attributes move it (and so a placed user's, in a model saved before the average
    # user was kept).
    placed_users_: np.ndarray | None = None
    placed_items_: np.ndarray | None = None

    def predict_index(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Known pairs as any factor model's; a user with no row at the average user's; a pair
        with a new item at the baseline's level (the known side's baseline bias), moved by the
        placed side's features where it was placed."""
        return self._clip(self._latent_index(u, i))

    def _latent_index(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """:meth:`predict_index` before the link (the Gaussian's: before the clip)."""
        u, i = np.asarray(u, dtype=np.int64), np.asarray(i, dtype=np.int64)
        placed_u, placed_i = _flag(self.placed_users_, u), _flag(self.placed_items_, i)
        average = self.new_user_factors_ is not None
        learned = (u >= 0) & (i >= 0) & ~placed_i & (average | ~placed_u)
        est = np.empty(len(u))
        if learned.any():
            uu, ii = u[learned], i[learned]
            if self._compiled_for(len(uu)):
                est[learned] = self._predict_compiled(uu, ii)  # unclipped: _compiled_model
            else:
                dots = pair_dots(self.user_factors_, self.item_factors_, uu, ii)
                est[learned] = self.global_mean_ + self.user_bias_[uu] + self.item_bias_[ii] + dots
        rest = ~learned
        if rest.any():
            est[rest] = self._level(u[rest], i[rest], placed_u[rest], placed_i[rest])
        return est

    # The ordinal likelihood's scale (models/ordinal.py): the rating levels and the mean
    # cutpoints of the kept draws; None for the Gaussian. The biases and factors are then the
    # latent scale's, and a prediction the expected rating at their latent value.
    levels_: np.ndarray | None = None
    cutpoints_: np.ndarray | None = None

    def _compiled_model(self) -> tuple:
        """The factor model's, unclipped: :meth:`predict_index` clips (or reads through the
        ordinal link) the learned pairs and the placed ones alike."""
        model = super()._compiled_model()
        return (*model[:5], model[5] & ~CLIPPED, *model[6:])

    def _clip(self, est: np.ndarray) -> np.ndarray:
        """A latent value as a rating: the expected rating (ordinal), else clipped to the
        scale."""
        if self.cutpoints_ is None:
            return super()._clip(est)
        from recfactor.models.ordinal import expected

        return expected(est, self.levels_, self.cutpoints_)

    def export_note(self) -> str | None:
        """An ordinal model's biases and factors give a latent value, not a rating."""
        if self.cutpoints_ is None:
            return None
        cuts = ", ".join(f"{c:.6g}" for c in self.cutpoints_)
        return (f"note: this model is ordinal: the mean, biases and factors give a rating's "
                f"latent value f; its expected rating is {self.levels_[0]:g} + the sum over "
                f"the cutpoints c_j ({cuts}) of (the next level - the one below) * "
                f"Phi(f - c_j)")  # fmt: skip

    def to_latent(self, ratings: np.ndarray) -> np.ndarray:
        """A rating-scale level (a baseline's) on the latent scale (ordinal), else itself."""
        if self.cutpoints_ is None:
            return ratings
        from recfactor.models.ordinal import latent_of

        return latent_of(ratings, self.levels_, self.cutpoints_)

    def residuals(self, ratings: np.ndarray, guess: np.ndarray) -> np.ndarray:
        """How far ``ratings`` lie from the latent ``guess`` on the model's scale (a user
        placed by its ratings moves by them: recfactor.coldstart)."""
        if self.cutpoints_ is None:
            return np.asarray(ratings, dtype=np.float64) - guess
        from recfactor.models.ordinal import residuals

        return residuals(ratings, guess, self.levels_, self.cutpoints_)

    def _level(self, u: np.ndarray, i: np.ndarray, placed_u: np.ndarray, placed_i: np.ndarray
               ) -> np.ndarray:  # fmt: skip
        """The pairs with a new side (see :meth:`predict_index`): the fallback's level, each
        learned side's baseline bias, each placed side's move and the placed rows' product."""
        level = np.full(len(u), self.fallback_mean_)
        has_u, has_i = u >= 0, i >= 0
        learned_u, learned_i = has_u & ~placed_u, has_i & ~placed_i
        level[learned_u] += self.fallback_user_bias_[u[learned_u]]
        level[learned_i] += self.fallback_item_bias_[i[learned_i]]
        level = self.to_latent(level)
        level[placed_u] += self.user_bias_[u[placed_u]]
        level[placed_i] += self.item_bias_[i[placed_i]]
        both = has_u & has_i & (placed_u | placed_i)
        level[both] += np.einsum("ij,ij->i", self.user_factors_[u[both]].astype(np.float64),
                                 self.item_factors_[i[both]].astype(np.float64))  # fmt: skip
        if self.new_user_factors_ is not None:  # no row, a learned item: the average user
            alone = ~has_u & learned_i
            at = i[alone]
            level[alone] = (
                self.global_mean_
                + self.item_bias_[at]
                + (self.item_factors_[at].astype(np.float64) @ self.new_user_factors_)
            )
        return level

    def day_moves(self, u: np.ndarray, i: np.ndarray, times: np.ndarray) -> np.ndarray:
        """How each pair's time (Unix seconds; NaN: none) moves its prediction from the user's
        own days: the day's bias and factors against the user's and the item's, less the
        user's days' (0 for a day the fit did not see, a user placed since, or a model fitted
        without time)."""
        out = np.zeros(len(u))
        if self.day_factors_ is None:
            return out
        t = np.asarray(times, dtype=np.float64)
        day = np.floor(np.where(np.isfinite(t), t, -np.inf) / DAY) - self.first_day_
        ok = np.isfinite(day) & (day >= 0) & (day < len(self.day_bias_))
        ok &= (u >= 0) & (u < len(self.user_days_)) & (i >= 0)
        d, uu, ii = day[ok].astype(np.int64), u[ok], i[ok]
        own = self.user_days_[uu].astype(np.float64)
        move = self.day_factors_[d].astype(np.float64) - own
        base = self.user_factors_[uu].astype(np.float64) - own
        both = base + self.item_factors_[ii].astype(np.float64)
        out[ok] = self.day_bias_[d] - self.user_day_bias_[uu] + np.einsum("ij,ij->i", both, move)
        return out

    def predict_at(self, users: Any, items: Any, times: Any) -> np.ndarray:
        """:meth:`predict` of each pair at its time (Unix seconds)."""
        from recfactor.dataset import seconds

        u, i = self.user_index(users), self.item_index(items)
        return self.at_days(self.predict_index(u, i), u, i, seconds(times, len(u)))

    def at_days(self, values: np.ndarray, u: np.ndarray, i: np.ndarray, times: Any) -> np.ndarray:
        """``values`` (predictions of the pairs ``u``, ``i`` without a time) moved to each
        pair's time, on the rating scale; a pair with an unknown side as it was."""
        if self.cutpoints_ is None:
            moved = self._clip(values + self.day_moves(u, i, times))
        else:  # moved on the latent scale, then read as a rating
            moved = self._clip(self._latent_index(u, i) + self.day_moves(u, i, times))
        return np.where((u < 0) | (i < 0), values, moved)

    # Users placed by their attributes alone: their lists rank by predicted rating plus this
    # many stars per unit of log(1 + training ratings) of the item. A list by predicted rating
    # alone picks well-rated films few watch; on MovieLens 100K's held-out users (u1..u5) its
    # ndcg@10 was 0.050 against popularity's 0.120, and this blend's 0.122 (BENCHMARKS.md).
    POPULARITY_STARS = 2.0
    placed_by_attributes_: np.ndarray | None = None

    def _rank_by_popularity_too(self, u: np.ndarray, out: np.ndarray) -> None:
        from recfactor import popularity

        rows = _flag(self.placed_by_attributes_, u)
        counts = popularity.item_counts(self) if rows.any() else None
        if counts is not None:
            out[rows] += self.POPULARITY_STARS * np.log1p(counts[: out.shape[1]])

    def _scores(
        self, u: np.ndarray, item_factors: np.ndarray | None, out: np.ndarray | None = None
    ) -> np.ndarray:
        """As any factor model's, with the levels of :meth:`predict_index` where a side was
        placed; users placed by attributes alone rank popular items up."""
        out = super()._scores(u, item_factors, out)
        placed_u = _flag(self.placed_users_, u)
        placed_i = _flag(self.placed_items_, np.arange(len(self.item_ids_)))
        fallback = float(self.to_latent(np.array([self.fallback_mean_]))[0])
        if placed_u.any():
            own = self.global_mean_ + self.item_bias_
            if self.new_user_factors_ is not None:
                level = own.copy()
            else:
                fallback_items = _padded(self.fallback_item_bias_, len(placed_i))
                level = self.to_latent(self.fallback_mean_ + fallback_items)
            level[placed_i] = fallback + self.item_bias_[placed_i]
            out[placed_u] += level - own
        if placed_i.any():
            users = ~placed_u
            shift = (self.to_latent(self.fallback_mean_ + self.fallback_user_bias_[u[users]])
                     - self.global_mean_ - self.user_bias_[u[users]])  # fmt: skip
            out[np.ix_(users, placed_i)] += shift[:, None]
        if self.cutpoints_ is not None:  # rows blended with popularity: in a rating's unit
            blended = _flag(self.placed_by_attributes_, u)
            if blended.any():
                out[blended] = self._clip(out[blended])
        self._rank_by_popularity_too(u, out)
        return out

    # An ordinal model ranks each list by the latent values (the link keeps their order) and
    # reads only the listed ones as ratings: the link over every item of a block cost more
    # than its product (1024 users x 1682 items: 0.15 s).
    def scores(self, u: np.ndarray) -> np.ndarray:
        out = super().scores(u)
        return out if self.cutpoints_ is None else self._as_ratings(np.asarray(u), out)

    def recommend_index(
        self, u: np.ndarray, n: int, exclude_seen: bool = True, allowed: Any = None,
        on_block: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        top, values = super().recommend_index(u, n, exclude_seen, allowed, on_block)
        if self.cutpoints_ is not None:
            values = self._as_ratings(np.asarray(u, dtype=np.int64), values)
        return top, values

    def _as_ratings(self, u: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """``scores`` (rows of users ``u``) read as ratings where still latent: the rows not
        blended with popularity (already ratings), their finite entries."""
        plain = ~_flag(self.placed_by_attributes_, u.astype(np.int64))
        cells = plain[:, None] & np.isfinite(scores)
        scores[cells] = self._clip(scores[cells])
        return scores

    def place_history(self, history: Any) -> tuple[Any, list[str], int]:
        """:func:`recfactor.foldin.fold_in` for bfm: the history's users placed by their
        ratings (recfactor.coldstart), no solve against the items. Returns the model, the
        users placed and how many history rows named items it does not know."""
        from recfactor import coldstart

        placed, paths = coldstart.place_users(self, [str(u) for u in history.user_ids], None,
                                              history)  # fmt: skip
        known = self.item_index(history.item_ids)[history.items] >= 0
        users = [u for u, path in paths.items() if path == "history"]
        return placed, users, int((~known).sum())

    def latent_factors(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The last kept draw's factors (the saved columns are every kept draw's, side by
        side), as bpmf's."""
        if self.user_factors_ is None or self.item_factors_ is None:
            return None
        k = self.params.factors
        unscale = np.sqrt(self.item_factors_.shape[1] // k)
        return (self.user_factors_[:, -k:] * unscale, self.item_factors_[:, -k:] * unscale)


def attribute_map(
    rows: Any, bias: np.ndarray, factors: np.ndarray, ratings: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, np.ndarray] | None:
    """How attributes move a row's bias and factors: a ridge regression of the known rows'
    (bias, factors) on their attribute ``rows``, centred. Its penalty is chosen by what it is
    for: each known row is placed from its attributes by the map fitted without it (leave one
    out, in closed form), and the penalty whose placements predict the rows' own ratings best
    (``ratings``: each rating's row, the other side's row at it, the other side's factors
    (rows x factor columns), the level the placement starts from, the rating) is kept, or none
    where no placement beats the level alone. Returns the attributes' mean and the map
    (attributes x (1 + factor columns)), or None: a new row with attributes ``x`` moves by
    ``(x - mean) @ map``, its bias by the first column."""
    a = rows.toarray() if hasattr(rows, "toarray") else np.asarray(rows, dtype=np.float64)
    target = np.column_stack([bias, factors]).astype(np.float64)
    mean = a.mean(axis=0)
    a, target = a - mean, target - target.mean(axis=0)
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    own, at, other, level, value = ratings
    left = value - level
    # In the attributes' singular basis (a = u s vt) a penalty's fit is u diag(g) (u' target),
    # g = s^2 / (s^2 + penalty): each rating's placement from its row's factors against the
    # other side's (1 + factor columns wide: every kept draw's) reduces to sums over the
    # attributes, which the penalties share, so the loop over them never forms the rows'
    # (rows x columns) placements (on MovieLens 100K u1: 0.28-0.32 s a side before, 0.04 s).
    projected = u.T @ target
    across = (projected[:, 1:] @ other.T)[:, at]  # (attributes x ratings): the factors, met
    truth = np.empty(len(own))  # each rating's own row's factors, met
    for start in range(0, len(own), 4096):
        part = slice(start, start + 4096)
        truth[part] = np.einsum("ij,ij->i", target[own[part], 1:], other[at[part]])
    basis = u[own]
    # The bias and the factors each take their own penalty, or none (their move is left out):
    # on MovieLens 100K, demographics move a user's factors usefully and its bias not at all.
    best = [float(left @ left)] * 2
    chosen: list[float | None] = [None, None]
    for penalty in ATTRIBUTE_PENALTIES:
        g = s**2 / (s**2 + penalty)
        hat = np.einsum("ij,j,ij->i", u, g, u)
        # Left out (closed form): moved = fitted - hat / (1 - hat) (target - fitted).
        c = (hat / (1.0 - hat))[own]
        bias = (u @ (g * projected[:, 0]))[own]
        factors = np.einsum("ij,j,ji->i", basis, g, across)
        guesses = ((1 + c) * bias - c * target[own, 0], (1 + c) * factors - c * truth)
        for t in (0, 1):
            error = float(((left - guesses[t]) ** 2).sum())
            if error < best[t]:
                best[t], chosen[t] = error, penalty
    if chosen[0] is None and chosen[1] is None:
        return None
    out = np.zeros((a.shape[1], target.shape[1]))  # attributes x (1 + factor columns)
    for t, columns in ((0, slice(0, 1)), (1, slice(1, None))):
        if chosen[t] is not None:
            out[:, columns] = vt.T @ ((s / (s**2 + chosen[t]))[:, None] * projected[:, columns])
    return mean, out


def _predicted(sides: list[_Side]) -> np.ndarray:
    """Each rating's prediction from the sides' sums (less the global bias): their biases and
    every pair of sides' factors (the day's against the user's and the item's too)."""
    bias = sum(s.b[s.rows_of] for s in sides)
    rows = [s.U[s.rows_of] for s in sides]
    pairs = sum(np.einsum("ij,ij->i", rows[a], rows[b])
                for a in range(len(rows)) for b in range(a + 1, len(rows)))  # fmt: skip
    return bias + pairs


def _valid_scale(levels: np.ndarray, cuts: np.ndarray) -> bool:
    """Finite, increasing levels, and one increasing cutpoint fewer."""
    return (levels.ndim == cuts.ndim == 1 and len(levels) >= 2 and len(cuts) == len(levels) - 1
            and bool(np.isfinite(levels).all() and np.isfinite(cuts).all())
            and bool((np.diff(levels) > 0).all() and (np.diff(cuts) > 0).all()))  # fmt: skip


def _flag(mask: np.ndarray | None, index: np.ndarray) -> np.ndarray:
    """``mask[index]`` where the index is valid, False elsewhere (and without a mask)."""
    if mask is None:
        return np.zeros(len(index), dtype=bool)
    ok = (index >= 0) & (index < len(mask))
    out = np.zeros(len(index), dtype=bool)
    out[ok] = mask[index[ok]]
    return out


def _padded(values: np.ndarray, n: int) -> np.ndarray:
    """``values`` (float64) with zeros up to ``n`` (the rows placed after the fit)."""
    out = np.zeros(n)
    out[: len(values)] = values
    return out


def _features(side: Any, what: str) -> Any:
    return None if side is None else getattr(side, what, None)


def _attributes(side: Any, what: str, ids: np.ndarray) -> Any:
    """The encoded attribute rows of ``ids`` (zeros for an ID without a row) and each
    feature's group, or None."""
    features = _features(side, what)
    if features is None:
        return None
    from recfactor.dataset import index_in

    if len(ids) and not (index_in(features.ids, ids) >= 0).any():
        # Each ID without a row is known by its ratings alone (recfactor.io.features); where
        # none has one, the file names its rows otherwise (a MovieLens ID against a title, a
        # prefix) and the fit would learn nothing from it, without a word.
        raise DataError(
            f"{features.source}: none of its {len(features.ids)} {what}s is in the ratings "
            f"(its IDs are like {str(features.ids[0])!r}, the ratings' like {str(ids[0])!r})",
            hint=f"give the {what}s' attributes under the IDs the ratings use",
        )
    return features.rows_for(ids), features.encoding.groups()


def feature_blocks(own: np.ndarray, other: np.ndarray, n_own: int, n_other: int,
                   implicit: bool, attributes: Any) -> tuple[Any, np.ndarray]:  # fmt: skip
    """One side's features, a row each (its ID, the other side's rows it rated at 1/sqrt(n)
    where ``implicit``, its attributes: a (matrix, column groups) pair or None), and each
    feature's prior group (the IDs, the implicit features, then the attributes' own)."""
    import scipy.sparse as sp

    blocks = [sp.identity(n_own, format="csr")]
    groups = [np.zeros(n_own, dtype=np.int64)]
    if implicit:
        counts = np.bincount(own, minlength=n_own).astype(np.float64)
        weight = 1.0 / np.sqrt(np.maximum(counts, 1.0))
        blocks.append(sp.csr_matrix((weight[own], (own, other)), shape=(n_own, n_other)))
        groups.append(np.full(n_other, 1, dtype=np.int64))
    if attributes is not None:
        matrix, columns = attributes
        blocks.append(matrix)
        groups.append(2 + columns)
    x = sp.hstack(blocks, format="csr")
    x.sum_duplicates()
    return x, np.unique(np.concatenate(groups), return_inverse=True)[1]


@dataclass
class _Side:
    """One side's layout (its rows' ratings, its features by column, their groups) and
    parameters (``w``, ``V``) and sums (``b = X w``, ``U = X V``). Features: the row's ID, the
    other side's rows it rated (implicit), its attributes, in this order."""

    rows_of: np.ndarray  # each rating's row
    indptr: np.ndarray  # the rows' ratings: ratings[indptr[u]:indptr[u + 1]]
    ratings: np.ndarray
    fptr: np.ndarray  # the features' rows: frows[fptr[j]:fptr[j + 1]], with values fvals
    frows: np.ndarray
    fvals: np.ndarray
    groups: np.ndarray
    n_groups: int
    n_rows: int
    w: np.ndarray
    V: np.ndarray
    b: np.ndarray
    U: np.ndarray

    @property
    def n_features(self) -> int:
        return len(self.w)

    @classmethod
    def build(cls, own, other, n_own, n_other, implicit, attributes, k, rng) -> _Side:
        x, group = feature_blocks(own, other, n_own, n_other, implicit, attributes)
        x = x.tocsc()
        order = np.argsort(own, kind="stable")
        indptr = np.zeros(n_own + 1, dtype=np.int64)
        np.cumsum(np.bincount(own, minlength=n_own), out=indptr[1:])
        n = x.shape[1]
        w = np.zeros(n)
        V = rng.normal(0.0, 0.1, (n, k))
        csr = x.tocsr()
        return cls(own.astype(np.int64), indptr, order.astype(np.int64),
                   x.indptr.astype(np.int64), x.indices.astype(np.int64), x.data.astype(np.float64),
                   group.astype(np.int64), int(group.max()) + 1, n_own, w, V,
                   np.asarray(csr @ w).ravel(), np.asarray(csr @ V))  # fmt: skip

    def hyper(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Each group's (precision, mean) of the bias weights and of each factor, drawn from
        their conditionals given the current weights: ``(k + 1, groups)`` each."""
        params = np.column_stack([self.w, self.V])  # features x (k + 1)
        count = np.bincount(self.groups, minlength=self.n_groups).astype(np.float64)
        total = np.stack([np.bincount(self.groups, params[:, t], minlength=self.n_groups)
                          for t in range(params.shape[1])])  # fmt: skip
        # mu | lambda, theta, with the lambda of the previous draw folded into the scale.
        lam_prev = getattr(self, "_lam", np.ones_like(total))
        mean = total / (count + GAMMA0)
        mu = mean + rng.standard_normal(total.shape) / np.sqrt((count + GAMMA0) * lam_prev)
        centred = params - mu.T[self.groups]
        sq = np.stack([np.bincount(self.groups, centred[:, t] ** 2, minlength=self.n_groups)
                       for t in range(params.shape[1])])  # fmt: skip
        shape = (ALPHA0 + count + 1) / 2
        rate = (BETA0 + GAMMA0 * mu**2 + sq) / 2
        lam = rng.gamma(shape, 1.0 / rate)
        self._lam = lam
        return lam, mu


class _Kept:
    """The sums of the kept draws: the global bias, and each side's biases and factors (side
    by side); the time context's likewise, where there is one."""

    def __init__(self, sides: list[_Side], draws: int, k: int) -> None:
        self.k, self.w0 = k, 0.0
        self.bias = [np.zeros(s.n_rows) for s in sides]
        self.factors = [np.empty((s.n_rows, draws * k)) for s in sides]

    def add(self, slot: int, w0: float, sides: list[_Side]) -> None:
        at = slot * self.k
        self.w0 += w0
        for t, side in enumerate(sides):
            self.bias[t] += side.b
            self.factors[t][:, at : at + self.k] = side.U
