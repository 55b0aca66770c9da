"""The interface every model shares, and the parts of it that are the same for all of them.

A model is ``mu + b_u + b_i + p_u . q_i`` with some of the terms absent: the baseline has no
factors, plain MF has no biases (it keeps a baseline only to answer for unknown users and
items). Subclasses learn the arrays in ``_fit``; prediction, recommendation, similarity and
the arrays that go into a model file are handled here, once.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from recfactor.dataset import index_in
from recfactor.errors import DataError, FitError, NotFittedError, ParameterError
from recfactor.kernels import threads_for
from recfactor.models.ensemble import MEMBER_ARRAYS
from recfactor.models.params import MAX_SEED, PRESETS, Params, declare  # noqa: F401 (re-exported)
from recfactor.models.scoring import Predictions, Scoring  # noqa: F401 (re-exported)


class Model(Scoring):
    """Base class. Constructor only stores parameters; fitted attributes end in ``_``."""

    name: ClassVar[str] = "model"
    params_class: ClassVar[type[Params]] = Params
    # Array names a fitted model holds, beyond the shared ones; persist.py checks them.
    fitted_arrays: ClassVar[tuple[str, ...]] = ()
    # Whether it learns from the users' and items' attributes (a dataset's side).
    takes_features: ClassVar[bool] = False
    # The kinds of feedback the model fits: its parameters' (declared there).
    feedbacks: ClassVar[tuple[str, ...]] = ("explicit", "implicit")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Each model's signature shows its parameters by name (``help(SVD)``, an editor's
        completion), taken from its parameter class, the one place they are declared."""
        super().__init_subclass__(**kwargs)
        import inspect

        if "feedbacks" not in cls.__dict__:
            cls.feedbacks = cls.params_class.feedbacks

        keyword = inspect.Parameter.KEYWORD_ONLY
        named = [
            inspect.Parameter(f.name, keyword, default=f.default)
            for f in dataclasses.fields(cls.params_class)
        ]
        whole = inspect.Parameter("params", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
        preset = inspect.Parameter("preset", keyword, default=None)
        cls.__signature__ = inspect.Signature([whole, preset, *named])

    def __init__(
        self, params: Params | None = None, *, preset: str | None = None, **kwargs: Any
    ) -> None:
        """``preset``: start from a named set of other defaults (``"surprise"``, ``"spark"``;
        see ``PRESETS``) instead of recfactor's; ``kwargs`` still override it."""
        known = {f.name for f in dataclasses.fields(self.params_class)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ParameterError(
                f"{self.name} has no parameter {unknown[0]!r}",
                hint="its parameters: " + ", ".join(sorted(known)),
            )
        if preset is not None:
            kwargs = {**self.params_class.preset(preset), **kwargs}
        if params is None:
            params = self.params_class(**kwargs)
        elif kwargs:
            params = dataclasses.replace(params, **kwargs)
        if not isinstance(params, self.params_class):
            raise ParameterError(f"{self.name} takes {self.params_class.__name__}")
        self.params = params
        self.feedback_: str | None = None
        self.user_ids_: np.ndarray | None = None
        self.item_ids_: np.ndarray | None = None
        self.global_mean_: float = 0.0
        self.user_bias_: np.ndarray | None = None
        self.item_bias_: np.ndarray | None = None
        self.user_factors_: np.ndarray | None = None
        self.item_factors_: np.ndarray | None = None
        self.rating_scale_: tuple[float, float] | None = None
        self.seen_indptr_: np.ndarray | None = None
        self.seen_items_: np.ndarray | None = None
        # A Bayesian model's noise (standard deviation of a rating around its mean, in the
        # ratings' unit): what its prediction intervals add to the draws' spread.
        self.noise_sd_: float | None = None
        # A seed ensemble's members' own item biases (recfactor.models.ensemble).
        self.member_item_bias_: np.ndarray | None = None
        self.fit_seconds_: float = 0.0
        self.train_metrics_: dict[str, float] = {}
        # Whether biases take part in known-pair predictions (plain MF keeps them for fallback).
        self.uses_bias_: bool = True
        # How a new user's row is solved against the saved items (recfactor.foldin): the
        # penalties the fit used, per rating; None where the model cannot fold users in.
        self.fold_in_: dict[str, Any] | None = None
        self._warm: Model | None = None  # a fit's warm start, while it runs
        self._keep_order = True  # whether the running fit must leave the ratings' order as is
        self._on_epoch: Callable[[int, int], None] = lambda done, total: None

    # -- fitting ---------------------------------------------------------------------------

    def fit(
        self,
        dataset: Any,
        rating_scale: tuple[float, float] | None = None,
        on_epoch: Callable[[int, int], None] | None = None,
        training_error: bool = True,
        warm_start: Model | None = None,
        keep_order: bool = True,
    ) -> Model:
        """Learn from a :class:`recfactor.io.ratings.Dataset`; returns ``self``.

        ``rating_scale`` clips predictions (default: the range seen in ``dataset`` for explicit
        feedback); ``on_epoch(done, total)`` is called after each training epoch, for progress;
        ``training_error``: also measure the fit to the training data (``train_metrics_``).
        ``warm_start``: a fitted model of the same kind and rank whose factors (and biases)
        start the users and items it knows, by ID; the others start as usual (see
        :attr:`warm_starts`). ``keep_order`` False: the caller has no further use for the
        order of ``dataset``'s ratings, which the fit may then leave in an order of its own
        (an svd fit on large data: the same model, without the memory that putting them back
        takes).
        """
        from recfactor.models import ensemble

        self.validate(dataset)
        ensemble.check_ensemble(self, warm_start)
        self._warm = self._checked_warm_start(warm_start, dataset)
        self._keep_order = keep_order
        self._prepare()  # loads or compiles kernels, so fit_seconds_ times the fit alone
        started = time.perf_counter()
        self.feedback_ = dataset.feedback
        self.user_ids_ = dataset.user_ids
        self.item_ids_ = dataset.item_ids
        if rating_scale is None and dataset.feedback == "explicit":
            rating_scale = (float(dataset.ratings.min()), float(dataset.ratings.max()))
        self.rating_scale_ = rating_scale
        self._on_epoch = on_epoch or (lambda done, total: None)
        try:
            if self.params.ensemble > 1:
                members = ensemble.fit_members(self, dataset, rating_scale, on_epoch)
                ensemble.merge(self, members)
            else:
                with threads_for(dataset.n_ratings, self.parallel_min_ratings):
                    self._fit(dataset, np.random.default_rng(self.params.seed))
        finally:
            self._warm = None
            self._keep_order = True
        self.fit_seconds_ = time.perf_counter() - started
        self._check_finite()
        self.params = self.params.resolved(dataset.feedback)
        self._remember_seen(dataset)
        self.train_metrics_ = self._train_metrics(dataset) if training_error else {}
        return self

    # Whether a fit of a third of the epochs ranks settings as the full fit would (successive
    # halving in `tune` relies on it): an iterative fit's early point, yes.
    epochs_halve = True
    # Below this many ratings the fit's kernels run in one thread (None: the kernels' own
    # threshold, recfactor.kernels.PARALLEL_MIN_RATINGS).
    parallel_min_ratings: int | None = None

    @property
    def warm_starts(self) -> bool:
        """Whether this model's fit can start from another's factors (iterative solvers:
        ALS, SGD); the others are refitted from their own start."""
        return False

    def _checked_warm_start(self, warm: Model | None, dataset: Any) -> Model | None:
        if warm is None:
            return None
        warm._require_fitted()
        if not self.warm_starts:
            raise ParameterError(f"{self.name} with these settings cannot start from a model",
                                 hint="fit it from its own start")  # fmt: skip
        rank = None if warm.item_factors_ is None else warm.item_factors_.shape[1]
        own = self.params.resolved(dataset.feedback).factors
        if warm.name != self.name or warm.feedback_ != dataset.feedback or rank != own:
            raise ParameterError(
                f"a warm start needs a {self.name} model of rank {own} on "
                f"{dataset.feedback} data, not {warm.name} of rank {rank} on {warm.feedback_}"
            )
        return warm

    def _warm_rows(self, side: str, ids: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``rows`` (one per ID, in ``ids`` order) with the warm start's rows where it knows
        the ID: its factors (``side`` "user" or "item"), or its biases ("user_bias", ...)."""
        warm = getattr(self, "_warm", None)
        if warm is None:
            return rows

        known_ids = warm.user_ids_ if side.startswith("user") else warm.item_ids_
        source = {"user": warm.user_factors_, "item": warm.item_factors_,
                  "user_bias": warm.user_bias_, "item_bias": warm.item_bias_}[side]  # fmt: skip
        if source is None or (side.endswith("bias") and not warm.uses_bias_):
            return rows
        where = index_in(known_ids, ids)
        known = where >= 0
        rows[known] = source[where[known]]
        return rows

    def adopt(
        self,
        dataset: Any,
        user_factors: np.ndarray,
        item_factors: np.ndarray,
        biases: tuple[float, np.ndarray, np.ndarray] | None = None,
        rating_scale: tuple[float, float] | None = None,
        training_error: bool = True,
    ) -> Model:
        """Take factors fitted elsewhere (on a Spark cluster) to ``dataset`` as this model's,
        with what a model needs besides them: the baseline (or popularity) for unknown users
        and items, the rating scale, each user's seen items, the training error.

        ``biases`` (global mean, user biases, item biases), where the factors were fitted to
        what the biases leave, makes them part of every prediction. ``rating_scale`` and
        ``training_error`` as in :meth:`fit`."""
        from recfactor.models.data_summary import DataSummary

        self.validate(dataset)
        summary = DataSummary.of(dataset, baseline=biases is None)
        self.adopt_summary(summary, user_factors, item_factors, biases, rating_scale)
        self.train_metrics_ = self._train_metrics(dataset) if training_error else {}
        return self

    def adopt_summary(
        self,
        summary: Any,
        user_factors: np.ndarray,
        item_factors: np.ndarray,
        biases: tuple[float, np.ndarray, np.ndarray] | None = None,
        rating_scale: tuple[float, float] | None = None,
    ) -> Model:
        """:meth:`adopt` from a :class:`recfactor.models.data_summary.DataSummary` of data
        this process never held (it has no training error: ``train_metrics_`` is empty)."""
        if user_factors.shape != (summary.n_users, item_factors.shape[1]) or (
            item_factors.shape[0] != summary.n_items
        ):
            raise ParameterError("the factors do not match the dataset's users and items")
        self.feedback_ = summary.feedback
        self.user_ids_, self.item_ids_ = summary.user_ids, summary.item_ids
        self.user_factors_, self.item_factors_ = user_factors, item_factors
        self.uses_bias_ = False
        if summary.feedback == "explicit":
            self.rating_scale_ = rating_scale or summary.rating_range
            if biases is None:  # the baseline answers only for unknown users and items
                biases = summary.baseline
            else:
                self.uses_bias_ = True
            self.global_mean_ = float(biases[0])
            self.user_bias_, self.item_bias_ = biases[1], biases[2]
        else:  # popularity: the share of users who took each item
            self.item_bias_ = summary.item_counts.astype(np.float64) / summary.n_users
        self._check_finite()
        self.params = self.params.resolved(summary.feedback)
        self.seen_indptr_, self.seen_items_ = summary.seen
        self.train_metrics_ = {}
        return self

    def validate(self, dataset: Any) -> None:
        """Raise what a fit on ``dataset`` would raise before it starts (the data's values,
        the rank it allows, memory), so that a caller can refuse before spending anything."""
        from recfactor.dataset import Dataset

        if not isinstance(dataset, Dataset):
            raise ParameterError(
                f"{self.name} fits a recfactor Dataset, not {type(dataset).__name__}",
                hint="build one with Dataset.from_frame(df), Dataset.from_arrays(users, items, "
                "ratings) or read_ratings(path)",
            )
        if dataset.n_ratings == 0:
            raise DataError(f"{dataset.source}: no ratings to train on",
                            hint="give data with one rating per row")  # fmt: skip
        if dataset.feedback not in self.feedbacks:
            raise ParameterError(
                f"{self.name} fits {' or '.join(self.feedbacks)} feedback, not {dataset.feedback}",
                hint="use `algo` als or svd on implicit data",
            )
        if dataset.feedback == "implicit" and not (dataset.ratings > 0).any():
            # Zero means "no interaction": nothing is left to learn from (and PureSVD or the
            # scaled confidence of ALS would divide by zero).
            raise DataError(
                f"{dataset.source}: every interaction value is 0 or less",
                hint="implicit feedback needs positive counts (or no value column: each row "
                "counts 1)",
            )
        self._check_values(dataset)
        self._check_data(dataset)
        self._check_memory(dataset)

    def _check_memory(self, dataset: Any) -> None:
        """Refuse factors that cannot fit in this machine's memory, before allocating them
        (numpy would say only "out of memory", or the system would start swapping)."""
        k = getattr(self.params, "factors", None)
        if not k:
            return
        # Both factor matrices in float32, and as much again for the fit's working copies.
        need = 2 * 4 * k * (dataset.n_users + dataset.n_items)
        total = physical_memory()
        if total and need > total:
            raise ParameterError(
                f"factors={k} needs {need / 1e9:.3g} GB for the factor matrices of "
                f"{dataset.n_users} users and {dataset.n_items} items; this machine has "
                f"{total / 1e9:.3g} GB",
                hint="use fewer factors",
            )

    def _check_finite(self) -> None:
        """A fit that overflowed must not pass for a model (the file would not load)."""
        for name in ("user_bias", "item_bias", "user_factors", "item_factors"):
            value = getattr(self, name + "_")
            if value is not None and not np.isfinite(value).all():
                raise FitError(
                    f"{self.name}: training diverged ({name.replace('_', ' ')} became infinite "
                    "or NaN)",
                    hint=self._divergence_hint(),
                )
        if not np.isfinite(self.global_mean_):
            raise FitError(f"{self.name}: the ratings' mean is not finite")

    def _divergence_hint(self) -> str:
        return "rescale the ratings (divide them by a constant), or use gentler parameters"

    def _check_values(self, dataset: Any) -> None:
        """Hook: what each rating must be for this model (NMF: non-negative), checked on a
        file of new ratings alone too (`update`), where a fault is named by its own line."""

    def _check_data(self, dataset: Any) -> None:
        """Hook for model-specific checks of the whole data (the rank a matrix allows)."""

    def _prepare(self) -> None:
        """Hook: load compiled kernels before the fit is timed."""

    def _fit(self, dataset: Any, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def _baseline_fallback(self, dataset: Any) -> None:
        """For models whose predictions are ``p_u . q_i`` alone: keep a baseline (Surprise's
        BaselineOnly settings) only to answer for unknown users and items."""
        from recfactor.models.biases import baseline_estimates

        self.uses_bias_ = False
        self.global_mean_, self.user_bias_, self.item_bias_ = baseline_estimates(dataset)

    def _popularity_fallback(self, dataset: Any) -> None:
        """For implicit-feedback factor models: scores are ``p_u . q_i`` alone, and item
        popularity (the share of users who took each item) answers for unknown users."""
        self.uses_bias_ = False
        counts = np.bincount(dataset.items, minlength=dataset.n_items).astype(np.float64)
        self.item_bias_ = counts / dataset.n_users

    def _remember_seen(self, dataset: Any) -> None:
        from recfactor.kernels.pairs import seen_by_user

        if dataset.seen_by_user is not None:
            self.seen_indptr_, self.seen_items_ = dataset.seen_by_user
            return
        self.seen_indptr_, self.seen_items_, _ = seen_by_user(
            dataset.users, dataset.items, dataset.n_users
        )

    def _train_metrics(self, dataset: Any) -> dict[str, float]:
        if dataset.feedback != "explicit":
            return {}
        squared, absolute = self.error_sums(dataset.users, dataset.items, dataset.ratings)
        n = dataset.n_ratings
        return {"rmse": float(np.sqrt(squared / n)), "mae": absolute / n}

    def __repr__(self) -> str:
        """The class and the parameters that differ from their defaults: ``SVD(factors=50)``."""
        defaults = self.params_class()
        changed = [
            f"{f.name}={getattr(self.params, f.name)!r}"
            for f in dataclasses.fields(self.params)
            if getattr(self.params, f.name) != getattr(defaults, f.name)
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    def get_params(self) -> dict[str, Any]:
        """Every parameter by name (as scikit-learn's estimators)."""
        return self.params.to_dict()

    def set_params(self, **params: Any) -> Model:
        """New values for some parameters, checked as the constructor checks them; returns the
        model. A fitted model keeps what it learned until it is fitted again."""
        known = {f.name for f in dataclasses.fields(self.params)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ParameterError(
                f"{self.name} has no parameter {unknown[0]!r}",
                hint="its parameters: " + ", ".join(sorted(known)),
            )
        self.params = dataclasses.replace(self.params, **params)
        return self

    @property
    def is_fitted(self) -> bool:
        return self.user_ids_ is not None

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"the {self.name} model is not fitted yet", hint="call fit(dataset) first"
            )

    # -- prediction ------------------------------------------------------------------------

    def to_arrays(self) -> dict[str, np.ndarray]:
        self._require_fitted()
        arrays: dict[str, np.ndarray] = {
            "user_ids": self.user_ids_,
            "item_ids": self.item_ids_,
            "global_mean": np.array(self.global_mean_, dtype=np.float64),
            "seen_indptr": self.seen_indptr_,
            "seen_items": self.seen_items_,
        }
        for name in ("user_bias", "item_bias", "user_factors", "item_factors", *MEMBER_ARRAYS):
            value = getattr(self, name + "_")
            if value is not None:
                arrays[name] = value
        return arrays

    def state(self) -> dict[str, Any]:
        """JSON-able fitted state that is not an array: what the data, the parameters and the
        seed decide (no clock readings), so that the same fit gives the same file."""
        return {
            "feedback": self.feedback_,
            "rating_scale": list(self.rating_scale_) if self.rating_scale_ else None,
            "uses_bias": self.uses_bias_,
            "train_metrics": self.train_metrics_,
            "fold_in": self.fold_in_,
            "noise_sd": self.noise_sd_,
        }

    def restore(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        self.user_ids_ = arrays["user_ids"]
        self.item_ids_ = arrays["item_ids"]
        self.global_mean_ = float(arrays["global_mean"])
        # Absent when the loader was told that the command never asks what a user has seen.
        self.seen_indptr_ = arrays.get("seen_indptr")
        self.seen_items_ = arrays.get("seen_items")
        for name in ("user_bias", "item_bias", "user_factors", "item_factors", *MEMBER_ARRAYS):
            setattr(self, name + "_", arrays.get(name))
        self.feedback_ = state["feedback"]
        scale = state.get("rating_scale")
        self.rating_scale_ = (float(scale[0]), float(scale[1])) if scale else None
        self.uses_bias_ = bool(state.get("uses_bias", True))
        fold_in = state.get("fold_in")
        self.fold_in_ = fold_in if isinstance(fold_in, dict) else None
        noise = state.get("noise_sd")
        self.noise_sd_ = float(noise) if isinstance(noise, (int, float)) and noise > 0 else None
        self.fit_seconds_ = float(state.get("fit_seconds", 0.0))
        self.train_metrics_ = dict(state.get("train_metrics", {}))


def physical_memory() -> int | None:
    """This machine's memory in bytes, where the platform says."""
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def require_non_negative(dataset: Any, needs: str, hint: str) -> None:
    """Raise a DataError naming the first negative value's line and column."""
    negative = dataset.ratings < 0
    if negative.any():
        j = int(np.argmax(negative))
        if dataset.rating_label:
            column = f"column {dataset.rating_label}"
        elif dataset.rating_column:
            column = f"column {dataset.rating_column!r}"
        else:  # wide
            column = f"the column of item {str(dataset.item_ids[dataset.items[j]])!r}"
        raise DataError(
            f"{dataset.where(j)}, {column}: "
            f"{dataset.ratings[j]:g} is negative; {needs} needs non-negative values",
            hint=hint,
        )
