"""`recfactor export`: the learned factors and biases as CSV, JSON or Parquet."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from recfactor.cli.common import (
    DEFAULT_MODEL,
    ModelPath,
    Quiet,
    What,
    app,
    handle_errors,
    load_model,
)
from recfactor.cli.helptext import Command


@app.command(cls=Command)
@handle_errors
def export(
    what: Annotated[What, typer.Option("--what", help="Which factors to write.")] = What.items,
    output: Annotated[
        Optional[Path],
        typer.Option(
            "--output", "-o", help="File to write (.csv, .json or .parquet) [default: stdout]."
        ),
    ] = None,
    fmt: Annotated[
        Optional[ExportFormat],
        typer.Option("--format", help="csv or json [default: from -o's suffix, else csv]."),
    ] = None,
    model: ModelPath = Path(DEFAULT_MODEL),
    quiet: Quiet = False,  # every command takes it; this one writes no notes
) -> None:
    """Write the learned user or item factors (and biases) as CSV, JSON or Parquet."""
    from recfactor.cli.output import check_output, output_format

    # -o's rules are every command's: - for stdout, the format from the suffix (an unknown
    # one refused), and no device, FIFO, read-only file, input or model replaced.
    kind = output_format(output, fmt.value if fmt is not None else None) or "csv"
    if output is not None and str(output) == "-":
        output = None
    check_output(output)
    fitted, _ = load_model(model)
    _write_frame(_factor_frame(fitted, what), kind, output, what.value[:-1])


class ExportFormat(str, Enum):
    """What export writes to stdout (Parquet goes to a file: -o NAME.parquet)."""

    csv = "csv"
    json = "json"


def _factor_frame(fitted: Any, what: What) -> Any:
    """One row per item (or user): its ID, its bias (NaN where the model has none) and its
    factors."""
    import numpy as np
    import pandas as pd

    ids = fitted.item_ids_ if what == What.items else fitted.user_ids_
    bias = fitted.item_bias_ if what == What.items else fitted.user_bias_
    factors = fitted.item_factors_ if what == What.items else fitted.user_factors_
    columns = {
        what.value[:-1]: ids,
        "bias": bias if (bias is not None and fitted.uses_bias_) else np.full(len(ids), np.nan),
    }
    if factors is not None:
        columns.update({f"f{f}": factors[:, f] for f in range(factors.shape[1])})
    return pd.DataFrame(columns)


def _write_frame(frame: Any, kind: str, output: Path | None, id_column: str) -> None:
    from recfactor.errors import DataError

    if output is None:
        if kind == "json":
            sys.stdout.write(_factor_json(frame, id_column))
        else:
            frame.to_csv(sys.stdout, index=False, float_format="%.8g", lineterminator="\n")
        return
    from recfactor.cli.output import atomic_path

    try:
        with atomic_path(output) as path:  # the old file stays whole if the write fails
            if kind == "parquet":
                frame.to_parquet(path, index=False)
            elif kind == "json":
                path.write_text(_factor_json(frame, id_column))
            else:
                frame.to_csv(path, index=False, float_format="%.8g", lineterminator="\n")
    except ImportError:
        raise DataError(
            f"{output}: writing Parquet needs pyarrow", hint="pip install pyarrow, or use .csv"
        ) from None
    except OSError as exc:
        raise DataError(f"{output}: cannot write ({exc.strerror or exc})") from None


def _factor_json(frame: Any, id_column: str) -> str:
    """The CSV's records as a JSON list, numbers as the CSV writes them (8 significant digits,
    as short as they can be) and an absent bias as null."""
    import io
    import json

    import pandas as pd

    text = frame.to_csv(index=False, float_format="%.8g", lineterminator="\n")
    back = pd.read_csv(
        io.StringIO(text),
        dtype={id_column: str},
        keep_default_na=False,  # an ID "NA" stays "NA"
        na_values={"bias": [""]},
    )
    back = back.astype(object).where(back.notna(), None)
    return json.dumps(back.to_dict("records")) + "\n"
