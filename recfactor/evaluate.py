"""Splits, the algorithms x seeds x folds loop, and the summary across seeds.

Splits are drawn from ``split_seed`` alone and shared by every model seed, so any difference
between seeds comes from the model, never from the data it saw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recfactor.data import Dataset
from recfactor.errors import DataError, ParameterError
from recfactor.metrics import ERROR_METRICS


@dataclass(frozen=True)
class Split:
    """One train/test partition of a dataset (indices into its ratings)."""

    fold: int
    train: np.ndarray
    test: np.ndarray


def kfold(n_ratings: int, folds: int, seed: int) -> list[Split]:
    """``folds`` disjoint test sets covering every rating once, drawn from ``seed``."""
    if folds < 2:
        raise ParameterError("--folds must be at least 2")
    if n_ratings < folds:
        raise DataError(
            f"{n_ratings} ratings cannot be cut into {folds} folds",
            hint=f"use --folds {max(n_ratings, 2)} or fewer",
        )
    order = np.random.default_rng(seed).permutation(n_ratings)
    bounds = np.linspace(0, n_ratings, folds + 1).round().astype(np.int64)
    splits = []
    for f in range(folds):
        test = np.sort(order[bounds[f] : bounds[f + 1]])
        train = np.sort(np.concatenate([order[: bounds[f]], order[bounds[f + 1] :]]))
        splits.append(Split(f, train, test))
    return splits


def holdout(n_ratings: int, fraction: float, seed: int) -> list[Split]:
    """One random test set of about ``fraction`` of the ratings (at least one rating)."""
    if not 0.0 < fraction < 1.0:
        raise ParameterError("--test-fraction must be between 0 and 1")
    n_test = round(n_ratings * fraction)
    if n_test < 1 or n_test >= n_ratings:
        raise DataError(
            f"a test fraction of {fraction:g} of {n_ratings} ratings leaves an empty side",
            hint="use more data or another --test-fraction",
        )
    order = np.random.default_rng(seed).permutation(n_ratings)
    return [Split(0, np.sort(order[n_test:]), np.sort(order[:n_test]))]


@dataclass(frozen=True)
class AlgoSpec:
    """An algorithm name and the parameters to build it with (the seed is set per run)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    """What ``evaluate`` found; ``to_dict`` is the JSON contract of DESIGN section 2."""

    dataset: dict[str, Any]
    split: dict[str, Any]
    runs: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    nonuniqueness: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "runs": self.runs,
            "summary": self.summary,
            "nonuniqueness": self.nonuniqueness,
        }


def evaluate(
    train: Dataset,
    algos: Sequence[AlgoSpec],
    seeds: Sequence[int],
    metrics: Sequence[str],
    splits: Sequence[Split] | None = None,
    test: Dataset | None = None,
    split_info: dict[str, Any] | None = None,
    rating_scale: tuple[float, float] | None = None,
    progress: Callable[[], None] | None = None,
) -> Report:
    """Fit every algorithm under every seed on every split and score the test ratings.

    Either ``splits`` (partitions of ``train``) or ``test`` (a separate test set, matched by
    ID) is given. Ratings whose user or item is absent from a training fold are predicted by
    the cold-start fallback, as they would be in use.
    """
    from recfactor.models import model_class

    if (splits is None) == (test is None):
        raise ValueError("give exactly one of splits and test")
    if train.feedback != "explicit":
        raise ParameterError(
            "evaluate measures rating error (rmse, mae) and needs explicit feedback",
            hint="top-N metrics for implicit feedback are not available yet",
        )
    if rating_scale is None:
        rating_scale = (float(train.ratings.min()), float(train.ratings.max()))
    folds = _materialise(train, splits, test)
    runs: list[dict[str, Any]] = []
    test_predictions: dict[str, dict[int, np.ndarray]] = {}
    for spec in algos:
        cls = model_class(spec.name)
        for seed in seeds:
            params = cls.params_class(**{**spec.params, "seed": int(seed)})
            pieces = []
            for fold, fold_train, fold_test in folds:
                model = cls(params)
                model.fit(fold_train, rating_scale=rating_scale)
                fit_seconds = model.fit_seconds_  # excludes the one-off kernel load
                estimate = model.predict(
                    fold_test.user_ids[fold_test.users], fold_test.item_ids[fold_test.items]
                ).values
                pieces.append(estimate)
                runs.append(
                    {
                        "algo": spec.name,
                        "seed": int(seed),
                        "fold": fold,
                        "metrics": {
                            m: ERROR_METRICS[m](fold_test.ratings, estimate) for m in metrics
                        },
                        "fit_seconds": fit_seconds,
                    }
                )
                if progress is not None:
                    progress()
            test_predictions.setdefault(spec.name, {})[int(seed)] = np.concatenate(pieces)
    dataset_info = {
        "source": train.source,
        "users": train.n_users,
        "items": train.n_items,
        "ratings": train.n_ratings,
        "feedback": train.feedback,
    }
    return Report(
        dataset=dataset_info,
        split=split_info or {},
        runs=runs,
        summary=summarise(runs, metrics),
        nonuniqueness=[
            {"algo": name, **prediction_disagreement(list(by_seed.values()))}
            for name, by_seed in test_predictions.items()
        ],
    )


def _materialise(
    train: Dataset, splits: Sequence[Split] | None, test: Dataset | None
) -> list[tuple[int, Dataset, Dataset]]:
    if test is not None:
        return [(0, train.compact(), test)]
    assert splits is not None
    return [(s.fold, train.subset(s.train).compact(), train.subset(s.test)) for s in splits]


def seed_means(runs: Sequence[dict[str, Any]], metric: str) -> dict[tuple[str, int], float]:
    """Each (algo, seed)'s metric averaged over folds."""
    grouped: dict[tuple[str, int], list[float]] = {}
    for run in runs:
        grouped.setdefault((run["algo"], run["seed"]), []).append(run["metrics"][metric])
    return {key: float(np.mean(values)) for key, values in grouped.items()}


def summarise(runs: Sequence[dict[str, Any]], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Mean, standard deviation, min and max across seeds of the fold-averaged metrics."""
    summary = []
    algos = list(dict.fromkeys(run["algo"] for run in runs))
    for metric in metrics:
        means = seed_means(runs, metric)
        for algo in algos:
            values = np.array([v for (a, _), v in means.items() if a == algo])
            summary.append(
                {
                    "algo": algo,
                    "metric": metric,
                    "mean": float(values.mean()),
                    "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                    "min": float(values.min()),
                    "max": float(values.max()),
                }
            )
    return summary


def prediction_disagreement(predictions: Sequence[np.ndarray]) -> dict[str, float | None]:
    """How far the seeds' predictions on the same test ratings are from each other.

    ``prediction_disagreement`` is the RMS difference averaged over all pairs of seeds;
    ``max_prediction_spread`` the largest spread (max - min over seeds) of any single prediction.
    Both are None with a single seed.
    """
    if len(predictions) < 2:
        return {"prediction_disagreement": None, "max_prediction_spread": None}
    stack = np.vstack(predictions)
    pairs = [
        float(np.sqrt(np.mean((stack[a] - stack[b]) ** 2)))
        for a in range(len(stack))
        for b in range(a + 1, len(stack))
    ]
    spread = stack.max(axis=0) - stack.min(axis=0)
    return {
        "prediction_disagreement": float(np.mean(pairs)),
        "max_prediction_spread": float(spread.max()),
    }


def parse_seeds(text: str) -> list[int]:
    """``"5"`` means seeds 0..4; ``"1,7,42"`` means those seeds."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ParameterError(
            f"--seeds takes a count or a comma-separated list of integers, not {text!r}"
        ) from None
    if not values:
        raise ParameterError("--seeds is empty")
    if len(values) == 1 and "," not in text:
        if values[0] < 1:
            raise ParameterError("--seeds must be at least 1")
        return list(range(values[0]))
    if any(v < 0 for v in values):
        raise ParameterError("seeds must be non-negative")
    return list(dict.fromkeys(values))
