"""A batch of predictions written out: the pairs, the input's other columns (the true rating
survives a pipeline), each prediction and whether it was cold, and titles where given; CSV by
Arrow's writer, Parquet with the columns' own types, JSON or a table."""

from __future__ import annotations

import sys
from typing import Any


def _typed(values):
    """A text column as whole numbers, or numbers, where every value is one (JSON and Parquet
    get 5, not "5"); as it was otherwise, and where a value has a leading zero ("007", a
    code, not a number)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_string(values.type):
        return values
    if pc.any(pc.match_substring_regex(values, r"^\s*[-+]?0\d")).as_py():
        return values
    for kind in (pa.int64(), pa.float64()):
        try:
            return values.cast(kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return values


def write_predictions(
    user_codes: Any, item_codes: Any, others: dict, predicted: Any, answered: Any, names: Any,
    kind: str, bounds: dict | None = None,
) -> None:  # fmt: skip
    """The pairs, the input's other columns, the predictions (and ``bounds``: columns after
    them, an interval's ``low`` and ``high``) and what answered each (``answered``: codes of
    recfactor.coldstart.ANSWERS: learned, or the path of a new side), and the item's title,
    given names."""
    import numpy as np
    import pyarrow as pa

    from recfactor.io import csvout
    from recfactor.report import write_records

    columns = {"user": csvout.coded(user_codes.codes, user_codes.ids),
               "item": csvout.coded(item_codes.codes, item_codes.ids)}  # fmt: skip
    for name, values in others.items():
        taken = name in ("user", "item", "prediction", "low", "high", "cold", "title")
        columns[f"input_{name}" if taken else name] = values if kind == "csv" else _typed(values)
    from recfactor.coldstart import ANSWERS

    cold = pa.DictionaryArray.from_arrays(csvout.numeric(answered, pa.int8()),
                                          csvout.strings(list(ANSWERS)))  # fmt: skip
    for name, values in {"prediction": predicted, **(bounds or {})}.items():
        columns[name] = (csvout.format_g6(values) if kind == "csv"
                         else csvout.numeric(values, pa.float64()))  # fmt: skip
    columns["cold"] = cold if kind == "csv" else cold.cast(pa.string())
    if names is not None:
        titles = np.array([names.get(i, "") for i in item_codes.ids.tolist()], dtype=object)
        columns["title"] = pa.DictionaryArray.from_arrays(
            csvout.numeric(item_codes.codes, pa.int32()), csvout.strings(titles)
        )
    if kind == "csv" and csvout.plain_columns(columns):
        sys.stdout.flush()
        csvout.write_csv(sys.stdout.buffer, columns)
        return
    if kind == "parquet":  # the columns' own types: IDs stay text, "007" stays "007"
        import pyarrow.parquet as pq

        pq.write_table(pa.table(columns), sys.stdout.buffer)
        return
    frame = pa.table(columns).to_pandas()
    if kind == "csv":  # values that need quotes: pandas quotes them as the csv module would
        frame.to_csv(sys.stdout, index=False, lineterminator="\n")
        return
    write_records(frame.to_dict("records"), list(columns), kind)
