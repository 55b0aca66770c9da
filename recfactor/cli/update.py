"""`recfactor update`: a saved model brought up to date with new ratings, without a fit from
scratch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from recfactor.cli.common import DEFAULT_MODEL, ModelPath, Quiet, app, handle_errors, tell
from recfactor.cli.groups import FEATURES, OUTPUT, READ, with_groups
from recfactor.cli.helptext import Command


@app.command(cls=Command)
@handle_errors
@with_groups
def update(
    data: Annotated[str, typer.Argument(metavar="NEW", help="New ratings (a file, or -).")],
    model: ModelPath = Path(DEFAULT_MODEL),
    save_as: Annotated[
        Optional[Path],
        typer.Option(
            "--save-as",
            metavar="PATH",
            help="Where the updated model goes [default: -m, replaced in place].",
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
    features: Any = FEATURES,
    read: Any = READ.only("sep", "header", "user_col", "item_col", "rating_col", "duplicates"),
    out: Any = OUTPUT,
    quiet: Quiet = False,
) -> None:
    """Add NEW ratings (new users, items, or new ratings of known pairs, which replace the old
    ones) to a saved model: it is fitted again on all the ratings, starting from its own
    factors (ALS, svd), and saved to --save-as (default: -m, in place, atomically); its
    summary goes to stdout or -o, as every command's table."""
    from recfactor import workflows
    from recfactor.report import progress

    _claim(data, base, model, save_as, out)
    done = workflows.update_saved(
        data, model, output=save_as, base=base, epochs=epochs, read=read, features=features,
        progress=lambda title: progress(None, title, enabled=not quiet),
    )  # fmt: skip
    target = save_as or model
    why = (
        "an ensemble" if done.model.params.ensemble > 1 else "its solver cannot start from a model"
    )
    how = "warm-started from" if done.warm else f"refitted ({why}):"
    tell(f"{how} {model}; saved to {target}", quiet)
    _write_summary(done, target, out)


def _claim(data: str, base: str | None, model: Path, save_as: Path | None, out: Any) -> None:
    """-o refused before any work where it names an input (the new ratings, the base) or the
    model (which the update replaces): the update would be saved and its table then
    refused."""
    from recfactor import targets
    from recfactor.errors import ParameterError

    for path in (data, base):
        if path is not None:
            targets.note_input(path)
    out.check()
    if out.output is not None and str(out.output) != "-":
        targets.claim(save_as or model, ParameterError, "--save-as")
        targets.claim(out.output, ParameterError, "-o")


def _write_summary(done: Any, target: Path, out: Any) -> None:
    from recfactor.report import write_records

    fitted = done.model
    summary = {
        "model": str(target),
        "algo": fitted.name,
        "users": len(fitted.user_ids_),
        "items": len(fitted.item_ids_),
        "ratings": int(fitted.seen_indptr_[-1]),
        **done.summary(),
        "train_rmse": fitted.train_metrics_.get("rmse"),
        "fit_seconds": round(fitted.fit_seconds_, 4),
    }
    with out.open() as kind:
        write_records([summary], list(summary), kind, title="Updated")
