"""Inputs of predict, recommend and similar: files of (user, item) pairs with their other
columns, lists of IDs, and item titles (a CSV of ID and title, or MovieLens' ``u.item``)."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from recfactor.dataset import (
    id_array,
)
from recfactor.errors import DataError
from recfactor.io.columnar import (
    Codes,
    column_names,
    encode,
    id_column,
    parse_csv,
    read_table,
    table_kind,
)
from recfactor.io.columns import (
    ITEM_NAMES,
    USER_NAMES,
    Columns,
    choose_columns,
)
from recfactor.io.diagnose import diagnose
from recfactor.io.frames import fast_ok, header_skip, pandas_sep, parse_frame
from recfactor.io.id_columns import checked_ids
from recfactor.io.options import ReadOptions
from recfactor.io.text import (
    arrow_body,
    decode,
    head_lines,
    line_ends,
    named_delimiter,
    read_bytes,
    records,
    refuse_binary,
    sniff_sep,
    split_fields,
    text_and_sample,
)

if TYPE_CHECKING:
    pass


def read_pairs(
    source: str | os.PathLike, options: ReadOptions | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(user IDs, item IDs) in file order, duplicates kept; extra columns are ignored."""
    users, items = read_pair_codes(source, options)
    return users.ids[users.codes], items.ids[items.codes]


def read_pair_codes(
    source: str | os.PathLike, options: ReadOptions | None = None
) -> tuple[Codes, Codes]:
    """:func:`read_pairs` as codes into each column's distinct IDs: a million pairs hold a
    few thousand distinct IDs, looked up in a model once each."""
    users, items, _ = _read_pair_file(source, options or ReadOptions(), keep_others=False)
    return users, items


def read_pair_table(
    source: str | os.PathLike, options: ReadOptions | None = None
) -> tuple[Codes, Codes, dict[str, pa.ChunkedArray]]:
    """:func:`read_pair_codes` and the file's other columns, by name, in file order (text as
    written; Parquet's own types): what batch predict writes back beside its predictions. A
    headerless file's first other column is named ``rating``, as the ratings reader reads it."""
    return _read_pair_file(source, options or ReadOptions(), keep_others=True)


def _read_pair_file(
    source: str | os.PathLike, options: ReadOptions, keep_others: bool
) -> tuple[Codes, Codes, dict[str, pa.ChunkedArray]]:
    name = "<stdin>" if str(source) == "-" else str(source)
    raw = read_bytes(source, name, "pairs file")
    kind = table_kind(raw)
    if kind is not None:
        return read_table_pairs(raw, kind, name, options, keep_others)
    raw, sample = text_and_sample(raw, name, "give user,item pairs, one a line")
    sep = options.sep and named_delimiter(options.sep)
    sep = sep or sniff_sep(sample, name, "long", expected="user and item columns")
    rows = [split_fields(line, sep) for line in sample[:2]]
    header = options.header
    if header is None:
        header = any(t.strip().lower() in USER_NAMES | ITEM_NAMES for t in rows[0])
    width = len(rows[0])
    names = [t.strip() for t in rows[0]] if header else [f"column {c + 1}" for c in range(width)]
    pair_options = ReadOptions(
        user_col=options.user_col, item_col=options.item_col, feedback="implicit"
    )
    cols = choose_columns(names, header, pair_options, name)
    cols = Columns(cols.user, cols.item, None, names)
    others = [c for c in range(width) if c not in (cols.user, cols.item)] if keep_others else []
    fast = read_pairs_arrow(raw, sep, header, cols, width, others)
    if fast is not None:
        users, items, columns = fast
        return users, items, other_names(columns, names, header)
    import pandas as pd

    parse_text, parse_sep = pandas_sep(decode(raw, name), sep)
    try:
        frame = parse_frame(
            parse_text,
            parse_sep,
            skiprows=header_skip(parse_text) if header else 0,
            dtype=str,
        )
        ok = fast_ok(frame, cols, width)
    except (ValueError, pd.errors.ParserError, IndexError):
        ok = False
    if not ok:
        diagnose(parse_text, parse_sep, name, header, cols, "implicit", unit="user,item pair")
        raise DataError(f"{name}: could not be parsed", hint="check the delimiter with `sep`")
    codes = []
    for c in (cols.user, cols.item):
        found, ids = pd.factorize(frame[c].str.strip(), sort=False)
        codes.append(Codes(found.astype(np.int32), id_array([str(x) for x in ids])))
    columns = {c: pa.chunked_array([pa.array(frame[c].fillna(""), pa.string())]) for c in others}
    return codes[0], codes[1], other_names(columns, names, header)


def other_names(
    columns: dict[int, pa.ChunkedArray], names: list[str], header: bool
) -> dict[str, pa.ChunkedArray]:
    """The other columns of a pairs file by name: the header's, else ``rating`` for the
    first and ``column N`` for the rest."""
    out = {}
    for k, (c, values) in enumerate(sorted(columns.items())):
        name = names[c] if header else ("rating" if k == 0 else f"column{c + 1}")
        if name in out:  # a header naming two columns alike: the second is numbered
            name = f"{name}_{c + 1}"
        out[name] = values
    return out


def read_pairs_arrow(
    raw: bytes, sep: str, header: bool, cols: Columns, width: int, others: list[int]
) -> tuple[Codes, Codes, dict[int, pa.ChunkedArray]] | None:
    found = arrow_body(raw, sep, header)
    if found is None:
        return None
    raw, sep, _, start = found
    chosen = [cols.user, cols.item]
    parsed = parse_csv(memoryview(raw)[start:], sep, chosen + others, width, None, text=others)
    if parsed is None:
        return None
    users, items = encode(parsed[cols.user]), encode(parsed[cols.item])
    if users is None or items is None:
        return None
    return users, items, {c: parsed[c] for c in others}


def read_table_pairs(
    raw: bytes, kind: str, name: str, opt: ReadOptions, keep_others: bool
) -> tuple[Codes, Codes, dict[str, pa.ChunkedArray]]:
    table = read_table(raw, kind, name)
    names = column_names(table, name)
    pair_options = ReadOptions(user_col=opt.user_col, item_col=opt.item_col, feedback="implicit")
    cols = choose_columns(names, True, pair_options, name)
    out = []
    for c, role in ((cols.user, "user"), (cols.item, "item")):
        column = id_column(table.column(c), name, names[c])
        out.append(checked_ids(column, name, names[c], role, "a user and an item"))
    others = {
        names[c]: table.column(c)
        for c in range(len(names))
        if keep_others and c not in (cols.user, cols.item)
    }
    return out[0], out[1], others


def read_id_list(source: str | os.PathLike, what: str) -> list[str]:
    """IDs one a line (the first field of a CSV/TSV line); a header naming the kind is skipped."""
    name = "<stdin>" if str(source) == "-" else str(source)
    raw = read_bytes(source, name, f"file of {what} IDs")
    kind = table_kind(raw)
    if kind is not None:
        return table_ids(read_table(raw, kind, name), what, name)
    refuse_binary(raw, name)
    text = decode(line_ends(raw), name)
    ids = []
    for line in text.splitlines():
        field_ = re.split(r"[,\t]", line, maxsplit=1)[0].strip()
        if field_:
            ids.append(field_)
    known = USER_NAMES if what == "user" else ITEM_NAMES
    if ids and ids[0].lower() in known:
        ids = ids[1:]
    if not ids:
        raise DataError(f"{name}: holds no {what} IDs", hint=f"give {what} IDs, one a line")
    return ids


def table_ids(table: pa.Table, what: str, name: str) -> list[str]:
    """The IDs of a Parquet/Arrow table: the column named for ``what``, else the first."""
    known = USER_NAMES if what == "user" else ITEM_NAMES
    given = column_names(table, name)
    names = [n.lower() for n in given]
    column = next((k for k, n in enumerate(names) if n in known), 0)
    if not names:
        raise DataError(f"{name}: holds no columns", hint=f"give {what} IDs, one a row")
    ids_column = id_column(table.column(column), name, given[column])
    values = ids_column.cast(pa.string()).drop_null().to_pylist()
    ids = [v.strip() for v in values if v.strip()]
    if not ids:
        raise DataError(f"{name}: holds no {what} IDs", hint=f"give {what} IDs, one a row")
    return ids


def read_item_names(source: str | os.PathLike) -> dict[str, str]:
    """Item ID -> name from a file whose first column is the ID and second the name (a CSV
    such as ``sample_data/items.csv``, MovieLens' ``|``-separated ``u.item``, or Parquet
    with item and title columns)."""
    import pandas as pd

    name = str(source)
    raw = read_bytes(source, name, "titles file")
    kind = table_kind(raw)
    if kind is not None:
        return table_names(read_table(raw, kind, name), name)
    refuse_binary(raw, name)
    text = decode(line_ends(raw), name)
    sample = [ln for ln in head_lines(text) if ln.strip()]
    if not sample:
        raise DataError(f"{name}: the file is empty", hint="give item ID and name columns")
    sep = sniff_sep(sample, name, "long")
    first = [t.strip().lower() for t in split_fields(sample[0], sep)]
    header = first[0] in ITEM_NAMES or (len(first) > 1 and first[1] in {"name", "title"})
    parse_text, parse_sep = pandas_sep(text, sep)
    try:
        frame = parse_frame(
            parse_text,
            parse_sep,
            skiprows=header_skip(parse_text) if header else 0,
            usecols=[0, 1],
            dtype=str,
        )
    except (ValueError, pd.errors.ParserError) as exc:
        if "EOF inside string" in str(exc):  # a quote left open: the rest is its field
            *_, (line, _) = records(text, sep)  # the last record: the quote's
            raise DataError(f"{name}, line {line}: a quote opened here is never closed",
                            hint="close each quoted field with a quote") from None  # fmt: skip
        raise DataError(
            f"{name}: cannot read item names ({exc})",
            hint="give a CSV of item ID and title, or MovieLens' u.item",
        ) from exc
    return dict(zip(frame[0].str.strip(), frame[1].str.strip()))


def table_names(table: pa.Table, name: str) -> dict[str, str]:
    """Item ID -> name from a table: the item column (else the first) and the name or title
    column (else the next)."""
    given = column_names(table, name)
    names = [n.lower() for n in given]
    if len(names) < 2:
        raise DataError(f"{name}: needs an item ID and a name column", hint="give two columns")
    item = next((k for k, n in enumerate(names) if n in ITEM_NAMES - {"title"}), 0)
    title = next((k for k, n in enumerate(names) if n in {"name", "title"} and k != item),
                 1 if item == 0 else 0)  # fmt: skip
    ids = id_column(table.column(item), name, given[item]).cast(pa.string()).to_pylist()
    titles = id_column(table.column(title), name, given[title]).cast(pa.string()).to_pylist()
    return {str(i).strip(): (t or "").strip() for i, t in zip(ids, titles) if i is not None}
