"""Reading, validating and indexing ratings.

Every input path goes through one pipeline: raw bytes (file, stdin, compressed) -> text ->
sniffed layout (delimiter, header, columns) -> pandas' C parser with explicit dtypes -> a
:class:`Dataset` of contiguous integer indices and the two ID vocabularies. When the fast
parse fails or the values do not validate, the text is parsed again as plain strings, keeping
physical line numbers, only to say exactly where the problem is.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from recfactor import targets
from recfactor.dataset import (
    Dataset,
    build_dataset,
    check_values,
    default_policy,
    index_rows,
    merge_duplicates,
)
from recfactor.errors import DataError
from recfactor.io import stream
from recfactor.io.columnar import (
    Codes,
    column_names,
    encode,
    id_column,
    numbers,
    parse_csv,
    read_table,
    release_memory,
    table_kind,
)
from recfactor.io.columns import (
    ITEM_NAMES,
    RATING_NAMES,
    TIMESTAMP_NAMES,
    Columns,
    choose_columns,
)
from recfactor.io.diagnose import diagnose, physical_lines
from recfactor.io.frames import (
    fast_ok,
    header_skip,
    pandas_sep,
    parse_frame,
)
from recfactor.io.id_columns import checked_ids
from recfactor.io.options import ReadOptions, check_read_options
from recfactor.io.plain import read_plain
from recfactor.io.text import (
    Input,
    arrow_body,
    decode,
    detect_header,
    is_number,
    named_delimiter,
    nonblank_lines,
    read_bytes,
    sniff_sep,
    split_fields,
    text_and_sample,
)
from recfactor.io.wide import read_wide

if TYPE_CHECKING:
    pass

__all__ = [
    "Dataset",
    "ReadOptions",
    "read_ratings",
]  # fmt: skip


def read_ratings(source: str | os.PathLike, options: ReadOptions | None = None) -> Dataset:
    """Read ratings from a path (``-`` for stdin), plain or compressed, long or wide."""
    options = options or ReadOptions()
    check_read_options(options)
    name = "<stdin>" if str(source) == "-" else str(source)
    path = stream.opened(source) if options.layout != "wide" else None
    if path is not None:
        found = _read_long_streamed(path, name, options)
        if found is not None:
            return found
    raw = read_bytes(source, name)
    kind = table_kind(raw)
    if kind is not None:
        return _read_table(raw, kind, name, options)
    raw, sample = text_and_sample(raw, name, "give a file with one rating per line")
    sep = named_delimiter(options.sep) if options.sep else sniff_sep(sample, name, options.layout)
    if options.layout == "wide":
        return read_wide(decode(raw, name), name, sep, options)
    text = Input(raw, source, name)
    del raw  # from here on held by ``text`` alone, which may let go of it
    return _read_long(text, name, sep, sample, options)


# ---------------------------------------------------------------------------------------------
# long layout


def head_layout(sample: list[str], name: str, opt: ReadOptions) -> tuple[str, bool, list[str]]:
    """The delimiter, whether the first line is a header, and the column names (``column N``
    without a header) of a long text file, from the non-blank lines of its head: what the
    readers beside this one (the Spark engine, the time column) find as this one does."""
    sep = named_delimiter(opt.sep) if opt.sep else sniff_sep(sample, name, "long")
    rows = [split_fields(line, sep) for line in sample]
    header = opt.header if opt.header is not None else detect_header(rows[0], rows[1:])
    width = len(rows[0])
    if opt.layout == "auto" and opt.item_col is None and opt.rating_col is None:
        _refuse_matrix(rows, header, name)  # as this reader does: rows would drop columns
    names = [t.strip() for t in rows[0]] if header else [f"column {c + 1}" for c in range(width)]
    return sep, header, names


def _long_layout(
    sample: list[str], name: str, sep: str, opt: ReadOptions
) -> tuple[bool, int, Columns, str]:
    """Whether the file has a header, its width, its columns and the ratings column's name,
    from the non-blank lines of its head; a matrix is refused."""
    rows = [split_fields(line, sep) for line in sample if line.strip()]
    header = opt.header
    if header is None:
        header = detect_header(rows[0], rows[1:])
    width = len(rows[0])
    if opt.layout == "auto" and opt.item_col is None and opt.rating_col is None:
        _refuse_matrix(rows, header, name)
    names = [t.strip() for t in rows[0]] if header else [f"column {c + 1}" for c in range(width)]
    cols = choose_columns(names, header, opt, name)
    # Without a header the column is "rating" (what split writes, what errors name).
    rating_name = names[cols.rating] if header and cols.rating is not None else "rating"
    return header, width, cols, rating_name


def _read_long_streamed(path, name: str, opt: ReadOptions) -> Dataset | None:
    """A regular file read a slice at a time (recfactor.io.stream); None where the whole
    text must be read instead."""
    sample = stream.head(path, name, "give a file with one rating per line")
    if sample is None:
        return None
    targets.note_input(path)
    sep = named_delimiter(opt.sep) if opt.sep else sniff_sep(sample, name, opt.layout)
    header, width, cols, rating_name = _long_layout(sample, name, sep, opt)
    read = stream.read_columns(path, sep, header, (cols.user, cols.item, cols.rating), width)
    if read is None:
        return None
    if header and cols.rating is None:
        users, items, _, lines, first_line = read
        _refuse_repeated_header(users, items, cols, lines, first_line, name)
    return _index_codes(*read, opt, name, rating_name, rating_label=_label(cols, rating_name))


def _read_long(text: Input, name: str, sep: str, sample: list[str], opt: ReadOptions) -> Dataset:
    header, width, cols, rating_name = _long_layout(sample, name, sep, opt)
    fast = _read_long_arrow(text, name, sep, header, cols, width, opt, rating_name)
    if fast is not None:
        return fast

    import pandas as pd

    parse_text, parse_sep = pandas_sep(decode(text.raw, name), sep)
    # No usecols: a row with an extra field must fail the parse, not be silently cut short.
    dtypes = {cols.user: str, cols.item: str}
    if cols.rating is not None:
        dtypes[cols.rating] = np.float64
    try:
        frame = parse_frame(
            parse_text,
            parse_sep,
            skiprows=header_skip(parse_text) if header else 0,
            dtype=dtypes,
            na_values={cols.rating: [""]} if cols.rating is not None else None,
            skip_blank_lines=True,
        )
        ok = fast_ok(frame, cols, width)
    except (ValueError, pd.errors.ParserError, IndexError):
        ok = False
    if not ok:
        diagnose(parse_text, parse_sep, name, header, cols, opt.feedback)
        raise DataError(f"{name}: could not be parsed", hint="check the delimiter with `sep`")

    users = frame[cols.user].astype(str)
    items = frame[cols.item].astype(str)
    if cols.rating is None:
        values = np.ones(len(frame))
    else:
        values = frame[cols.rating].to_numpy(dtype=np.float64)
    lines = physical_lines(parse_text, len(frame), header)
    return index_rows(users, items, values, lines, opt.feedback, opt.duplicates, name, rating_name,
                      _label(cols, rating_name))  # fmt: skip


def _refuse_matrix(rows: list[list[str]], header: bool, name: str) -> None:
    """Raise when the head of a file is plainly a matrix (users as rows, items as columns):
    a header of item names with a number in every cell below (``user,pizza,chicken,burger``
    above ``1,1,0,2``), or pandas' ``to_csv`` of a matrix (an empty first cell above the
    users' IDs). Read as rows, its third and later columns would be dropped silently."""
    first, rest = [t.strip() for t in rows[0]], rows[1:]
    width = len(first)
    if width < 3 or not rest or any(len(row) != width for row in rest):
        return
    cells_numeric = all(
        all(is_number(t) or not t.strip() for t in row[1:]) for row in rest
    ) and all(row[0].strip() for row in rest)
    corner = first[0] == "" and all(first[1:])
    named = {t.lower() for t in first} & (ITEM_NAMES | RATING_NAMES | TIMESTAMP_NAMES)
    if not cells_numeric or named or not (corner or (header and width >= 4)):
        return
    raise DataError(
        f"{name}, line 1: looks like a matrix ({width - 1} item columns: "
        f"{', '.join(first[1:4])}{', ...' if width > 4 else ''}), not user,item,rating rows",
        hint="read it with `layout` wide; `layout` long reads the first three columns as "
        "user, item and rating",
    )


def _read_long_arrow(
    text: Input,
    name: str,
    sep: str,
    header: bool,
    cols: Columns,
    width: int,
    opt: ReadOptions,
    rating_name: str,
) -> Dataset | None:
    """The fast path: Arrow parses the rows below the header; None when it declines."""
    found = arrow_body(text.raw, sep, header)
    if found is None:
        return None
    raw, sep, skip, start = found
    first_line = skip + 1
    plain = read_plain(memoryview(raw)[start:], sep, width, (cols.user, cols.item, cols.rating))
    if plain is not None:
        del raw, found
        text.release()
        return _index_codes(*plain, None, first_line, opt, name, rating_name,
                            rating_label=_label(cols, rating_name))  # fmt: skip
    wanted = [c for c in (cols.user, cols.item, cols.rating) if c is not None]
    parsed = parse_csv(memoryview(raw)[start:], sep, wanted, width, cols.rating)
    if parsed is None:
        return None
    lines = None
    n_lines = raw.count(b"\n", start) + (0 if raw.endswith(b"\n") else 1)
    if n_lines > len(parsed[cols.user]):  # blank lines among the rows: number rows by line
        lines = nonblank_lines(memoryview(raw)[start:], first_line)
    del raw, found
    text.release()
    # Each column is let go as soon as it is converted: Arrow's copy and numpy's of 24 million
    # ratings are not held at the same time.
    users = encode(parsed.pop(cols.user))
    items = encode(parsed.pop(cols.item)) if users is not None else None
    if users is None or items is None:
        return None
    n = len(users.codes)
    if lines is not None:
        lines = lines[:n]
    if cols.rating is None:
        if header:
            _refuse_repeated_header(users, items, cols, lines, first_line, name)
        values = np.ones(n)
    else:
        values = numbers(parsed.pop(cols.rating))
        if values is None or not np.isfinite(values).all():
            return None
    del parsed
    release_memory()
    return _index_codes(users, items, values, lines, first_line, opt, name, rating_name,
                        rating_label=_label(cols, rating_name))  # fmt: skip


def _refuse_repeated_header(
    users: Codes, items: Codes, cols: Columns, lines: np.ndarray | None, first_line: int, name: str
) -> None:
    """A row that repeats the header (files joined by ``cat``) would be read as one more pair
    of IDs where no rating column would refuse it."""
    user, item = str(cols.names[cols.user]), str(cols.names[cols.item])
    user_code = np.flatnonzero(users.ids == user)
    item_code = np.flatnonzero(items.ids == item)
    if len(user_code) == 0 or len(item_code) == 0:
        return
    rows = np.flatnonzero((users.codes == user_code[0]) & (items.codes == item_code[0]))
    if len(rows) == 0:
        return
    line = int(lines[rows[0]]) if lines is not None else first_line + int(rows[0])
    raise DataError(
        f"{name}, line {line}: repeats the header line ({user!r}, {item!r})",
        hint="files joined together? keep only the first header line: "
        "awk 'NR == 1 { h = $0 } NR == 1 || $0 != h' FILE > FIXED",
    )


def _read_table(raw: bytes, kind: str, name: str, opt: ReadOptions) -> Dataset:
    """A Parquet, Arrow/Feather or JSON lines file: columns by name, as in a CSV file's
    header."""
    if opt.layout == "wide":
        raise DataError(
            f"{name}: `layout` wide reads text matrices; this is a {kind} file",
            hint="store the ratings in long form (user, item, rating columns)",
        )
    table = read_table(raw, kind, name, text_as_dictionary=True)
    names = column_names(table, name)
    cols = choose_columns(names, True, opt, name)
    users_col = id_column(table.column(cols.user), name, names[cols.user])
    items_col = id_column(table.column(cols.item), name, names[cols.item])
    users = checked_ids(users_col, name, names[cols.user], "user", "a user, an item and a rating")
    items = checked_ids(items_col, name, names[cols.item], "item", "a user, an item and a rating")
    if cols.rating is None:
        values = np.ones(table.num_rows)
        rating_name = "rating"
    else:
        rating_name = names[cols.rating]
        values = numbers(table.column(cols.rating))
        if values is None:
            column = table.column(cols.rating)
            if column.null_count:
                row = int(np.argmax(_null_rows(column)))
                raise DataError(
                    f"{name}, row {row + 1}, column {rating_name}: missing rating",
                    hint="every row needs a rating",
                )
            raise DataError(
                f"{name}: column {rating_name} holds {_value_type(column.type)}, not numbers",
                hint="use `rating_col` to pick the ratings column",
            )
    del table, users_col, items_col
    release_memory()
    return _index_codes(users, items, values, None, 1, opt, name, rating_name, unit="row",
                        rating_label=_label(cols, rating_name))  # fmt: skip


def _label(cols, rating_name: str) -> str | None:
    """How errors name a file's ratings column: its place and name, as the parser's do."""
    return None if cols.rating is None else f"{cols.rating + 1} ({rating_name})"


def _value_type(t):
    """A column's type as written: a dictionary's (text read as one) by its values'."""
    return getattr(t, "value_type", t)


def _null_rows(column) -> np.ndarray:
    import pyarrow.compute as pc

    return pc.is_null(column).to_numpy(zero_copy_only=False)


def _index_codes(
    users: Codes,
    items: Codes,
    values: np.ndarray,
    lines: np.ndarray | None,
    first_line: int,
    opt: ReadOptions,
    source: str,
    rating_column: str,
    unit: str = "line",
    rating_label: str | None = None,
) -> Dataset:
    """The Arrow path's end: codes and vocabularies become a dataset. Rows are numbered
    ``first_line`` onwards unless ``lines`` gives each its line."""
    if len(values) == 0:
        raise DataError(f"{source}: holds no ratings", hint="give a file with one rating per line")
    check_values(values, lines, first_line, unit, source, rating_label or rating_column)
    policy = opt.duplicates or default_policy(opt.feedback)
    u, i, values, lines, seen = merge_duplicates(
        users.codes, items.codes, values, lines, first_line, len(users.ids), len(items.ids),
        policy, source, unit,
    )  # fmt: skip
    return build_dataset(
        users.ids, items.ids, u, i, values, lines, opt.feedback, source, rating_column,
        first_line=first_line, unit=unit, seen=seen, rating_label=rating_label,
    )  # fmt: skip
