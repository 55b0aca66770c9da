"""`recfactor describe` and `recfactor split`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from recfactor.cli.common import DataArg, Quiet, app, handle_errors, naming
from recfactor.cli.groups import OUTPUT, READ, SPLIT_FILES, with_groups
from recfactor.cli.helptext import Command


@app.command(cls=Command)
@handle_errors
@with_groups
def describe(
    data: DataArg,
    read: Any = READ,
    out: Any = OUTPUT,
    quiet: Quiet = False,  # every command takes it; this one writes no notes
) -> None:
    """Dataset statistics: size, density, rating histogram, long tail."""
    from recfactor.describe import describe as stats
    from recfactor.io.ratings import read_ratings
    from recfactor.report import render_description

    found = stats(read_ratings(data, read))
    with out.open() as kind:
        render_description(found, kind)


@app.command(cls=Command)
@handle_errors
@with_groups
def split(
    data: DataArg,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Where to write the files.")
    ] = Path("."),
    prefix: Annotated[
        Optional[str], typer.Option("--prefix", help="File name prefix [default: DATA's stem].")
    ] = None,
    how: Any = SPLIT_FILES,
    read: Any = READ,
    out: Any = OUTPUT.only("fmt"),
    quiet: Quiet = False,  # every command takes it; this one writes no notes
) -> None:
    """Write reproducible train/test CSV files (a holdout, 0.2 by default, or k folds); lists
    them on stdout."""
    from recfactor.io import splitfiles
    from recfactor.io.ratings import read_ratings
    from recfactor.report import write_records

    dataset = read_ratings(data, read)
    with naming(dataset.source):
        splits = splitfiles.draw(dataset, how, how.times(data, read, dataset))
    stem = prefix or ("stdin" if data == "-" else Path(data).name.split(".")[0])
    kfold = how.folds is not None
    records = splitfiles.write_splits(data, dataset, splits, output_dir, stem, kfold)
    write_records(records, ["fold", "part", "path", "ratings"], out.kind())
