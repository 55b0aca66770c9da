"""Each rating's time, read beside a dataset from its file, for holdouts that keep the latest
ratings for the test (a model is then scored on what came after what it learned from).

The time column is the one named (``time_col``), else the one a header calls ``timestamp``,
``time``, ``date``, ..., else, without a header, the first column after the user, item and
rating (MovieLens' ``u.data``). Numbers are taken as they are (Unix seconds); other values
are parsed as dates.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa

from recfactor.columns import TIMESTAMP_NAMES, choose_columns
from recfactor.dataset import Dataset
from recfactor.errors import DataError


def read_times(
    source: str | os.PathLike, options: Any, dataset: Dataset, time_col: str | None = None
) -> np.ndarray:
    """The time of each of ``dataset``'s ratings (float64: seconds, or nanoseconds for
    dates), read again from ``source`` with the ``options`` that read ``dataset``."""
    from recfactor import data

    name = "<stdin>" if str(source) == "-" else str(source)
    if name == "<stdin>":
        raise DataError("<stdin>: a time-ordered holdout reads the data twice",
                        hint="give the data as a file")  # fmt: skip
    if options.layout == "wide":
        raise DataError(f"{name}: a matrix has no times", hint="give user,item,rating,time rows")
    raw = data._read_bytes(source, name)
    kind = data.table_kind(raw)
    if kind is not None:
        table = data.read_table(raw, kind, name)
        names = [str(n) for n in table.column_names]
        column = _time_column(names, True, options, name, time_col)
        values = table.column(column).combine_chunks()
        rows = np.arange(table.num_rows, dtype=np.int64)
    else:
        values, rows = _text_times(raw, name, options, time_col)
    times = _as_numbers(values, name)
    lines = dataset.line_numbers()
    position = np.searchsorted(rows, lines - 1 if kind is not None else lines)
    return times[np.minimum(position, len(times) - 1)]


def _time_column(names: list[str], header: bool, options: Any, name: str, given: str | None) -> int:
    lowered = [n.lower() for n in names]
    if given is not None:
        if given.lower() in lowered:
            return lowered.index(given.lower())
        if given.isdigit() and 1 <= int(given) <= len(names):
            return int(given) - 1
        raise DataError(f"{name}, line 1: no column {given!r} for the time",
                        hint="columns are: " + ", ".join(names))  # fmt: skip
    if header:
        for k, n in enumerate(lowered):
            if n in TIMESTAMP_NAMES:
                return k
    cols = choose_columns(names, header, options, name)
    rest = [c for c in range(len(names)) if c not in (cols.user, cols.item, cols.rating)]
    if header or not rest:
        raise DataError(f"{name}: found no time column ({', '.join(names)})",
                        hint="name it with --time-col")  # fmt: skip
    return rest[0]


def _text_times(
    raw: bytes, name: str, options: Any, time_col: str | None
) -> tuple[pa.Array, np.ndarray]:
    """The time column's values and the 1-based line of each."""
    from recfactor import data

    raw, sample = data._text_and_sample(raw, name, "give a file with one rating per line")
    sep, header, names = data.head_layout(sample, name, options)
    width = len(names)
    column = _time_column(names, header, options, name, time_col)
    found = data._arrow_body(raw, sep, header)
    if found is not None:
        body, arrow_sep, skip, start = found
        parsed = data.parse_csv(memoryview(body)[start:], arrow_sep, [column], width, None,
                                text=[column])  # fmt: skip
        if parsed is not None:
            lines = data._nonblank_lines(memoryview(body)[start:], skip + 1)
            return parsed[column].combine_chunks(), lines[: len(parsed[column])]
    parse_text, parse_sep = data._pandas_sep(data._decode(raw, name), sep)
    frame = data._parse(parse_text, parse_sep, skiprows=data._header_skip(parse_text)
                        if header else 0, dtype=str, skip_blank_lines=True)  # fmt: skip
    lines = data._physical_lines(parse_text, len(frame), header)
    return pa.array(frame[column].fillna("").str.strip(), pa.string()), lines


def _as_numbers(values: pa.Array, name: str) -> np.ndarray:
    """Times as float64: numbers as they are, dates as nanoseconds since 1970."""
    import pyarrow.compute as pc

    if pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
        values = values.cast(pa.timestamp("ns")).cast(pa.int64())
    if not pa.types.is_string(values.type):
        # Unchecked: nanoseconds since 1970 exceed the integers a float holds exactly, and
        # an order needs no more.
        out = pc.cast(values, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
    else:
        try:
            out = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            import pandas as pd

            parsed = pd.to_datetime(pd.Series(values.to_pandas()), errors="coerce",
                                    utc=True, format="mixed")  # fmt: skip
            bad = parsed.isna().to_numpy()
            if bad.any():
                raise DataError(
                    f"{name}: time {values[int(np.argmax(bad))].as_py()!r} is neither a "
                    "number nor a date",
                    hint="give Unix seconds or ISO dates",
                ) from None
            out = parsed.astype("int64").to_numpy().astype(np.float64)
    if np.isnan(out).any():
        raise DataError(f"{name}: a rating has no time", hint="give every rating a time")
    return out
