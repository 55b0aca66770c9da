"""The wide layout: a matrix of users as rows and items as columns, one rating per cell
(``--layout wide``; ``--missing-value`` for cells that mean "no rating")."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

import numpy as np

from recfactor.dataset import (
    MAX_ABS_RATING,
    Dataset,
    index_rows,
)
from recfactor.errors import DataError
from recfactor.io.columns import (
    USER_NAMES,
)
from recfactor.io.options import ReadOptions
from recfactor.io.text import is_number

if TYPE_CHECKING:
    pass


WIDE_HINT = "give a matrix: users as rows, items as columns, one rating per cell"


def read_wide(text: str, name: str, sep: str, opt: ReadOptions) -> Dataset:
    import pandas as pd

    cells, line_of = wide_cells(text, sep, name)
    if cells.shape[0] == 0 or cells.shape[1] == 0:
        raise DataError(f"{name}: holds no cells", hint=WIDE_HINT)
    header = opt.header
    if header is None:
        # A row of names, or pandas' to_csv of a matrix: numeric item IDs after an empty
        # corner cell, above rows that each start with a user's ID.
        corner = cells.shape[0] > 1 and cells[0, 0] == "" and (cells[0, 1:] != "").all()
        header = any(t and not is_number(t) for t in cells[0]) or (
            corner and bool((cells[1:, 0] != "").all())
        )
    labelled = has_row_labels(cells, header)
    if header:
        item_ids = cells[0, 1:] if labelled else cells[0]
        body, body_lines = cells[1:], line_of[1:]
    else:
        width = cells.shape[1] - (1 if labelled else 0)
        item_ids = np.array([str(j + 1) for j in range(width)])
        body, body_lines = cells, line_of
    if len(body) == 0:
        raise DataError(f"{name}: has a header but no rows of ratings",
                        hint="give one row per user under the header")  # fmt: skip
    user_ids = body[:, 0] if labelled else np.array([str(k + 1) for k in range(len(body))])
    values_text = body[:, 1:] if labelled else body
    offset = 2 if labelled else 1
    empty = values_text == ""
    numeric = pd.to_numeric(pd.Series(values_text.ravel()).where(~empty.ravel()), errors="coerce")
    matrix = numeric.to_numpy(dtype=np.float64).reshape(values_text.shape)
    bad = ~empty & ~(np.abs(matrix) <= MAX_ABS_RATING)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        cell = str(values_text[r, c])
        what = "a finite number" if not np.isfinite(matrix[r, c]) else f"within ±{MAX_ABS_RATING:g}"
        raise DataError(
            f"{name}, line {body_lines[r]}, column {c + offset}: {cell!r} is not {what}",
            hint="wide layout cells must be numbers or empty",
        )
    present = ~empty
    if opt.feedback == "implicit":
        # Unobserved means zero for interactions, so a zero cell is simply not stored.
        present &= matrix != 0
    for missing in opt.missing_values:
        present &= matrix != missing
    rows, cols = np.nonzero(present)
    users = pd.Series(user_ids[rows])
    items = pd.Series(np.asarray(item_ids, dtype=str)[cols])
    if pd.Series(user_ids).duplicated().any():
        k = int(np.argmax(pd.Series(user_ids).duplicated().to_numpy()))
        user = str(user_ids[k])
        raise DataError(f"{name}, line {body_lines[k]}, column 1: user {user!r} repeats",
                        hint="give each user one row")  # fmt: skip
    if pd.Series(item_ids).duplicated().any():
        k = int(np.argmax(pd.Series(item_ids).duplicated().to_numpy()))
        item = str(item_ids[k])
        raise DataError(f"{name}, line {line_of[0]}, column {k + offset}: item {item!r} repeats",
                        hint="give each item one column")  # fmt: skip
    return index_rows(
        users, items, matrix[rows, cols], body_lines[rows], opt.feedback, "error", name, ""
    )  # no one rating column: each item's own (named by require_non_negative)


def wide_cells(text: str, sep: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The matrix's non-blank rows as a (rows x columns) array of stripped strings, and the
    line each row starts on.

    Split row by row (csv's reader, in C), never column by column: a table parser's cost per
    column made a 100,000-column matrix take 30 s, and a million columns minutes.
    """

    if sep == " ":
        rows = [line.split() for line in text.split("\n")]
        starts = list(range(1, len(rows) + 1))
    elif '"' not in text:
        rows = [line.split(sep) for line in text.split("\n")]
        starts = list(range(1, len(rows) + 1))
    else:
        if len(sep) > 1:
            text, sep = text.replace(sep, "\x1f"), "\x1f"
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
        rows, starts, line = [], [], 0
        try:
            for row in reader:
                rows.append(row)
                starts.append(line + 1)
                line = reader.line_num
        except csv.Error as exc:
            raise DataError(
                f"{name}, line {line + 1}: {exc}", hint="check the quotes on that line"
            ) from None
    keep = [k for k, row in enumerate(rows) if any(cell.strip() for cell in row)]
    if not keep:
        raise DataError(f"{name}: holds no cells", hint=WIDE_HINT)
    width = len(rows[keep[0]])
    for k in keep:
        if len(rows[k]) > width:
            raise DataError(
                f"{name}, line {starts[k]}: expected {width} fields, found {len(rows[k])} "
                "(ragged row)",
                hint="every row needs the same number of fields; check for a stray delimiter",
            )
        if len(rows[k]) < width:  # trailing cells left out: empty
            rows[k] = rows[k] + [""] * (width - len(rows[k]))
    cells = np.array([rows[k] for k in keep], dtype=str).reshape(len(keep), width)
    strip = getattr(np, "strings", np.char).strip
    return strip(cells), np.asarray([starts[k] for k in keep], dtype=np.int64)


def has_row_labels(cells: np.ndarray, header: bool) -> bool:
    first = cells[0, 0].lower() if header else ""
    if header and (first == "" or first in USER_NAMES):
        return True
    column = cells[1:, 0] if header else cells[:, 0]
    return any(t and not is_number(t) for t in column)
