"""A model's learned factors and biases as a table: one row per user or item, written as CSV,
JSON or Parquet (``recfactor export``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from recfactor import targets
from recfactor.errors import DataError


def factor_frame(fitted: Any, what: str) -> Any:
    """One row per item (or user): its ID, its bias (NaN where the model has none) and its
    factors."""
    import numpy as np
    import pandas as pd

    ids = fitted.item_ids_ if what == "items" else fitted.user_ids_
    bias = fitted.item_bias_ if what == "items" else fitted.user_bias_
    factors = fitted.item_factors_ if what == "items" else fitted.user_factors_
    columns = {
        what[:-1]: ids,
        "bias": bias if (bias is not None and fitted.uses_bias_) else np.full(len(ids), np.nan),
    }
    if factors is not None:
        columns.update({f"f{f}": factors[:, f] for f in range(factors.shape[1])})
    return pd.DataFrame(columns)


def write_frame(frame: Any, kind: str, output: Path | None, id_column: str) -> None:
    if output is None:
        if kind == "json":
            sys.stdout.write(factor_json(frame, id_column))
        else:
            frame.to_csv(sys.stdout, index=False, float_format="%.8g", lineterminator="\n")
        return
    try:
        with targets.replacing(
            output, DataError, "-o"
        ) as path:  # the old file stays whole if the write fails
            if kind == "parquet":
                frame.to_parquet(path, index=False)
            elif kind == "json":
                path.write_text(factor_json(frame, id_column))
            else:
                frame.to_csv(path, index=False, float_format="%.8g", lineterminator="\n")
    except ImportError:
        raise DataError(
            f"{output}: writing Parquet needs pyarrow", hint="pip install pyarrow, or use .csv"
        ) from None
    except OSError as exc:
        raise DataError(f"{output}: cannot write ({exc.strerror or exc})",
                        hint="check the folder: its space, its permissions") from None  # fmt: skip


def factor_json(frame: Any, id_column: str) -> str:
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
