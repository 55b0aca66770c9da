"""`recfactor train`: read a ratings file, fit a model, save it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from recfactor.cli.common import (
    DEFAULT_MODEL,
    Algo,
    AlgoOpt,
    DuplicatesOpt,
    Engine,
    EngineOpt,
    Feedback,
    FeedbackOpt,
    FormatOpt,
    Header,
    ItemCol,
    LayoutOpt,
    Master,
    MissingValue,
    ModelPath,
    Quiet,
    RatingCol,
    Remote,
    Seed,
    Sep,
    SparkConf,
    UserCol,
    Verbose,
    _build_model,
    _fmt,
    _handle_errors,
    _model_params,
    _note,
    _parse_scale,
    _read_options,
    _with_model_flags,
    _within_rank,
    app,
)
from recfactor.cli.helptext import Command
from recfactor.cli.spark import open_on_spark, refuse_on_spark, spark_target


@app.command(cls=Command)
@_with_model_flags()
@_handle_errors
def train(
    data: Annotated[
        str, typer.Argument(metavar="DATA", help="Ratings file (CSV/TSV, .gz/.bz2/.xz/.zip) or -.")
    ],
    model: ModelPath = Path(DEFAULT_MODEL),
    algo: AlgoOpt = Algo.svd,
    seed: Seed = 0,
    rating_scale: Annotated[
        Optional[str],
        typer.Option(
            "--rating-scale", help="Clip predictions to LOW,HIGH [default: as seen in training]."
        ),
    ] = None,
    sep: Sep = None,
    layout: LayoutOpt = None,
    header: Header = None,
    user_col: UserCol = None,
    item_col: ItemCol = None,
    rating_col: RatingCol = None,
    feedback: FeedbackOpt = Feedback.explicit,
    duplicates: DuplicatesOpt = None,
    missing_value: MissingValue = None,
    fmt: FormatOpt = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
    engine: EngineOpt = Engine.local,
    master: Master = None,
    remote: Remote = None,
    spark_conf: SparkConf = None,
    **model_flags: Any,
) -> None:
    """Fit a model on DATA and save it (default ./recfactor.model)."""
    options = _read_options(
        sep, layout, header, user_col, item_col, rating_col, feedback, duplicates, missing_value
    )
    cluster = spark_target(engine, master, remote, spark_conf)
    if cluster is not None:
        return _train_on_spark(data, model, algo.value, seed, feedback.value, cluster, options,
                               dict(model_flags), fmt, quiet)  # fmt: skip
    import time

    from recfactor import persist
    from recfactor.data import read_ratings
    from recfactor.lineage import fingerprint_in_background
    from recfactor.report import progress

    params = _model_params(algo.value, dict(model_flags), feedback.value)
    # A bad parameter is refused before the data is read.
    prototype = _build_model(algo.value, params, seed)
    scale = _parse_scale(rating_scale)
    # So is a model path that cannot be written, or that holds something else (the data).
    persist.check_target(model)
    # The data file's SHA-256 goes into the model's manifest; hashing a large file takes
    # 0.2-0.5 s, done on the side while the main thread reads and fits (hashlib lets go of
    # the interpreter lock).
    fingerprint = fingerprint_in_background(data) if data != "-" else None
    loading = _load_kernels_beside(prototype)
    started = time.perf_counter()
    dataset = read_ratings(data, options)
    read_seconds = time.perf_counter() - started
    loading.join()
    shape = (dataset.n_users, dataset.n_items)
    params = _within_rank(algo.value, params, feedback.value, lambda: [shape], quiet)
    fitted = _build_model(algo.value, params, seed)
    fitted.validate(dataset)  # errors the data holds for this model, before the note
    _note(f"training {algo.value} on {dataset.n_ratings} ratings "
          f"({dataset.n_users} users x {dataset.n_items} items)", quiet)  # fmt: skip
    with progress(None, f"training {algo.value}", enabled=not quiet) as update:
        fitted.fit(dataset, rating_scale=scale, on_epoch=update)
    if verbose:
        _note(f"read {data} in {read_seconds:.3f} s; fit in {fitted.fit_seconds_:.3f} s", quiet)
    persist.save(fitted, model, _manifest_extra(fingerprint, options, fitted, dataset, scale))
    _write_summary(fitted, dataset.n_ratings, model, algo.value, fmt)


# A second fit from another seed measures whether `similar`'s lists would survive it: on sets up
# to this size, where a fit takes about a second, a small cost beside the user's own wait.
# Decided by the data, not the clock, so that the same command always writes the same file
# whatever the machine's load.
NEIGHBOURS_CHECK_RATINGS = 200_000


def _manifest_extra(fingerprint, options, fitted, dataset, scale) -> dict[str, Any]:
    """What the model file records besides the model: its data (path, size, SHA-256 and how it
    was read) and the stability of its neighbours."""
    from recfactor.lineage import DataRecord

    found = fingerprint() if fingerprint is not None else {}
    return {"data": DataRecord.from_fingerprint(found, options).to_dict(),
            "neighbours": _neighbours_check(fitted, dataset, scale)}  # fmt: skip


def _neighbours_check(fitted: Any, dataset: Any, scale: Any) -> dict[str, Any] | None:
    """How many of each item's nearest neighbours another seed keeps (recfactor.neighbours),
    measured on small sets (NEIGHBOURS_CHECK_RATINGS); None otherwise."""
    from recfactor.neighbours import neighbour_stability

    if fitted.item_factors_ is None or dataset.n_ratings > NEIGHBOURS_CHECK_RATINGS:
        return None
    import dataclasses

    params = dataclasses.replace(fitted.params, seed=fitted.params.seed + 1)
    other = type(fitted)(params).fit(dataset, rating_scale=scale, training_error=False)
    return neighbour_stability(fitted, other)


def _write_summary(fitted: Any, ratings: int, model: Path, algo: str, fmt: Any) -> None:
    from recfactor.report import write_records

    summary = {
        "model": str(model),
        "algo": algo,
        "users": len(fitted.user_ids_),
        "items": len(fitted.item_ids_),
        "ratings": ratings,
        "train_rmse": fitted.train_metrics_.get("rmse"),
        "train_mae": fitted.train_metrics_.get("mae"),
        "fit_seconds": round(fitted.fit_seconds_, 4),
    }
    write_records([summary], list(summary), _fmt(fmt), title="Trained")


def _load_kernels_beside(model: Any) -> Any:
    """Load the fit's compiled kernels on a thread while this one reads the data.

    Loading them is mostly Python (numba's import and cache), Arrow's parse is not, so on two
    cores the two overlap (0.6 s of a 7.5 s train on 9 million ratings). A failure here is left
    for the fit, which loads them again and reports it.
    """
    import threading

    def load() -> None:
        try:
            model._prepare()
            from recfactor.kernels import pairs

            pairs.warm_up()
        except Exception:
            pass

    thread = threading.Thread(target=load, name="recfactor-load-kernels", daemon=True)
    thread.start()
    return thread


def _train_on_spark(data, model, algo, seed, feedback, cluster, options, flags, fmt, quiet):
    """ALS fitted by Spark MLlib; the model file is the local engine's."""
    from recfactor import persist, spark_engine

    refuse_on_spark([algo], options, flags)
    params = _build_model(algo, _model_params(algo, flags, feedback), seed).params
    spark_engine.spark_params(params, feedback)  # what MLlib cannot run, refused before Spark
    persist.check_target(model)
    spark, frame = open_on_spark(data, cluster, options)
    _note(f"training als on Spark ({cluster.where})", quiet)
    fitted = spark_engine.train_als(frame, params, feedback, data)
    extra = {"engine": "spark", "spark_version": spark.version, "master": cluster.where}
    from recfactor.lineage import DataRecord

    # A local file is hashed, so that `update` can tell whether it changed; a folder of parts
    # or a cluster's path is named alone.
    persist.save(fitted, model, {"data": DataRecord.of_file(data, options).to_dict(), **extra})
    _write_summary(fitted, int(fitted.seen_indptr_[-1]), model, algo, fmt)
