"""The summary across seeds: each seed's metric over folds, their spread, and how far the
seeds' predictions are from each other."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from recfactor.errors import ParameterError
from recfactor.models.base import MAX_SEED


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
    ``max_prediction_spread`` the largest spread (max - min over seeds) of any single prediction;
    ``prediction_shift`` the mean absolute difference (Adomavicius and Zhang's stability
    measure). All None with a single seed.
    """
    if len(predictions) < 2:
        return {"prediction_disagreement": None, "max_prediction_spread": None,
                "prediction_shift": None}  # fmt: skip
    stack = np.vstack(predictions)
    pairs = [(a, b) for a in range(len(stack)) for b in range(a + 1, len(stack))]
    rms = [float(np.sqrt(np.mean((stack[a] - stack[b]) ** 2))) for a, b in pairs]
    shift = [float(np.mean(np.abs(stack[a] - stack[b]))) for a, b in pairs]
    spread = stack.max(axis=0) - stack.min(axis=0)
    return {
        "prediction_disagreement": float(np.mean(rms)),
        "max_prediction_spread": float(spread.max()),
        "prediction_shift": float(np.mean(shift)),
    }


# Each seed is a model fitted per fold: beyond this, a count is a typo.
MAX_SEEDS = 10_000


def parse_seeds(text: str) -> list[int]:
    """``"5"`` means seeds 0..4; ``"1,7,42"`` means those seeds."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ParameterError(
            f"`seeds` takes a count or a comma-separated list of integers, not {text!r}"
        ) from None
    if not values:
        raise ParameterError("`seeds` is empty")
    if len(values) == 1 and "," not in text:
        if not 1 <= values[0] <= MAX_SEEDS:
            raise ParameterError(
                f"`seeds`: a count must be between 1 and {MAX_SEEDS}",
                hint="give a list (1,7,42) for particular seeds",
            )
        return list(range(values[0]))
    if any(not 0 <= v <= MAX_SEED for v in values):
        raise ParameterError(f"seeds must be between 0 and {MAX_SEED}")
    if len(values) > MAX_SEEDS:
        raise ParameterError(f"`seeds` lists more than {MAX_SEEDS} seeds")
    return list(dict.fromkeys(values))
