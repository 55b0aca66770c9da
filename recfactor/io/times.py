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

from recfactor.dataset import Dataset
from recfactor.errors import DataError
from recfactor.io.columnar import is_text
from recfactor.io.columns import TIMESTAMP_NAMES, choose_columns


def read_times(
    source: str | os.PathLike, options: Any, dataset: Dataset, time_col: str | None = None,
    optional: bool = False,
) -> np.ndarray | None:  # fmt: skip
    """The time of each of ``dataset``'s ratings (float64: numbers as written, dates and
    timestamps as Unix seconds), read again from ``source`` with the ``options`` that read
    ``dataset``; where the file has no time column, an error, or None if ``optional``."""
    from recfactor.io import columnar, text

    name = "<stdin>" if str(source) == "-" else str(source)
    if name == "<stdin>":
        raise DataError("<stdin>: a time-ordered holdout reads the data twice",
                        hint="give the data as a file")  # fmt: skip
    if options.layout == "wide":
        raise DataError(f"{name}: a matrix has no times", hint="give user,item,rating,time rows")
    raw = text.read_bytes(source, name)
    kind = columnar.table_kind(raw)
    if kind is not None:
        table = columnar.read_table(raw, kind, name)
        names = columnar.column_names(table, name)
        column = _time_column(names, True, options, name, time_col, optional)
        if column is None:
            return None
        values = table.column(column).combine_chunks()
        rows = np.arange(table.num_rows, dtype=np.int64)
        label = f"{name}, column {names[column]}"
    else:
        found = _text_times(raw, name, options, time_col, optional)
        if found is None:
            return None
        values, rows = found
        label = name
    unit = "row" if kind is not None else "line"
    times = _as_numbers(values, label, lambda k: f"{unit} {int(rows[k]) + (kind is not None)}")
    lines = dataset.line_numbers()
    position = np.searchsorted(rows, lines - 1 if kind is not None else lines)
    return times[np.minimum(position, len(times) - 1)]


def _time_column(names: list[str], header: bool, options: Any, name: str, given: str | None,
                 optional: bool = False) -> int | None:  # fmt: skip
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
        if optional:
            return None
        raise DataError(f"{name}: found no time column ({', '.join(names)})",
                        hint="head the column timestamp, time or date (evaluate and split "
                        "also take --time-col NAME)")  # fmt: skip
    return rest[0]


def _text_times(
    raw: bytes, name: str, options: Any, time_col: str | None, optional: bool = False
) -> tuple[pa.Array, np.ndarray] | None:
    """The time column's values and the 1-based line of each (None: no time column, and
    ``optional``)."""
    from recfactor.io import columnar, diagnose, frames, ratings, text

    raw, sample = text.text_and_sample(raw, name, "give a file with one rating per line")
    sep, header, names = ratings.head_layout(sample, name, options)
    width = len(names)
    column = _time_column(names, header, options, name, time_col, optional)
    if column is None:
        return None
    found = text.arrow_body(raw, sep, header)
    if found is not None:
        body, arrow_sep, skip, start = found
        parsed = columnar.parse_csv(memoryview(body)[start:], arrow_sep, [column], width, None,
                                text=[column])  # fmt: skip
        if parsed is not None:
            lines = text.nonblank_lines(memoryview(body)[start:], skip + 1)
            return parsed[column].combine_chunks(), lines[: len(parsed[column])]
    parse_text, parse_sep = frames.pandas_sep(text.decode(raw, name), sep)
    frame = frames.parse_frame(parse_text, parse_sep, skiprows=frames.header_skip(parse_text)
                        if header else 0, dtype=str, skip_blank_lines=True)  # fmt: skip
    lines = diagnose.physical_lines(parse_text, len(frame), header)
    return pa.array(frame[column].fillna("").str.strip(), pa.string()), lines


def _as_numbers(values: pa.Array, name: str, place: Any = None) -> np.ndarray:
    """Times as float64, for their order alone: numbers as they are, points in time (dates,
    timestamps of any unit and zone, date strings) as seconds since 1970 (any year Arrow
    holds), durations as their count. Refused, naming ``name`` (the file and column) and the
    type: times of day, and lists, structs and other values that are no point in time; a
    missing or unreadable time names its place (``place(k)``, "line 12", where known)."""
    where = (lambda k: f"{name}, {place(k)}") if place is not None else (lambda k: name)
    import pyarrow.compute as pc

    t = values.type
    if pa.types.is_dictionary(t):
        values, t = values.cast(t.value_type), t.value_type
    if is_text(t) and not pa.types.is_string(t):
        values, t = values.cast(pa.string()), pa.string()
    if pa.types.is_date32(t):
        out = pc.cast(values, pa.int32()).to_numpy(zero_copy_only=False) * 86400.0
    elif pa.types.is_date64(t):
        out = pc.cast(values, pa.int64()).to_numpy(zero_copy_only=False) / 1000.0
    elif pa.types.is_timestamp(t) or pa.types.is_duration(t):
        per_second = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[t.unit]
        out = pc.cast(values, pa.int64()).to_numpy(zero_copy_only=False) / per_second
    elif pa.types.is_string(t):
        out = _text_as_numbers(values, where)
    elif (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_decimal(t)
        or pa.types.is_boolean(t)
        or pa.types.is_null(t)
    ):
        # Unchecked: integers beyond 2^53 round, which an order survives.
        out = pc.cast(values, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
    else:
        what = "a time of day, not a point in time" if pa.types.is_time(t) else "not times"
        raise DataError(f"{name}: the time column holds {t}, {what}",
                        hint="give Unix seconds, dates or timestamps; or name another "
                        "column with --time-col")  # fmt: skip
    out = np.asarray(out, dtype=np.float64)
    if np.isnan(out).any():
        raise DataError(f"{where(int(np.argmax(np.isnan(out))))}: a rating has no time",
                        hint="give every rating a time")  # fmt: skip
    return out


def _text_as_numbers(values: pa.Array, where: Any) -> np.ndarray:
    """Times written as text: numbers, else ISO dates (Arrow's parser: any year), else any
    date pandas can read; an empty one is missing (NaN, refused by the caller). A column of
    numbers (half of them or more) is one of numbers: a value that is not one is named, not read
    as a date."""
    import pyarrow.compute as pc

    for blank_is_missing in (False, True):  # the usual file's times cast at the first go
        if blank_is_missing:
            values = pc.if_else(pc.equal(pc.utf8_trim_whitespace(values), ""), None, values)
        for target in (pa.float64(), pa.timestamp("s")):
            try:
                parsed = pc.cast(values, target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            if target == pa.float64():
                return parsed.to_numpy(zero_copy_only=False)
            return pc.cast(parsed, pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64)
    import pandas as pd

    text = pd.Series(values.to_pandas())
    given = values.is_valid().to_numpy(zero_copy_only=False)
    numbers = pd.to_numeric(text, errors="coerce")
    if 2 * int(numbers.notna().sum()) >= int(given.sum()):  # Unix seconds, some not a number
        bad = int(np.argmax(numbers.isna().to_numpy() & given))
        raise DataError(f"{where(bad)}: time {text[bad]!r} is not a number, as the others are",
                        hint="give every time in Unix seconds, or every one as a date")  # fmt: skip
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    bad = parsed.isna().to_numpy() & given
    if bad.any() and pd.notna(numbers.iloc[int(np.argmax(bad))]):
        raise DataError(f"{where(int(np.argmax(bad)))}: time {text[int(np.argmax(bad))]!r} is "
                        "a number, where most of the others are dates",
                        hint="give every time as a date, or every one in Unix seconds")  # fmt: skip
    if bad.any():
        raise DataError(
            f"{where(int(np.argmax(bad)))}: time {text[int(np.argmax(bad))]!r} is neither a "
            "number nor a date (between the years 1677 and 2262 where it is not ISO 8601)",
            hint="give Unix seconds or ISO dates",
        )
    seconds = parsed.astype("int64").to_numpy().astype(np.float64) / 1e9
    seconds[parsed.isna().to_numpy()] = np.nan  # a missing time, refused by the caller
    return seconds


def pair_times(others: dict[str, Any], name: str) -> np.ndarray | None:
    """Each pair's time from a pairs file's other columns (``timestamp``, ``time``, ``date``
    ..., or a headerless file's fourth column), as Unix seconds; None where there is none."""
    chosen = next((c for c in others if c.lower() in TIMESTAMP_NAMES), None)
    chosen = chosen or ("column4" if "column4" in others else None)
    if chosen is None:
        return None
    values = others[chosen]
    values = values.combine_chunks() if hasattr(values, "combine_chunks") else values
    return _as_numbers(values, name)
