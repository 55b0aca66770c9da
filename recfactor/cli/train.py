"""`recfactor train`: read a ratings file, fit a model, save it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recfactor.cli.common import (
    DEFAULT_MODEL,
    Algo,
    AlgoOpt,
    DataArg,
    ModelPath,
    Quiet,
    RatingScale,
    Seed,
    Verbose,
    app,
    engine_note,
    handle_errors,
    parse_scale,
    resolved_format,
    tell,
    with_model_flags,
)
from recfactor.cli.groups import FEATURES, OUTPUT, READ, SPARK, with_groups
from recfactor.cli.helptext import Command


@app.command(cls=Command)
@handle_errors
@with_groups
@with_model_flags()
def train(
    data: DataArg,
    model: ModelPath = Path(DEFAULT_MODEL),
    algo: AlgoOpt = Algo.svd,
    seed: Seed = 0,
    rating_scale: RatingScale = None,
    read: Any = READ,
    features: Any = FEATURES,
    out: Any = OUTPUT.only("fmt"),
    cluster: Any = SPARK,
    quiet: Quiet = False,
    verbose: Verbose = False,
    **model_flags: Any,
) -> None:
    """Fit a model on DATA and save it (default ./recfactor.model)."""
    from recfactor import workflows
    from recfactor.models.flags import model_params
    from recfactor.report import progress

    params = model_params(algo.value, dict(model_flags), read.feedback)
    bar = lambda title: progress(None, title, enabled=not quiet)  # noqa: E731
    if cluster is not None:
        fitted = workflows.train_on_spark(data, cluster, algo.value, params, seed=seed,
                                          read=read, model_path=model, progress=bar,
                                          features=features,
                                          note=lambda text: tell(text, quiet))  # fmt: skip
    else:
        fitted = workflows.train_file(
            data, algo.value, params, seed=seed, read=read, model_path=model,
            rating_scale=parse_scale(rating_scale), features=features,
            note=lambda text: engine_note(text, quiet),
            detail=lambda text: engine_note(text, quiet or not verbose), progress=bar,
        )  # fmt: skip
    _write_summary(fitted, model, algo.value, out.fmt)


def _write_summary(fitted: Any, model: Path, algo: str, fmt: Any) -> None:
    from recfactor.report import write_records

    summary = {
        "model": str(model),
        "algo": algo,
        "users": len(fitted.user_ids_),
        "items": len(fitted.item_ids_),
        "ratings": int(fitted.seen_indptr_[-1]),
        "train_rmse": fitted.train_metrics_.get("rmse"),
        "train_mae": fitted.train_metrics_.get("mae"),
        "fit_seconds": round(fitted.fit_seconds_, 4),
    }
    write_records([summary], list(summary), resolved_format(fmt), title="Trained")
