"""`recfactor inspect`: what a saved model learned, or how it compares with another."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from recfactor.cli.common import (
    DEFAULT_MODEL,
    ItemNames,
    ModelPath,
    Quiet,
    app,
    handle_errors,
    load_model,
    read_titles,
)
from recfactor.cli.groups import OUTPUT, with_groups
from recfactor.cli.helptext import Command


@app.command(cls=Command)
@handle_errors
@with_groups
def inspect(
    model: ModelPath = Path(DEFAULT_MODEL),
    items: ItemNames = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Top items per factor.")] = 5,
    compare: Annotated[
        Optional[Path],
        typer.Option(
            "--compare", help="Another model: align the two and show how alike their factors are."
        ),
    ] = None,
    target: Any = OUTPUT,
    quiet: Quiet = False,  # every command takes it; this one writes no notes
) -> None:
    """What the saved model learned: settings, fit, factor norms, top items per factor, and
    (for small models) heatmaps of the factor matrices; or, with --compare, how it agrees
    with another model."""
    from recfactor.report import render_comparison, render_model
    from recfactor.summary import compare as compare_models
    from recfactor.summary import heatmaps, summarise

    fitted, manifest = load_model(model)
    names = read_titles(items)
    if compare is not None:
        other, _ = load_model(compare)
        found = compare_models(fitted, other, names, top)
        with target.open() as kind:
            render_comparison(found, kind)
        return
    found, maps = summarise(fitted, manifest, names, top), heatmaps(fitted)
    with target.open() as kind:
        render_model(found, maps, kind)
