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


def parse_metrics(text: str) -> list[str]:
    """Comma-separated metric names, validated."""
    names = [m.strip().lower() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in ERROR_METRICS]
    if unknown or not names:
        raise ParameterError(
            f"unknown metric {', '.join(unknown) or text!r}",
            hint="choose from " + ", ".join(ERROR_METRICS),
        )
    return list(dict.fromkeys(names))
