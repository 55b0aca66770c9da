"""recfactor: matrix-factorization recommenders from the command line."""

import os as _os

# numba's parallel kernels run on OpenMP (libgomp), whose idle threads spin for 300,000 turns
# before they sleep: beside other busy processes each parallel region then fights them for the
# cores (NMF of the 6 x 4 food matrix took 55 s instead of 1 s beside two busy processes;
# BENCHMARKS.md). Sleeping at once (OMP_WAIT_POLICY=passive) ends that but wakes the threads
# for every one of SGD's 160 parallel regions (svd on u1.base 0.030 -> 0.04-0.06 s); a short
# spin keeps both: threads that are needed again within microseconds are still awake, and
# idle ones sleep before they cost anyone much. libgomp reads this once, when it loads, which
# numba does only at the first parallel kernel, after this import. A user's own setting of
# any of these wins.
if not {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"} & set(_os.environ):
    _os.environ["GOMP_SPINCOUNT"] = "10000"

__version__ = "0.1.0"

# The public API, imported on first use: `import recfactor` stays as light as the command line
# needs it to be (`recfactor predict` must not pay for numba, pandas or the models).
_API = {
    "read_ratings": "recfactor.io.ratings",
    "ReadOptions": "recfactor.io.options",
    "Dataset": "recfactor.dataset",
    "fold_in": "recfactor.foldin",
    "train_file": "recfactor.workflows",
    "update_saved": "recfactor.workflows",
    "reevaluate": "recfactor.workflows",
    "tune_file": "recfactor.workflows",
    "evaluate_file": "recfactor.workflows",
    "score_saved": "recfactor.workflows",
    "train_on_spark": "recfactor.workflows",
    "evaluate_on_spark": "recfactor.workflows",
    "SplitSpec": "recfactor.evaluation.splits",
    "Cluster": "recfactor.cluster",
    "Side": "recfactor.io.features",
    "read_features": "recfactor.io.features",
    "features_from_frame": "recfactor.io.features",
    "place_users": "recfactor.coldstart",
    "place_items": "recfactor.coldstart",
    "save": "recfactor.persist",
    "load": "recfactor.persist",
    "evaluate": "recfactor.evaluation",
    "EvalConfig": "recfactor.evaluation",
    "AlgoSpec": "recfactor.evaluation",
    "Report": "recfactor.evaluation",
    "RecfactorError": "recfactor.errors",
    "DataError": "recfactor.errors",
    "ParameterError": "recfactor.errors",
    "FitError": "recfactor.errors",
    "ModelFileError": "recfactor.errors",
    "ColdStartError": "recfactor.errors",
    "NotFittedError": "recfactor.errors",
}


def _models() -> dict[str, str]:
    """Every model of the registry (declared there once), by its class name."""
    from recfactor.models import _REGISTRY

    return {entry[1]: entry[0] for entry in _REGISTRY.values()}


_API.update(_models())
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'recfactor' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
