"""Train/test splits: k-fold, a random or time-ordered holdout, a per-user holdout, each drawn
from ``split_seed`` alone and shared by every model seed, so any difference between seeds
comes from the model, never from the data it saw."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from recfactor.errors import DataError, ParameterError

if TYPE_CHECKING:  # imported for annotations only: importing the readers imports pandas
    from recfactor.dataset import Dataset


@dataclass(frozen=True)
class Split:
    """One train/test partition of a dataset (indices into its ratings)."""

    fold: int
    train: np.ndarray
    test: np.ndarray


def _split_rng(seed: int) -> np.random.Generator:
    if seed < 0:
        raise ParameterError("`split_seed` must be at least 0")
    return np.random.default_rng(seed)


def kfold(n_ratings: int, folds: int, seed: int) -> list[Split]:
    """``folds`` disjoint test sets covering every rating once, drawn from ``seed``."""
    if folds < 2:
        raise ParameterError("`folds` must be at least 2")
    if n_ratings < folds:
        raise DataError(
            f"{n_ratings} ratings cannot be cut into {folds} folds",
            hint=f"use `folds` {max(n_ratings, 2)} or fewer",
        )
    order = _split_rng(seed).permutation(n_ratings)
    bounds = np.linspace(0, n_ratings, folds + 1).round().astype(np.int64)
    splits = []
    for f in range(folds):
        test = np.sort(order[bounds[f] : bounds[f + 1]])
        train = np.sort(np.concatenate([order[: bounds[f]], order[bounds[f + 1] :]]))
        splits.append(Split(f, train, test))
    return splits


def holdout(
    n_ratings: int, fraction: float, seed: int, latest: np.ndarray | None = None
) -> list[Split]:
    """One random test set of about ``fraction`` of the ratings (at least one rating); with
    ``latest`` (an order of the ratings, latest first: :func:`latest_first`), the latest
    ``fraction`` instead."""
    if not 0.0 < fraction < 1.0:
        raise ParameterError("`test_fraction` must be between 0 and 1")
    n_test = round(n_ratings * fraction)
    if n_test < 1 or n_test >= n_ratings:
        raise DataError(
            f"a test fraction of {fraction:g} of {n_ratings} ratings leaves an empty side",
            hint="use more data or another `test_fraction`",
        )
    order = _split_rng(seed).permutation(n_ratings) if latest is None else latest
    return [Split(0, np.sort(order[n_test:]), np.sort(order[:n_test]))]


def latest_first(dataset: Dataset, times: np.ndarray) -> np.ndarray:
    """The ratings in order of time, latest first; of two at the same time, the later line
    first (a log is written in the order things happen)."""
    lines = dataset.line_numbers()
    lines = np.arange(dataset.n_ratings) if lines is None else lines
    if len(times) != dataset.n_ratings:
        raise ParameterError("`times` needs one time per rating")
    return np.lexsort((-lines, -np.asarray(times, dtype=np.float64)))


def plan_splits(
    dataset: Dataset,
    folds: int | None = None,
    test_fraction: float | None = None,
    test: str | None = None,
    holdout_per_user: float | None = None,
    split_seed: int = 0,
    note: Callable[[str], None] | None = None,
    times: np.ndarray | None = None,
) -> tuple[list[Split] | None, dict[str, Any]]:
    """The train/test splits asked for (k-fold, 5 folds, by default) and how to describe them;
    ``test`` names a separate test set (then no splits). ``note`` hears of a change to what was
    asked (fewer folds than ratings). ``times`` (one per rating) makes a holdout hold out the
    latest ratings (of all, or of each user) instead of random ones."""
    if test is not None:
        return None, {"kind": "test-file", "test": test, "description": f"test file {test}"}
    if times is not None and test_fraction is None and holdout_per_user is None:
        raise ParameterError("a time-ordered split is a holdout",
                             hint="give `test_fraction` or `holdout_per_user`")  # fmt: skip
    drawn = f"split seed {split_seed}" if times is None else "the latest held out"
    if test_fraction is not None:
        latest = None if times is None else latest_first(dataset, times)
        return holdout(dataset.n_ratings, test_fraction, split_seed, latest), {
            "kind": "holdout",
            "test_fraction": test_fraction,
            "split_seed": split_seed,
            "time_ordered": times is not None,
            "description": f"holdout {test_fraction:g}, {drawn}",
        }
    if holdout_per_user is not None:
        return per_user_holdout(dataset, holdout_per_user, split_seed, times), {
            "kind": "per-user holdout",
            "holdout_per_user": holdout_per_user,
            "split_seed": split_seed,
            "time_ordered": times is not None,
            "description": f"per-user holdout {holdout_per_user:g}, {drawn}",
        }
    wanted = 5 if folds is None else folds
    if wanted < 2:
        raise ParameterError("`folds` must be at least 2")
    if dataset.n_ratings < 2:
        raise DataError(
            f"{dataset.source}: {dataset.n_ratings} rating is too few to hold any out",
            hint="evaluate needs at least two ratings",
        )
    k = min(wanted, dataset.n_ratings)
    if k < wanted and note is not None:
        note(f"note: only {dataset.n_ratings} ratings; using {k} folds")
    return kfold(dataset.n_ratings, k, split_seed), {
        "kind": "kfold",
        "folds": k,
        "split_seed": split_seed,
        "description": f"{k}-fold, split seed {split_seed}",
    }


def per_user_holdout(
    dataset: Dataset, size: float, seed: int, times: np.ndarray | None = None
) -> list[Split]:
    """For every user, hold out ``size`` of their ratings: a count when ``size >= 1``, else a
    fraction (rounded). Every user keeps at least one training rating. Drawn from ``seed``;
    with ``times`` (one per rating), each user's latest ratings instead."""
    if size <= 0:
        raise ParameterError("`holdout_per_user` must be positive")
    if times is None:
        rank = _split_rng(seed).random(dataset.n_ratings)
    else:
        rank = np.empty(dataset.n_ratings)
        rank[latest_first(dataset, times)] = np.arange(dataset.n_ratings)
    order = np.lexsort((rank, dataset.users))
    counts = np.bincount(dataset.users, minlength=dataset.n_users)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    position = np.empty(dataset.n_ratings, dtype=np.int64)
    position[order] = np.arange(dataset.n_ratings) - starts[dataset.users[order]]
    wanted = np.full(dataset.n_users, int(size)) if size >= 1 else np.rint(counts * size)
    n_test = np.minimum(wanted.astype(np.int64), counts - 1)
    is_test = position < n_test[dataset.users]
    if not is_test.any():
        raise DataError(
            f"{dataset.source}: a per-user holdout of {size:g} leaves no test ratings",
            hint="hold out more per user, or use `folds`",
        )
    return [Split(0, np.flatnonzero(~is_test), np.flatnonzero(is_test))]


@dataclass(frozen=True)
class SplitSpec:
    """How ratings are split into training and test: at most one of ``folds`` (k-fold),
    ``test_fraction`` (one holdout), ``holdout_per_user`` (N ratings, or a fraction, of every
    user) and ``test`` (a separate test file), drawn from ``split_seed``; ``time_ordered``
    makes a holdout hold out the latest ratings (by ``time_col``) instead of random ones.

    One default rule (:meth:`for_data`): where none is given, 5 folds of ratings, or a
    per-user holdout of 0.2 of implicit data (whose every user needs test items). Each value
    is checked when the spec is made, before any data is read."""

    folds: int | None = None
    test_fraction: float | None = None
    holdout_per_user: float | None = None
    test: str | None = None
    split_seed: int = 0
    time_ordered: bool = False
    time_col: str | None = None

    def __post_init__(self) -> None:
        _check_sizes(self.folds, self.test_fraction, self.holdout_per_user)
        if self.split_seed < 0 or self.split_seed > 2**63 - 1:
            raise ParameterError("`split_seed` must be between 0 and 2**63 - 1")
        if len(self.given) > 1:
            raise ParameterError(
                "give one of `test`, `test_fraction`, `folds` and `holdout_per_user`"
            )
        if self.time_col is not None and not self.time_ordered:
            raise ParameterError("`time_col` needs `time_ordered`")
        if self.time_ordered and self.test_fraction is None and self.holdout_per_user is None:
            raise ParameterError("`time_ordered` needs a holdout",
                                 hint="give `test_fraction` F or `holdout_per_user` N")  # fmt: skip

    @property
    def given(self) -> list[str]:
        """The kinds of split given (at most one)."""
        kinds = ("folds", "test_fraction", "holdout_per_user", "test")
        return [k for k in kinds if getattr(self, k) is not None]

    def for_data(self, feedback: str) -> SplitSpec:
        """This spec with the default rule applied for ``feedback`` data."""
        if self.given:
            return self
        if feedback == "implicit":
            return replace(self, holdout_per_user=0.2)
        return replace(self, folds=5)

    def n_splits(self, feedback: str) -> int:
        """How many train/test pairs the spec draws (k for k-fold, else one)."""
        return self.for_data(feedback).folds or 1

    def settings(self) -> dict[str, Any]:
        """The split as :class:`recfactor.evaluation.EvalConfig`'s settings (``test`` aside:
        EvalConfig takes the test file read)."""
        kinds = ("folds", "test_fraction", "holdout_per_user", "split_seed")
        return {k: getattr(self, k) for k in kinds}

    def times(self, source: str, read: Any, dataset: Dataset) -> np.ndarray | None:
        """Each rating's time, read from ``source`` beside ``dataset`` (read with ``read``),
        where the holdout is time-ordered; None otherwise."""
        if not self.time_ordered:
            return None
        from recfactor.io.times import read_times

        return read_times(source, read, dataset, self.time_col)

    def plan(
        self,
        dataset: Dataset,
        note: Callable[[str], None] | None = None,
        times: np.ndarray | None = None,
    ) -> tuple[list[Split] | None, dict[str, Any]]:
        """The splits of ``dataset`` (:func:`plan_splits`), the default rule applied; ``times``
        (one per rating) for a time-ordered holdout."""
        spec = self.for_data(dataset.feedback)
        if spec.time_ordered and times is None:
            raise ParameterError("a time-ordered split needs each rating's time")
        return plan_splits(dataset, spec.folds, spec.test_fraction, spec.test,
                           spec.holdout_per_user, spec.split_seed, note,
                           times if spec.time_ordered else None)  # fmt: skip


MAX_FOLDS = 2**31 - 1


def _check_sizes(folds: int | None, fraction: float | None, per_user: float | None) -> None:
    """What can be refused before the data is read and a fit is spent."""
    if folds is not None and folds < 2:
        raise ParameterError("`folds` must be at least 2", hint="5 is usual")
    if folds is not None and folds > MAX_FOLDS:
        raise ParameterError(f"`folds` {folds} is more folds than any data has ratings")
    if fraction is not None and not 0 < fraction < 1:
        raise ParameterError("`test_fraction` must be between 0 and 1")
    if per_user is None:
        return
    if not math.isfinite(per_user) or per_user <= 0:
        raise ParameterError("`holdout_per_user` must be a positive finite number")
    if per_user > MAX_FOLDS:
        raise ParameterError(f"`holdout_per_user` {per_user:g} is more ratings than any user has")
    if per_user >= 1 and per_user != int(per_user):
        raise ParameterError(
            f"`holdout_per_user` {per_user:g}: a count must be a whole number",
            hint="give N >= 1 ratings per user, or a fraction below 1",
        )
