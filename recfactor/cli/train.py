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
    app,
    handle_errors,
    model_params,
    parse_scale,
    read_options,
    resolved_format,
    tell,
    with_model_flags,
)
from recfactor.cli.helptext import Command
from recfactor.cli.spark import open_on_spark, refuse_on_spark, spark_target


@app.command(cls=Command)
@with_model_flags()
@handle_errors
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
    options = read_options(
        sep, layout, header, user_col, item_col, rating_col, feedback, duplicates, missing_value
    )
    cluster = spark_target(engine, master, remote, spark_conf)
    if cluster is not None:
        return _train_on_spark(data, model, algo.value, seed, feedback.value, cluster, options,
                               dict(model_flags), fmt, quiet)  # fmt: skip
    from recfactor import workflows
    from recfactor.report import progress

    params = model_params(algo.value, dict(model_flags), feedback.value)
    fitted = workflows.train_file(
        data, algo.value, params, seed=seed, read=options, model_path=model,
        rating_scale=parse_scale(rating_scale), note=lambda text: _say(text, quiet),
        detail=lambda text: tell(text, quiet or not verbose),
        progress=lambda title: progress(None, title, enabled=not quiet),
    )  # fmt: skip
    _write_summary(fitted, int(fitted.seen_indptr_[-1]), model, algo.value, fmt)


def _say(text: str, quiet: bool) -> None:
    """An engine's note with its `parameters` as flags (-k for factors)."""
    from recfactor.errors import as_flags

    tell(as_flags(text).replace("--factors to choose", "-k to choose"), quiet)


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
    write_records([summary], list(summary), resolved_format(fmt), title="Trained")


def _train_on_spark(data, model, algo, seed, feedback, cluster, options, flags, fmt, quiet):
    """ALS fitted by Spark MLlib; the model file is the local engine's."""
    from recfactor import persist, spark_engine, workflows

    refuse_on_spark([algo], options, flags)
    params = workflows.build(algo, model_params(algo, flags, feedback), seed).params
    spark_engine.spark_params(params, feedback)  # what MLlib cannot run, refused before Spark
    persist.check_target(model)
    spark, frame = open_on_spark(data, cluster, options)
    tell(f"training als on Spark ({cluster.where})", quiet)
    fitted = spark_engine.train_als(frame, params, feedback, data)
    extra = {"engine": "spark", "spark_version": spark.version, "master": cluster.where}
    from recfactor.lineage import DataRecord

    # A local file is hashed, so that `update` can tell whether it changed; a folder of parts
    # or a cluster's path is named alone.
    persist.save(fitted, model, {"data": DataRecord.of_file(data, options).to_dict(), **extra})
    _write_summary(fitted, int(fitted.seen_indptr_[-1]), model, algo, fmt)
