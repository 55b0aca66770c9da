"""Model registry: algorithm name -> class, imported on first use."""

from __future__ import annotations

import importlib

from recfactor.errors import ParameterError

_REGISTRY = {
    "baseline": ("recfactor.models.baseline", "Baseline"),
    "svd": ("recfactor.models.svd", "SVD"),
    "svdpp": ("recfactor.models.svdpp", "SVDpp"),
    "nmf": ("recfactor.models.nmf", "NMF"),
    "als": ("recfactor.models.als", "ALS"),
    "bpmf": ("recfactor.models.bpmf", "BPMF"),
}

ALGORITHMS = tuple(_REGISTRY)


def model_class(name: str) -> type:
    """The model class registered as ``name``."""
    try:
        module, attr = _REGISTRY[name]
    except KeyError:
        raise ParameterError(
            f"unknown algorithm {name!r}", hint="choose one of " + ", ".join(ALGORITHMS)
        ) from None
    return getattr(importlib.import_module(module), attr)
