"""Evaluation: splits, the algorithms x seeds x folds loop and its report (``evaluate``), the
metrics, the measures across seeds, the rank sweep (``stability``) and the search (``tune``).

The names below are loaded on first use, so that importing one module of the package (the
metrics, the splits) does not load the rest."""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "config": ("AlgoSpec", "EvalConfig", "Report", "metric_list", "seed_list"),
    "runner": ("cross_validate", "evaluate", "parallel_pays", "score_model"),
    "seeds": ("parse_seeds", "prediction_disagreement", "seed_means", "summarise"),
    "splits": ("Split", "SplitSpec", "holdout", "kfold", "latest_first", "per_user_holdout",
               "plan_splits"),
}  # fmt: skip
_HOME = {name: module for module, names in _NAMES.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'recfactor.evaluation' has no attribute {name!r}")
    return getattr(importlib.import_module(f"recfactor.evaluation.{module}"), name)
