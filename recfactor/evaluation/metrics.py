"""Accuracy metrics: pure functions of true and predicted values."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recfactor.errors import ParameterError


def _check(truth: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    truth = np.asarray(truth, dtype=np.float64)
    estimate = np.asarray(estimate, dtype=np.float64)
    if truth.shape != estimate.shape:
        raise ValueError(f"shapes differ: {truth.shape} and {estimate.shape}")
    if truth.size == 0:
        raise ValueError("no predictions to score")
    if not np.isfinite(estimate).all():
        # A missing prediction is a failure to report, never something to drop silently.
        raise ValueError("predictions contain NaN or infinite values")
    return truth, estimate


def rmse(truth: np.ndarray, estimate: np.ndarray) -> float:
    """Root mean squared error."""
    t, e = _check(truth, estimate)
    return float(np.sqrt(np.mean((t - e) ** 2)))


def mae(truth: np.ndarray, estimate: np.ndarray) -> float:
    """Mean absolute error."""
    t, e = _check(truth, estimate)
    return float(np.mean(np.abs(t - e)))


ERROR_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {"rmse": rmse, "mae": mae}
TOPN_METRICS = ("precision", "recall", "ndcg", "map", "coverage")
DEFAULT_CUTOFF = 10


def topn(
    recommended: np.ndarray,
    relevant_users: np.ndarray,
    relevant_items: np.ndarray,
    n_relevant: np.ndarray,
    n_items: int,
    k: int,
) -> dict[str, float]:
    """Top-N metrics of ranked lists, vectorised over users.

    ``recommended`` is (n_users, >= k) item indices, best first, -1 where a list is shorter.
    Row ``u``'s relevant items are ``relevant_items[relevant_users == u]`` and it has
    ``n_relevant[u]`` relevant items in all (more than listed when some cannot be recommended,
    such as items unseen in training: they still count against recall). Users with no relevant
    item are left out of the averages. ``precision@k`` divides by ``k`` even for shorter lists;
    ``map@k`` normalises by ``min(n_relevant, k)``; ``ndcg@k`` uses binary gains and
    ``log2(rank + 1)`` discounts; ``coverage@k`` is the share of all ``n_items`` that appear in
    some list (over every user given).
    """
    top = np.asarray(recommended)[:, :k]
    n_users = top.shape[0]
    if top.shape[1] < k:  # fewer candidates than k (a small catalogue): pad the lists
        top = np.hstack([top, np.full((n_users, k - top.shape[1]), -1, dtype=top.dtype)])
    keys = np.unique(np.asarray(relevant_users, np.int64) * n_items + relevant_items)
    listed = top >= 0
    hits = listed & np.isin(np.arange(n_users)[:, None] * n_items + top, keys)
    n_relevant = np.asarray(n_relevant, dtype=np.float64)
    scored = n_relevant > 0
    counted = hits[scored]
    rel = n_relevant[scored]
    out = {"coverage": float(len(np.unique(top[listed]))) / n_items if n_items else 0.0}
    if not scored.any():
        return {"precision": float("nan"), "recall": float("nan"), "ndcg": float("nan"),
                "map": float("nan"), **out}  # fmt: skip
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discount)[np.minimum(rel, k).astype(int) - 1]
    precision_at = np.cumsum(counted, axis=1) / np.arange(1, k + 1)
    out.update(
        precision=float(np.mean(counted.sum(axis=1) / k)),
        recall=float(np.mean(counted.sum(axis=1) / rel)),
        ndcg=float(np.mean((counted * discount).sum(axis=1) / ideal)),
        map=float(np.mean((precision_at * counted).sum(axis=1) / np.minimum(rel, k))),
    )
    return out


def parse_metrics(text: str) -> list[str]:
    """Comma-separated metric names, validated: rmse, mae, and precision, recall, ndcg, map,
    coverage, each with an optional ``@k`` (default @10)."""
    names = []
    unknown = []
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        base, _, cutoff = name.partition("@")
        if base in ERROR_METRICS and not cutoff:
            names.append(base)
        elif base in TOPN_METRICS and (not cutoff or (cutoff.isdigit() and int(cutoff) > 0)):
            names.append(f"{base}@{int(cutoff) if cutoff else DEFAULT_CUTOFF}")
        else:
            unknown.append(raw.strip())
    if unknown or not names:
        raise ParameterError(
            f"unknown metric {', '.join(unknown) or text!r}",
            hint="choose from rmse, mae, " + ", ".join(f"{m}@K" for m in TOPN_METRICS),
        )
    return list(dict.fromkeys(names))


def is_topn(metric: str) -> bool:
    return "@" in metric


def cutoff(metric: str) -> int:
    return int(metric.partition("@")[2])
