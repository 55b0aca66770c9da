"""The fastest path for the commonest file: IDs written as plain integers and ratings as plain
decimals (``196,242,3``; ``1\\t31\\t2.5\\t1260759144``), scanned by a compiled loop on all
cores (``recfactor.kernels.plaintext``) instead of Arrow's parser and dictionary encoder.

An ID is kept as the text it is (``7``, never ``007``: a leading zero, a sign, a space or a
quote sends the text to Arrow), coded in order of first appearance as Arrow's path codes it,
so either path gives the same dataset. A rating is ``-?digits(.digits)?`` of at most 15
digits, converted exactly as Python's ``float()``. Anything else, an empty line included,
declines the text to the readers in ``columnar`` and ``ratings``, which read it or say where
it goes wrong. On 9 million ratings (114 MB) the scan and the coding take 0.15-0.20 s where
Arrow's parse and encoding took 0.45-0.7 s (BENCHMARKS.md).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from recfactor.io.columnar import Codes

# Below this many bytes of rows Arrow is left the text: the compiled loop's first use in a
# process waits for numba to load (0.3-0.4 s), which `train` does beside Arrow's parse. On
# the 1M set (10 MB) the read took 0.42-0.45 s scanned, 0.22-0.30 s by Arrow; on the 9M set
# (114 MB) 0.57 s scanned, 0.95-1.21 s by Arrow.
PLAIN_MIN_BYTES = 32 << 20
# Bytes a piece: the text's pieces are scanned side by side.
PIECE_BYTES = 4 << 20
# IDs are coded through a table indexed by their value: at most this many entries (64 MB),
# and at most TABLE_PER_ROW entries a row read, so that a few large IDs (hashes, phone
# numbers) go to Arrow's hashing encoder instead of a table mostly empty.
MAX_TABLE = 1 << 24
TABLE_PER_ROW = 8


def may_scan(source: Any) -> bool:
    """Whether reading ``source`` may use the scan: stdin, or a file of PLAIN_MIN_BYTES or
    more (a quarter of it where compressed)."""
    try:
        return str(source) == "-" or os.path.getsize(source) >= PLAIN_MIN_BYTES // 4
    except OSError:
        return False


class DigitIds:
    """The distinct IDs of one column, written as plain integers, in order of first
    appearance; grown a slice of a file at a time."""

    def __init__(self) -> None:
        self._table = np.full(0, -1, dtype=np.int32)
        self._found: list[np.ndarray] = []
        self._count = 0
        self._rows = 0

    def fits(self, values: np.ndarray) -> bool:
        """Whether the table can code ``values`` (ID values, int32), grown where needed;
        False where an ID is too large for a table."""
        top = int(values.max()) if len(values) else -1
        if top < len(self._table):
            return True
        if top >= min(MAX_TABLE, TABLE_PER_ROW * (self._rows + len(values)) + (1 << 20)):
            return False
        grown = np.full(min(max(top + 1, 2 * len(self._table)), MAX_TABLE), -1, dtype=np.int32)
        grown[: len(self._table)] = self._table
        self._table = grown
        return True

    def code(self, values: np.ndarray) -> None:
        """Replace ``values`` (ID values the table :meth:`fits`) by their codes, in place."""
        from recfactor.kernels.plaintext import first_appearance

        self._rows += len(values)
        new = first_appearance(values, self._table, self._count)
        self._found.append(new)
        self._count += len(new)

    def ids(self) -> np.ndarray:
        """The IDs as text (fixed-width unicode, as ``recfactor.dataset.id_array`` keeps
        short IDs), by code."""
        values = np.concatenate(self._found) if self._found else np.zeros(0, dtype=np.int64)
        width = len(str(int(values.max()))) if len(values) else 1
        return values.astype(f"U{width}")


def scan_rows(
    body: bytes | memoryview,
    sep: str,
    width: int,
    columns: tuple[int, int, int | None],
    vocabularies: tuple[DigitIds, DigitIds],
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(user codes, item codes, ratings as float64) of ``body``'s rows (``width`` fields each,
    separated by ``sep``; ratings 1.0 where the rating column is None), the IDs coded into
    ``vocabularies``; None where the text is not plain (see the module's docstring)."""
    from recfactor.kernels.plaintext import cut_points, line_counts, scan

    encoded = sep.encode()
    if len(encoded) != 1 or encoded in b'0123456789.-\r\n"':
        return None
    buf = np.frombuffer(body, dtype=np.uint8)
    if len(buf) == 0:
        return None
    cuts = cut_points(buf, max(1, len(buf) // PIECE_BYTES))
    counts = np.zeros(len(cuts) - 1, dtype=np.int64)
    side_by_side(line_counts, len(counts), buf, cuts, counts)
    firsts = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=firsts[1:])
    rows = int(counts.sum())
    user, item, rating = columns
    users = np.empty(rows, dtype=np.int32)
    items = np.empty(rows, dtype=np.int32)
    values = np.empty(rows) if rating is not None else np.ones(rows)
    wanted = -1 if rating is None else rating
    done = side_by_side(scan, len(counts), buf, cuts, firsts, encoded[0], width, user, item,
                        wanted, users, items, values)  # fmt: skip
    if not all(done):
        return None
    user_ids, item_ids = vocabularies
    if not (user_ids.fits(users) and item_ids.fits(items)):
        return None
    user_ids.code(users)
    item_ids.code(items)
    return users, items, values


def scan_threads() -> int:
    """The threads a scan uses: the cores this process may run on, at most numba's count."""
    import numba

    from recfactor.running.workers import available_cores

    return min(numba.config.NUMBA_NUM_THREADS, available_cores())


def side_by_side(kernel: Any, pieces: int, buf: np.ndarray, cuts: np.ndarray,
                 *rest: Any) -> list[Any]:  # fmt: skip
    """``kernel(buf, cuts, first, last, *rest)`` over ranges of the ``pieces`` on this
    machine's cores (Python threads: the kernels release the GIL); each range's result."""
    import itertools

    threads = max(1, min(pieces, scan_threads()))
    bounds = [pieces * t // threads for t in range(threads + 1)]
    calls = [(buf, cuts, lo, hi, *rest) for lo, hi in itertools.pairwise(bounds)]
    if threads == 1:
        return [kernel(*calls[0])]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda call: kernel(*call), calls))


def integer_ids(column: Any) -> Codes | None:
    """A table's ID column of integers (Parquet's, Arrow's) coded as a text file's plain IDs
    are, the same codes and IDs as Arrow's encoder gives (0.02-0.06 s for a column of 9
    million, against its 0.17); None where it is not integers, holds a null, or a negative or
    too large value."""
    import pyarrow as pa

    from recfactor.io.columnar import to_numpy

    if not pa.types.is_integer(column.type) or column.null_count or len(column) == 0:
        return None
    values = to_numpy(column)
    if int(values.min()) < 0 or int(values.max()) >= MAX_TABLE:
        return None
    ids = DigitIds()
    codes = values.astype(np.int32)  # a copy: codes are written in place
    if not ids.fits(codes):
        return None
    ids.code(codes)
    return Codes(codes, ids.ids())


def read_plain(
    body: bytes | memoryview, sep: str, width: int, columns: tuple[int, int, int | None]
) -> tuple[Codes, Codes, np.ndarray] | None:
    """:func:`scan_rows` of a whole text, with its vocabularies: None where it is not plain
    or too small to be worth the compiled loop."""
    if len(body) < PLAIN_MIN_BYTES:
        return None
    vocabularies = DigitIds(), DigitIds()
    found = scan_rows(body, sep, width, columns, vocabularies)
    if found is None:
        return None
    users, items, values = found
    return Codes(users, vocabularies[0].ids()), Codes(items, vocabularies[1].ids()), values
