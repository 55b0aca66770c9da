"""Model registry: algorithm name -> class, imported on first use."""

from __future__ import annotations

import importlib

from recfactor.errors import ParameterError

# name -> (module, model class, its parameter class in recfactor.models.declarations, which
# the command line reads without loading the model; a model registered without one is loaded).
_REGISTRY = {
    "baseline": ("recfactor.models.baseline", "Baseline", "BaselineParams"),
    "svd": ("recfactor.models.svd", "SVD", "SVDParams"),
    "svdpp": ("recfactor.models.svdpp", "SVDpp", "SVDppParams"),
    "nmf": ("recfactor.models.nmf", "NMF", "NMFParams"),
    "als": ("recfactor.models.als", "ALS", "ALSParams"),
    "bpmf": ("recfactor.models.bpmf", "BPMF", "BPMFParams"),
    "bfm": ("recfactor.models.bfm", "BFM", "BFMParams"),
}

ALGORITHMS = tuple(_REGISTRY)


def model_class(name: str) -> type:
    """The model class registered as ``name``."""
    module, attr = _entry(name)[:2]
    return getattr(importlib.import_module(module), attr)


def params_class(name: str) -> type:
    """The parameter class of the model registered as ``name``, without loading the model
    (numpy, the kernels) where the registry names it."""
    entry = _entry(name)
    if len(entry) < 3:
        return model_class(name).params_class
    return getattr(importlib.import_module("recfactor.models.declarations"), entry[2])


def _entry(name: str) -> tuple[str, ...]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ParameterError(
            f"unknown algorithm {name!r}", hint="choose one of " + ", ".join(ALGORITHMS)
        ) from None
