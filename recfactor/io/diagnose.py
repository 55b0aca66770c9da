"""Where a ratings file goes wrong: when the fast parse fails or a value does not validate,
the text is parsed again as plain strings, keeping physical line numbers, only to name the
line and column of the first bad value."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from recfactor.errors import DataError
from recfactor.io.columns import (
    Columns,
)
from recfactor.io.frames import below_blank_lines, parse_frame

# A number written with a decimal comma ("4,5"), which a file not separated by commas keeps.
DECIMAL_COMMA = re.compile(r"[-+]?\d+,\d+")

if TYPE_CHECKING:
    pass


def physical_lines(text: str, n_rows: int, header: bool) -> np.ndarray:
    """1-based line numbers of the data rows, skipping blank lines as the parser did."""
    if "\n\n" not in text and not text.startswith("\n") and "\r" not in text and '"' not in text:
        start = 2 if header else 1
        return np.arange(start, start + n_rows, dtype=np.int64)
    if '"' in text:
        starts, blank = row_starts(text)
        numbers = starts[~blank]
        numbers = numbers[1:] if header else numbers
        if len(numbers) == n_rows:
            return numbers.astype(np.int64)
    # Blank lines exist: number the non-blank ones (rare, so the slow way is fine).
    numbers = [k + 1 for k, line in enumerate(text.splitlines()) if line.strip()]
    numbers = numbers[1:] if header else numbers
    return np.asarray(numbers[:n_rows], dtype=np.int64)


def row_starts(text: str) -> tuple[np.ndarray, np.ndarray]:
    """The line each CSV row starts on (1-based), and whether the row is blank.

    A newline inside double quotes continues its row (a quoted field may hold line breaks),
    so rows are counted by the newlines with an even number of quotes before them.
    """
    buf = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    quotes_before = np.cumsum(buf == 34)[newlines] if len(newlines) else newlines
    ends = newlines[quotes_before % 2 == 0]  # the newlines that end a row
    line_of_end = np.flatnonzero(quotes_before % 2 == 0)  # index among all newlines
    starts = np.r_[1, line_of_end + 2]
    begin = np.r_[0, ends + 1]
    stop = np.r_[ends, len(buf)]
    if len(ends) and ends[-1] == len(buf) - 1:  # no row after the last newline
        starts, begin, stop = starts[:-1], begin[:-1], stop[:-1]
    filled = np.cumsum(np.r_[0, (buf > 32).astype(np.int64)])
    blank = filled[stop] == filled[begin]
    return starts, blank


def diagnose(
    text: str,
    sep: str,
    name: str,
    header: bool,
    cols: Columns,
    feedback: str,
    unit: str = "rating",
) -> None:
    """Parse everything as strings, keeping physical lines, and raise at the first problem
    (``unit``: what one row holds, for the messages)."""
    import pandas as pd

    body_text, lead = below_blank_lines(text)
    try:
        raw = parse_frame(
            body_text,
            sep,
            dtype=str,
            na_filter=False,
            skip_blank_lines=False,
        )
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            want, line, saw = found.groups()
            raise DataError(
                f"{name}, line {int(line) + lead}: expected {want} fields, found {saw} "
                "(ragged row)",
                hint="every row needs the same number of fields; check for a stray delimiter",
            ) from exc
        unclosed = re.search(r"EOF inside string starting at row (\d+)", str(exc))
        if unclosed:
            row = int(unclosed.group(1))
            starts = row_starts(body_text)[0]
            line = (int(starts[row]) if row < len(starts) else row + 1) + lead
            raise DataError(
                f"{name}, line {line}: a quote opened on this line is never closed",
                hint='close the quote, or double a quote meant as a character ("")',
            ) from None
        raise DataError(f"{name}: cannot be parsed ({exc})",
                        hint="check the separator (`sep`) and the quotes") from exc  # fmt: skip
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{name}: the file is empty",
                        hint="give a file with one rating per line") from exc  # fmt: skip
    starts = row_starts(body_text)[0] if '"' in body_text else None
    if starts is not None and len(starts) == len(raw):  # quoted line breaks: rows and lines
        raw.index = starts - 1 + lead  # part ways (where quotes are stray, count lines)
    else:
        raw.index += lead

    blank = raw.apply(lambda col: col.isna() | (col.astype(str).str.strip() == "")).all(axis=1)
    first_data = int(np.argmax(~blank.to_numpy())) if (~blank).any() else len(raw)
    body = raw.iloc[first_data + 1 :] if header else raw.iloc[first_data:]
    body = body[~blank.loc[body.index]]
    if len(body) == 0:
        raise DataError(
            f"{name}: has a header but no {unit}s" if header else f"{name}: the file is empty",
            hint=f"give a file with one {unit} per line",
        )
    roles = [("user", cols.user), ("item", cols.item)]
    if cols.rating is not None:
        roles.append(("rating", cols.rating))
    for role, c in roles:
        label = f"column {c + 1} ({cols.names[c]})" if header else f"column {c + 1} ({role})"
        if c >= raw.shape[1]:
            line = int(body.index[0]) + 1
            raise DataError(f"{name}, line {line}, {label}: missing", hint="check `sep`")
        column = body[c]
        empty = column.isna() | (column.astype(str).str.strip() == "")
        if empty.any():
            line = int(empty.idxmax()) + 1
            raise DataError(
                f"{name}, line {line}, {label}: missing {role}",
                hint="every row needs a user, an item and a rating"
                if cols.rating is not None
                else "every row needs a user and an item",
            )
        if role == "rating":
            values = pd.to_numeric(column.str.strip(), errors="coerce").to_numpy(dtype=float)
            bad = ~np.isfinite(values)
            if bad.any():
                k = int(np.argmax(bad))
                line = int(column.index[k]) + 1
                token = column.iloc[k]
                what = "is not a number" if np.isnan(values[k]) else "is not finite"
                kind = "ratings" if feedback == "explicit" else "interaction values"
                if header and str(token).strip() == str(cols.names[c]).strip():
                    hint = (
                        "the header line appears again (files joined together?): keep only "
                        "the first, awk 'NR == 1 { h = $0 } NR == 1 || $0 != h' FILE > FIXED"
                    )
                elif DECIMAL_COMMA.fullmatch(str(token).strip()):  # a European spreadsheet's
                    hint = (
                        f"{kind} are read with a decimal point, not a comma: tr ',' '.' "
                        "< FILE > FIXED converts them"
                    )
                elif feedback == "explicit":
                    hint = f"{kind} must be finite numbers; use `rating_col` to pick another column"
                else:
                    hint = f"{kind} must be finite numbers"
                raise DataError(f"{name}, line {line}, {label}: {token!r} {what}", hint=hint)
