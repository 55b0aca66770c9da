"""`recommend`'s lists written as CSV from their arrays (recfactor.lists.Lists) by Arrow's
writer: the same text as the records' way, without a Python object per entry (every user of
25M ratings, 1.6M entries, took 650 MB of dicts and 2 s to write that way)."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

# Lists of fewer entries go the records' way: loading Arrow's writer took longer than they
# (0.05 s of a `recommend --user` process).
ARRAYS_FROM = 10_000


def write_lists(found: list[Any], columns: list[str], key: str, names: dict | None, kind: str,
                stability: bool) -> None:  # fmt: skip
    """The records (or lists, recfactor.lists.Lists) in format ``kind``, with the ``title`` of
    each record's ``key`` item given ``names``, and their ``stability`` where asked; lists as
    CSV from their arrays where they can be."""
    from recfactor.lists import Lists
    from recfactor.report import write_records

    if found and isinstance(found[0], Lists):
        entries = sum(int((part.top >= 0).sum()) for part in found)
        if kind == "csv" and entries >= ARRAYS_FROM and write_lists_csv(found, names, stability):
            return
        found = [row for part in found for row in part.records()]
    if stability:
        columns = [*columns, "stability"]
    if names is not None:
        for record in found:
            record["title"] = names.get(record[key], "")
        columns = [*columns, "title"]
    write_records(found, columns, kind)


def write_lists_csv(lists: list[Any], names: dict | None, stability: bool) -> bool:
    """Write ``lists`` (a header, then each part's entries) to stdout as CSV; False, writing
    nothing, where a value would need quotes (the records' way quotes it)."""
    import pyarrow as pa

    from recfactor.io import csvout

    tables = [_columns(part, names, stability) for part in lists]
    if not all(csvout.plain_columns(columns) for columns in tables):
        return False
    import pyarrow.csv as pacsv

    sys.stdout.flush()
    out = sys.stdout.buffer
    out.write((",".join(tables[0]) + "\n").encode())
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    for columns in tables:
        if len(next(iter(columns.values()))):
            pacsv.write_csv(pa.table(columns), out, options)
    out.flush()
    return True


def _columns(part: Any, names: dict | None, stability: bool) -> dict[str, Any]:
    """The CSV columns of one part: key, rank, listed item, score (then stability, title)."""
    import pyarrow as pa

    from recfactor.io import csvout

    listed = part.top >= 0
    rows, slots = np.nonzero(listed)
    items = part.top[listed]
    columns = {
        part.key: csvout.coded(rows.astype(np.int32), np.asarray(part.keys, dtype=object)),
        "rank": csvout.numeric(slots + 1, pa.int64()),
        part.other: csvout.coded(items.astype(np.int32), part.ids),
        "score": csvout.format_g6(part.scores[listed]),
    }
    if stability:
        columns["stability"] = (
            csvout.format_g6(part.held[listed])
            if part.held is not None
            else csvout.coded(np.zeros(len(items), dtype=np.int32), np.array([""], dtype=object))
        )
    if names is not None:
        titles = np.array([names.get(str(i), "") for i in part.ids.tolist()], dtype=object)
        columns["title"] = csvout.coded(items.astype(np.int32), titles)
    return columns
