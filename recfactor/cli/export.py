"""`recfactor export`: the learned factors and biases as CSV, JSON or Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from recfactor.cli.common import (
    DEFAULT_MODEL,
    ModelPath,
    Quiet,
    What,
    app,
    handle_errors,
    load_model,
    tell,
)
from recfactor.cli.groups import DATA_OUTPUT, with_groups
from recfactor.cli.helptext import Command


@app.command(cls=Command)
@handle_errors
@with_groups
def export(
    what: Annotated[What, typer.Option("--what", help="Which factors to write.")] = What.items,
    model: ModelPath = Path(DEFAULT_MODEL),
    out: Any = DATA_OUTPUT,
    quiet: Quiet = False,
) -> None:
    """Write the learned user or item factors (and biases) as CSV, JSON or Parquet (the
    format from -o's suffix or --format; CSV on stdout by default, even on a terminal)."""
    from recfactor.cli.output import output_format
    from recfactor.io.factors import factor_frame, write_frame

    kind = output_format(out.output, out.fmt.value if out.fmt else None) or "csv"
    output = None if out.output is None or str(out.output) == "-" else out.output
    fitted, _ = load_model(model)
    write_frame(factor_frame(fitted, what.value), kind, output, what.value[:-1])
    tell(fitted.export_note(), quiet)
