"""`recfactor update`: a saved model brought up to date with new ratings, without a fit from
scratch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from recfactor.cli.common import (
    DEFAULT_MODEL,
    DuplicatesOpt,
    FormatOpt,
    Header,
    ItemCol,
    ModelPath,
    Quiet,
    RatingCol,
    Sep,
    UserCol,
    _handle_errors,
    _note,
    app,
)
from recfactor.cli.helptext import Command


@app.command(cls=Command)
@_handle_errors
def update(
    data: Annotated[str, typer.Argument(metavar="NEW", help="New ratings (a file, or -).")],
    model: ModelPath = Path(DEFAULT_MODEL),
    output: Annotated[
        Optional[Path],
        typer.Option(
            "--output", "-o", metavar="PATH", help="Where the updated model goes [default: -m]."
        ),
    ] = None,
    base: Annotated[
        Optional[str],
        typer.Option(
            "--base",
            metavar="PATH",
            help="The ratings the model was trained on [default: the files its manifest "
            "names, if unchanged].",
        ),
    ] = None,
    epochs: Annotated[
        Optional[int],
        typer.Option("--epochs", min=1, help="Passes of the update [default: the model's]."),
    ] = None,
    sep: Sep = None,
    header: Header = None,
    user_col: UserCol = None,
    item_col: ItemCol = None,
    rating_col: RatingCol = None,
    duplicates: DuplicatesOpt = None,
    fmt: FormatOpt = None,
    quiet: Quiet = False,
) -> None:
    """Add NEW ratings (new users, items, or new ratings of known pairs, which replace the old
    ones) to a saved model: it is fitted again on all the ratings, starting from its own
    factors (ALS, svd), and saved to -o (default: in place, atomically)."""
    from recfactor import persist
    from recfactor import update as updating
    from recfactor.data import ReadOptions, read_ratings
    from recfactor.lineage import DataRecord, Lineage
    from recfactor.report import progress

    target = output or model
    persist.check_target(target)
    fitted, manifest = persist.load(model)
    read = ReadOptions(sep=sep, header=header, user_col=user_col, item_col=item_col,
                       rating_col=rating_col, feedback=fitted.feedback_,
                       duplicates=duplicates.value if duplicates else None)  # fmt: skip
    extra = read_ratings(data, read)
    sources = _base_sources(model, manifest, base, fitted.feedback_)
    dataset = _read_base(sources)
    params = {} if epochs is None else {"epochs": epochs}
    _check_epochs(fitted, params)
    with progress(None, f"updating {fitted.name}", enabled=not quiet) as advance:
        done = updating.update(fitted, dataset, extra, params, on_epoch=advance)
    lineage = Lineage(sources[0][2], tuple(s[2] for s in sources[1:]))
    lineage = lineage.then(DataRecord.of_file(data, read))
    persist.save(done.model, target, {**lineage.to_manifest(), "updated_from": str(model)})
    how = "warm-started from" if done.warm else "refitted (its solver cannot start from a model):"
    _note(f"{how} {model}; saved to {target}", quiet)
    _write_summary(done, target, dataset.n_ratings, fmt)


def _check_epochs(fitted: Any, params: dict[str, Any]) -> None:
    """--epochs where the model's declarations say its fit uses them."""
    from recfactor.errors import ParameterError
    from recfactor.models.flags import model_flags

    solver = getattr(fitted.params, "solver", None)
    if params and not model_flags()["epochs"].applies(fitted.name, fitted.feedback_, solver):
        raise ParameterError(f"--epochs does not apply to this {fitted.name} model",
                             hint="drop it: the model is refitted as it was trained")  # fmt: skip


def _base_sources(model: Path, manifest: dict[str, Any], base: str | None, feedback: str):
    """(path, read options, record) of each file of ratings the model was trained on: --base,
    or the data and updates its manifest names, each checked against its SHA-256."""
    from recfactor.data import ReadOptions
    from recfactor.errors import DataError
    from recfactor.lineage import DataRecord, Lineage, file_fingerprint

    if base is not None:
        options = ReadOptions(feedback=feedback)
        return [(base, options, DataRecord.of_file(base, options))]
    lineage = Lineage.of(manifest, str(model))
    records = lineage.records() or [DataRecord()]
    sources = []
    hint = "give the ratings it was trained on (all of them) with --base FILE"
    for k, record in enumerate(records):
        path = record.path
        if not path:
            raise DataError(f"{model}: was trained from stdin or a pipe", hint=hint)
        if not Path(path).is_file():
            raise DataError(f"{path}: the ratings {model} was trained on are gone", hint=hint)
        if record.sha256 is None:
            raise DataError(f"{path}: {model} recorded no SHA-256 of it, so it cannot be "
                            "checked for changes", hint=hint)  # fmt: skip
        if file_fingerprint(path)["sha256"] != record.sha256:
            raise DataError(f"{path}: changed since {model} was trained on it", hint=hint)
        where = "data" if k == 0 else f"updates[{k - 1}]"
        sources.append((path, record.options(feedback, str(model), where), record))
    return sources


def _read_base(sources):
    from recfactor.data import read_ratings
    from recfactor.update import combine

    dataset = read_ratings(sources[0][0], sources[0][1])
    for path, options, _ in sources[1:]:
        dataset = combine(dataset, read_ratings(path, options))
    return dataset


def _write_summary(done: Any, target: Path, base_ratings: int, fmt: Any) -> None:
    from recfactor.cli.common import _fmt
    from recfactor.report import write_records

    fitted = done.model
    summary = {
        "model": str(target),
        "algo": fitted.name,
        "users": len(fitted.user_ids_),
        "items": len(fitted.item_ids_),
        "ratings": base_ratings + done.new_ratings,
        **done.summary(),
        "train_rmse": fitted.train_metrics_.get("rmse"),
        "fit_seconds": round(fitted.fit_seconds_, 4),
    }
    write_records([summary], list(summary), _fmt(fmt), title="Updated")
