"""The interface every model shares, and the parts of it that are the same for all of them.

A model is ``mu + b_u + b_i + p_u . q_i`` with some of the terms absent: the baseline has no
factors, plain MF has no biases (it keeps a baseline only to answer for unknown users and
items). Subclasses learn the arrays in ``_fit``; prediction, recommendation, similarity and
the arrays that go into a model file are handled here, once.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from recfactor.dataset import index_in
from recfactor.errors import ColdStartError, DataError, FitError, NotFittedError, ParameterError
from recfactor.kernels import threads_for


def declare(
    default: Any,
    *,
    low: float | None = None,
    above: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] | None = None,
    help: str | None = None,
    flag: str | None = None,
    short: str | None = None,
    feedback: str | None = None,
    solvers: tuple[str, ...] | None = None,
    switch: bool = False,
    presets: dict[str, Any] | None = None,
    space: str | dict[str, str] | None = None,
) -> Any:
    """A model parameter, declared once: its default and range, and what the command line
    makes of it. ``help``: a parameter with help text is a command-line flag (named ``flag``,
    else after the parameter; several parameters of a model may share one flag); ``short``:
    its one-letter form; ``feedback`` and ``solvers``: where it applies (elsewhere the flag is
    refused as ignored); ``switch``: a true/false flag with its ``--no-`` form. ``None`` as the
    default means "decided by the data" (the feedback kind's own default). ``presets``: the
    parameter's value in each named set of other defaults (``PRESETS``); ``space``: the range
    ``recfactor tune`` searches when given none (``"16..256:log2"``, or one per kind of
    feedback)."""
    metadata = {"min": low, "above": above, "max": high, "choices": choices, "help": help,
                "flag": flag, "short": short, "feedback": feedback, "solvers": solvers,
                "switch": switch, "presets": presets or {}, "space": space}  # fmt: skip
    return dataclasses.field(default=default, metadata=metadata)


# Named sets of defaults other than recfactor's own, for comparisons one to one with a peer;
# each parameter declares its value in them (``declare(presets=...)``), and a parameter that
# declares none keeps recfactor's default.
PRESETS = {
    "surprise": "Surprise's defaults (svd: 20 epochs, lr 0.005, reg 0.02; svdpp likewise)",
    "spark": "Spark MLlib's ALS defaults (als without biases)",
}


# Bounds every parameter of a kind keeps unless its field says otherwise: integers fit the
# compiled loops' 32-bit counters, and a real parameter beyond 1e12 (a penalty, a confidence
# weight, a tolerance) overflows the 32-bit factors rather than meaning anything.
MAX_INT_PARAM = 2**31 - 1
MAX_FLOAT_PARAM = 1e12
# Epochs beyond this are a typo, and the per-epoch bookkeeping would be allocated up front.
MAX_EPOCHS = 100_000
# Seeds are drawn into numpy's generators and written in JSON: at most 2^63 - 1.
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class Params:
    """Parameters common to every model. Subclasses add their own fields.

    Every field is checked on construction: its type (an integer, a finite real number, a
    flag, one of a few words), and its range (the field's own, else the kind's bounds above).
    """

    seed: int = declare(0, low=0, high=MAX_SEED)

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            if value is None and "None" in str(spec.type):
                continue  # "decided by the data" (the feedback kind's default)
            value = _checked_type(spec, value)
            object.__setattr__(self, spec.name, value)
            label = spec.name.replace("_", "-")
            low = spec.metadata.get("min")
            if low is not None and value < low:
                raise ParameterError(f"{label} must be at least {low}")
            above = spec.metadata.get("above")
            if above is not None and not value > above:
                raise ParameterError(f"{label} must be above {above}")
            high = spec.metadata.get("max")
            if high is None and isinstance(value, int) and not isinstance(value, bool):
                high = MAX_EPOCHS if spec.name == "epochs" else MAX_INT_PARAM
            elif high is None and isinstance(value, float):
                high = MAX_FLOAT_PARAM
            if high is not None and abs(value) > high:
                shown = high if isinstance(high, int) else f"{high:g}"
                raise ParameterError(f"{label} must be at most {shown}")
            choices = spec.metadata.get("choices")
            if choices is not None and value not in choices:
                raise ParameterError(f"{label} must be one of {', '.join(choices)}")

    @classmethod
    def preset(cls, name: str) -> dict[str, Any]:
        """The values that the preset ``name`` gives this model's parameters."""
        if name not in PRESETS:
            raise ParameterError(f"unknown preset {name!r}",
                                 hint="choose one of " + ", ".join(PRESETS))  # fmt: skip
        return {f.name: f.metadata["presets"][name] for f in dataclasses.fields(cls)
                if name in f.metadata.get("presets", {})}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def resolved(self, feedback: str) -> Params:
        """These parameters with each "decided by the data" (None) replaced by the value the
        fit used on ``feedback`` data: what a fitted model records and ``inspect`` shows."""
        return self


def _checked_type(spec: dataclasses.Field, value: Any) -> Any:
    """``value`` as the field's kind (100 and 100.0 must give the same model and compiled
    kernel), or a ParameterError."""
    import math
    import numbers

    kind = str(spec.type)
    label = spec.name.replace("_", "-")
    if "bool" in kind:
        if not isinstance(value, (bool, np.bool_)):
            raise ParameterError(f"{label} must be true or false, not {value!r}")
        return bool(value)
    if "float" in kind:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ParameterError(f"{label} must be a number, not {value!r}")
        try:
            value = float(value)
        except OverflowError:
            raise ParameterError(f"{label} must be a finite number, not {value}") from None
        if not math.isfinite(value):
            raise ParameterError(f"{label} must be a finite number, not {value}")
        return value
    if "int" in kind:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise ParameterError(f"{label} must be a whole number, not {value!r}")
        return int(value)
    if "str" in kind and not isinstance(value, str):
        raise ParameterError(f"{label} must be a word, not {value!r}")
    return value


@dataclass(frozen=True)
class Predictions:
    """Predicted values for (user, item) pairs, and which pairs had an unknown side."""

    values: np.ndarray  # (n,) float64
    cold: np.ndarray  # (n,) bool


class Model:
    """Base class. Constructor only stores parameters; fitted attributes end in ``_``."""

    name: ClassVar[str] = "model"
    params_class: ClassVar[type[Params]] = Params
    # Array names a fitted model holds, beyond the shared ones; persist.py checks them.
    fitted_arrays: ClassVar[tuple[str, ...]] = ()
    # The kinds of feedback the model fits (others are refused by its data checks).
    feedbacks: ClassVar[tuple[str, ...]] = ("explicit", "implicit")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Each model's signature shows its parameters by name (``help(SVD)``, an editor's
        completion), taken from its parameter class, the one place they are declared."""
        super().__init_subclass__(**kwargs)
        import inspect

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
        self.fit_seconds_: float = 0.0
        self.train_metrics_: dict[str, float] = {}
        # Whether biases take part in known-pair predictions (plain MF keeps them for fallback).
        self.uses_bias_: bool = True
        # How a new user's row is solved against the saved items (recfactor.foldin): the
        # penalties the fit used, per rating; None where the model cannot fold users in.
        self.fold_in_: dict[str, Any] | None = None
        self._warm: Model | None = None  # a fit's warm start, while it runs
        self._on_epoch: Callable[[int, int], None] = lambda done, total: None

    # -- fitting ---------------------------------------------------------------------------

    def fit(
        self,
        dataset: Any,
        rating_scale: tuple[float, float] | None = None,
        on_epoch: Callable[[int, int], None] | None = None,
        training_error: bool = True,
        warm_start: Model | None = None,
    ) -> Model:
        """Learn from a :class:`recfactor.data.Dataset`; returns ``self``.

        ``rating_scale`` clips predictions (default: the range seen in ``dataset`` for explicit
        feedback); ``on_epoch(done, total)`` is called after each training epoch, for progress;
        ``training_error``: also measure the fit to the training data (``train_metrics_``).
        ``warm_start``: a fitted model of the same kind and rank whose factors (and biases)
        start the users and items it knows, by ID; the others start as usual (see
        :attr:`warm_starts`).
        """
        self.validate(dataset)
        self._warm = self._checked_warm_start(warm_start, dataset)
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
            with threads_for(dataset.n_ratings):
                self._fit(dataset, np.random.default_rng(self.params.seed))
        finally:
            self._warm = None
        self.fit_seconds_ = time.perf_counter() - started
        self._check_finite()
        self.params = self.params.resolved(dataset.feedback)
        self._remember_seen(dataset)
        self.train_metrics_ = self._train_metrics(dataset) if training_error else {}
        return self

    # Whether a fit of a third of the epochs ranks settings as the full fit would (successive
    # halving in `tune` relies on it): an iterative fit's early point, yes.
    epochs_halve = True

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
        from recfactor.dataset import index_in

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
        self.validate(dataset)
        if user_factors.shape != (dataset.n_users, item_factors.shape[1]) or (
            item_factors.shape[0] != dataset.n_items
        ):
            raise ParameterError("the factors do not match the dataset's users and items")
        self.feedback_ = dataset.feedback
        self.user_ids_, self.item_ids_ = dataset.user_ids, dataset.item_ids
        self.user_factors_, self.item_factors_ = user_factors, item_factors
        if dataset.feedback == "explicit":
            self.rating_scale_ = rating_scale or (
                float(dataset.ratings.min()),
                float(dataset.ratings.max()),
            )
            self._baseline_fallback(dataset)
            if biases is not None:
                self.uses_bias_ = True
                self.global_mean_ = float(biases[0])
                self.user_bias_, self.item_bias_ = biases[1], biases[2]
        else:
            self._popularity_fallback(dataset)
        self._check_finite()
        self.params = self.params.resolved(dataset.feedback)
        self._remember_seen(dataset)
        self.train_metrics_ = self._train_metrics(dataset) if training_error else {}
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
            raise DataError(f"{dataset.source}: no ratings to train on")
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

    def _check_data(self, dataset: Any) -> None:
        """Hook for model-specific data checks (for example non-negative values)."""

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
        # A block at a time: over 24 million ratings, whole-length temporaries were the
        # largest allocation of a fit (three float64 copies, 570 MB).
        squared = absolute = 0.0
        for start in range(0, dataset.n_ratings, METRICS_BLOCK):
            stop = start + METRICS_BLOCK
            estimate = self.predict_index(dataset.users[start:stop], dataset.items[start:stop])
            estimate -= dataset.ratings[start:stop]
            absolute += float(np.abs(estimate).sum())
            # Not np.dot: a BLAS call starts OpenBLAS's threads, which then spin beside the
            # next fit's (svd on u1.base 0.03 -> 0.06-0.12 s in a loop of fits).
            squared += float(np.square(estimate).sum())
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

    def predict(self, users: Any, items: Any, *, strict: bool = False) -> Predictions:
        """Predict for parallel sequences of user and item IDs (strings or anything printable).

        Unknown IDs fall back to the baseline (``mu + b_i``, ``mu + b_u`` or ``mu``) and are
        flagged in ``cold``; with ``strict`` they raise :class:`ColdStartError` instead.
        """
        self._require_fitted()
        u = self.user_index(users)
        i = self.item_index(items)

        def name(side: str, k: int) -> str:
            return str(np.asarray(users if side == "user" else items, dtype=str).ravel()[k])

        return self._predict_known(u, i, strict, name)

    def predict_coded(
        self,
        user_ids: np.ndarray,
        user_codes: np.ndarray,
        item_ids: np.ndarray,
        item_codes: np.ndarray,
        *,
        strict: bool = False,
    ) -> Predictions:
        """:meth:`predict` for pair ``j`` = (``user_ids[user_codes[j]]``,
        ``item_ids[item_codes[j]]``): each distinct ID is looked up once, not once a pair."""
        self._require_fitted()
        u = self.user_index(user_ids)[user_codes]
        i = self.item_index(item_ids)[item_codes]

        def name(side: str, k: int) -> str:
            return str(user_ids[user_codes[k]] if side == "user" else item_ids[item_codes[k]])

        return self._predict_known(u, i, strict, name)

    def _predict_known(
        self, u: np.ndarray, i: np.ndarray, strict: bool, name: Callable[[str, int], str]
    ) -> Predictions:
        cold = (u < 0) | (i < 0)
        if strict and cold.any():
            k = int(np.argmax(cold))
            side = "user" if u[k] < 0 else "item"
            raise ColdStartError(
                f"unknown {side} {name(side, k)!r}: not in the training data",
                hint="drop `strict` to fall back to the baseline for unknown users and items",
            )
        return Predictions(self.predict_index(u, i), cold)

    def predict_index(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Predictions for integer indices; -1 marks an unknown user or item."""
        u, i = np.asarray(u), np.asarray(i)
        if u.dtype not in (np.int32, np.int64) or i.dtype != u.dtype:
            u, i = u.astype(np.int64), i.astype(np.int64)
        loaded = "numba" in sys.modules
        if len(u) >= (COMPILED_PREDICT_MIN_LOADED if loaded else COMPILED_PREDICT_MIN):
            return self._predict_compiled(u, i)
        known_u = u >= 0
        known_i = i >= 0
        est = np.full(u.shape, self.global_mean_, dtype=np.float64)
        if self.user_bias_ is not None:
            est[known_u] += self.user_bias_[u[known_u]]
        if self.item_bias_ is not None:
            est[known_i] += self.item_bias_[i[known_i]]
        both = known_u & known_i
        if self.user_factors_ is not None:
            inner = pair_dots(self.user_factors_, self.item_factors_, u[both], i[both])
            if self.uses_bias_:
                est[both] += inner
            else:
                est[both] = inner
        return self._clip(est)

    def _predict_compiled(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        from recfactor.kernels.predict import predict_pairs, warm_up

        dummy_bias = np.zeros(1)
        factors = self.user_factors_
        flags = (
            (self.user_bias_ is not None)
            | (self.item_bias_ is not None) << 1
            | (factors is not None) << 2
            | (factors is not None and not self.uses_bias_) << 3
            | (self.rating_scale_ is not None) << 4
        )
        low, high = self.rating_scale_ or (0.0, 0.0)
        if factors is None:
            factors = np.zeros((1, 1))
        item_factors = self.item_factors_ if self.item_factors_ is not None else factors
        warm_up(factors.dtype, u.dtype)
        out = np.empty(len(u))
        predict_pairs(
            u, i, float(self.global_mean_),
            dummy_bias if self.user_bias_ is None else self.user_bias_,
            dummy_bias if self.item_bias_ is None else self.item_bias_,
            factors, item_factors, int(flags), float(low), float(high), out,
        )  # fmt: skip
        return out

    def _clip(self, est: np.ndarray) -> np.ndarray:
        if self.rating_scale_ is None:
            return est
        low, high = self.rating_scale_
        return np.clip(est, low, high)

    def user_index(self, users: Any) -> np.ndarray:
        self._require_fitted()
        return index_in(self.user_ids_, users)

    def item_index(self, items: Any) -> np.ndarray:
        self._require_fitted()
        return index_in(self.item_ids_, items)

    # -- ranking ---------------------------------------------------------------------------

    def scores(self, u: np.ndarray) -> np.ndarray:
        """Unclipped predictions of every item for each user index in ``u``: (len(u), n_items).

        Clipping would tie the top items at the top of the scale, so ranking uses raw scores.
        """
        q = None if self.item_factors_ is None else self.item_factors_.astype(np.float64)
        return self._scores(np.asarray(u, dtype=np.int64), q)

    def _scores(self, u: np.ndarray, item_factors: np.ndarray | None) -> np.ndarray:
        """:meth:`scores` with the item factors already in float64: written in three passes
        over the (users x items) block, not six (a block of 1024 users x 20,000 items is
        160 MB; the passes, not the product, were most of the time)."""
        if item_factors is not None:
            out = self.user_factors_[u].astype(np.float64) @ item_factors.T
        else:
            out = np.zeros((len(u), len(self.item_ids_)))
        if self.uses_bias_ or self.user_factors_ is None:
            # mu + b_u shifts a whole row and changes no ranking, but it makes the scores
            # read as (unclipped) predicted ratings.
            item_term = np.full(len(self.item_ids_), self.global_mean_)
            if self.item_bias_ is not None:
                item_term += self.item_bias_
            out += item_term
            if self.user_bias_ is not None:
                out += self.user_bias_[u][:, None]
        return out

    def recommend_index(
        self, u: np.ndarray, n: int, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` item indices and scores for each user index; -1 pads short lists."""
        self._require_fitted()
        u = np.asarray(u, dtype=np.int64)
        n = max(0, min(n, len(self.item_ids_)))
        top = np.full((len(u), n), -1, dtype=np.int64)
        top_scores = np.full((len(u), n), np.nan)
        q = None if self.item_factors_ is None else self.item_factors_.astype(np.float64)
        for start in range(0, len(u), 1024):  # bounded memory: 1024 users x items at a time
            block = u[start : start + 1024]
            s = self._scores(block, q)
            if exclude_seen:
                rows, cols = self._seen_cells(block)
                s[rows, cols] = -np.inf
            idx, val = _top_n(s, n)
            top[start : start + len(block)] = idx
            top_scores[start : start + len(block)] = val
        return top, top_scores

    def _seen_cells(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row in ``block``, item) of every training rating of the block's users."""
        first, last = self.seen_indptr_[block], self.seen_indptr_[block + 1]
        counts = last - first
        rows = np.repeat(np.arange(len(block)), counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return rows, self.seen_items_[np.repeat(first, counts) + within]

    def recommend(
        self, user: Any, n: int = 10, exclude_seen: bool = True
    ) -> list[tuple[str, float]]:
        """Top-``n`` (item ID, score) for one known user ID."""
        u = self.user_index([user])
        if u[0] < 0:
            raise ColdStartError(f"unknown user {str(user)!r}: not in the training data")
        idx, val = self.recommend_index(u, n, exclude_seen)
        return [(str(self.item_ids_[j]), float(v)) for j, v in zip(idx[0], val[0]) if j >= 0]

    def latent_factors(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The user and item factors of one fit, to read factor by factor (``inspect``): the
        saved ones, for most models; None without factors."""
        if self.user_factors_ is None or self.item_factors_ is None:
            return None
        return self.user_factors_, self.item_factors_

    def similar_index(self, i: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items by cosine similarity of item factors, the item itself excluded."""
        self._require_fitted()
        if self.item_factors_ is None:
            raise ParameterError(
                f"the {self.name} model has no item factors to compare",
                hint="train a factor model (`algo` svd) for similar items",
            )
        q = self.item_factors_.astype(np.float64)
        norms = np.linalg.norm(q, axis=1)
        unit = q / np.where(norms > 0, norms, 1.0)[:, None]
        i = np.asarray(i, dtype=np.int64)
        n = max(0, min(n, len(self.item_ids_) - 1))
        sims = unit[i] @ unit.T
        sims[np.arange(len(i)), i] = -np.inf
        return _top_n(sims, n)

    def similar_items(self, item: Any, n: int = 10) -> list[tuple[str, float]]:
        i = self.item_index([item])
        if i[0] < 0:
            raise ColdStartError(f"unknown item {str(item)!r}: not in the training data")
        idx, val = self.similar_index(i, n)
        return [(str(self.item_ids_[j]), float(v)) for j, v in zip(idx[0], val[0]) if j >= 0]

    # -- persistence (arrays only; persist.py owns the file) --------------------------------

    def to_arrays(self) -> dict[str, np.ndarray]:
        self._require_fitted()
        arrays: dict[str, np.ndarray] = {
            "user_ids": self.user_ids_,
            "item_ids": self.item_ids_,
            "global_mean": np.array(self.global_mean_, dtype=np.float64),
            "seen_indptr": self.seen_indptr_,
            "seen_items": self.seen_items_,
        }
        for name in ("user_bias", "item_bias", "user_factors", "item_factors"):
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
        }

    def restore(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        self.user_ids_ = arrays["user_ids"]
        self.item_ids_ = arrays["item_ids"]
        self.global_mean_ = float(arrays["global_mean"])
        # Absent when the loader was told that the command never asks what a user has seen.
        self.seen_indptr_ = arrays.get("seen_indptr")
        self.seen_items_ = arrays.get("seen_items")
        for name in ("user_bias", "item_bias", "user_factors", "item_factors"):
            setattr(self, name + "_", arrays.get(name))
        self.feedback_ = state["feedback"]
        scale = state.get("rating_scale")
        self.rating_scale_ = (float(scale[0]), float(scale[1])) if scale else None
        self.uses_bias_ = bool(state.get("uses_bias", True))
        fold_in = state.get("fold_in")
        self.fold_in_ = fold_in if isinstance(fold_in, dict) else None
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
        raise DataError(
            f"{dataset.where(j)}, column {dataset.rating_column!r}: "
            f"{dataset.ratings[j]:g} is negative; {needs} needs non-negative values",
            hint=hint,
        )


# Training ratings scored at a time for the training error.
METRICS_BLOCK = 1 << 20

# From this many pairs, predictions come from a compiled parallel loop (9 million training
# ratings: 2.1 -> 0.15 s); below it, numpy, so that a few predictions need not load numba,
# unless a fit has loaded it already (20,000 test pairs: numpy's float64 sums took twice as
# long as the compiled loop).
COMPILED_PREDICT_MIN = 50_000
COMPILED_PREDICT_MIN_LOADED = 1000


def pair_dots(p: np.ndarray, q: np.ndarray, u: np.ndarray, i: np.ndarray) -> np.ndarray:
    """``p[u[j]] . q[i[j]]`` for every j, summed in float64 (as the compiled loop of large
    batches), a block at a time so that a batch does not become one large float64 copy."""
    out = np.empty(len(u), dtype=np.float64)
    step = 16384
    for start in range(0, len(u), step):
        uu, ii = u[start : start + step], i[start : start + step]
        out[start : start + step] = np.einsum(
            "ij,ij->i", p[uu].astype(np.float64, copy=False), q[ii].astype(np.float64, copy=False)
        )
    return out


def _top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the ``n`` largest entries of each row, best first.

    Ties break by lower index so results are reproducible; ``-inf`` entries are never returned
    (their slots hold -1 and NaN).
    """
    rows = scores.shape[0]
    if n == 0 or scores.shape[1] == 0:
        return np.zeros((rows, 0), dtype=np.int64), np.zeros((rows, 0))
    if n < scores.shape[1]:
        part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    else:
        part = np.tile(np.arange(scores.shape[1]), (rows, 1))
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    idx = np.take_along_axis(part, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    invalid = ~np.isfinite(vals)
    idx[invalid] = -1
    vals[invalid] = np.nan
    return idx.astype(np.int64), vals
