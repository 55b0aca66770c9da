"""A ratings file on disk read a slice of whole lines at a time, each slice scanned as plain
numbers (``recfactor.io.plain``) or, from the first slice that is not, parsed by Arrow, and
its IDs coded into vocabularies that grow from slice to slice.

Read whole, a file's bytes sat beside the columns parsed from them: 358 MB of text beside
Arrow's columns for 24 million ratings, the largest allocation of a `train`. A slice at a
time, the bytes held are one slice's, and each slice's columns become compact numpy pieces
before the next is read. What a slice's parse declines (a NUL byte, text that is not UTF-8,
a quote spanning lines, a bad row) sends the whole file to the reader of whole texts, which
reads it or says where the problem is; so does anything but a plain regular file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recfactor.io.columnar import (
    ARROW_FILE_MAGIC,
    ARROW_STREAM_MAGIC,
    FEATHER_V1_MAGIC,
    PARQUET_MAGIC,
    Codes,
    Vocabulary,
    has_empty,
    numbers,
    parse_csv,
    release_memory,
)
from recfactor.io.plain import DigitIds, scan_rows
from recfactor.io.text import (
    COMMENT_LINE,
    COMPRESSED_MAGIC,
    WIDE_BOMS,
    arrow_body,
    head_size,
    nonblank_lines,
    text_and_sample,
)

# Bytes read at a time: Arrow parses each slice on all cores in blocks of 8 MB.
SLICE_BYTES = 32 << 20
# Smaller files are read whole: one parse on all cores is a fifth faster than slices (9M
# ratings, 134 MB: 2.0 s against 2.5 s), and at that size the bytes are not the peak.
STREAM_FROM = 256 << 20
# The head sniffed for the layout is read alone, at least this much of it.
HEAD_BYTES = 1 << 20
# Table files (Parquet, Arrow) and compressed files begin with one of these; read whole.
_TABLE_MAGIC = (PARQUET_MAGIC, ARROW_FILE_MAGIC, ARROW_STREAM_MAGIC, FEATHER_V1_MAGIC)


def opened(source: str | os.PathLike) -> Path | None:
    """``source`` where it is a regular file of plain text large enough to read in slices."""
    if str(source) == "-":
        return None
    path = Path(source)
    try:
        if not path.is_file() or path.stat().st_size < STREAM_FROM:
            return None
        with path.open("rb") as handle:
            magic = handle.read(8)
    except OSError:
        return None  # the whole-file reader says why
    wide = tuple(bom for bom, _ in WIDE_BOMS)
    if not magic or magic.startswith(COMPRESSED_MAGIC + _TABLE_MAGIC + wide):
        return None  # read whole: decompressed, parsed as a table, or made UTF-8
    head = magic.removeprefix(b"\xef\xbb\xbf")
    if COMMENT_LINE.match(head) or head.lstrip().startswith((b"%%", b"sep=", b"{")):
        return None  # read whole: comment lines (MatrixMarket's, Excel's sep=) made blank, or
        # JSON lines parsed as a table
    return path


def whole_lines(path: Path, size: int) -> Iterator[bytes]:
    """The file's bytes in slices of about ``size`` that end at a line's end (the last one
    where the file does), without the UTF-8 byte-order mark, ``\r\n`` and ``\r`` as ``\n``.
    A slice's unfinished last line is read again as the next one's first (no carrying)."""
    with path.open("rb") as handle:
        if handle.read(3) != b"\xef\xbb\xbf":
            handle.seek(0)
        while True:
            at = handle.tell()
            block = handle.read(size)
            if len(block) < size:  # the rest of the file
                if block:
                    yield _newlines(block)
                return
            # The \n of a \r\n pair may open the next block: end before that line.
            cut = block.rfind(b"\n", 0, size - 1 if block.endswith(b"\r") else size) + 1
            if cut == 0:
                size *= 2  # no line ends yet (a line longer than a slice): read more
                handle.seek(at)
                continue
            handle.seek(at + cut)
            yield _newlines(block if cut == size else block[:cut])


def _newlines(data: bytes) -> bytes:
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return data


def head(path: Path, name: str, hint: str) -> list[str] | None:
    """The sample of the file's head that the whole-file reader sniffs (None where it would
    not lie inside the first slice)."""
    size = max(SLICE_BYTES, HEAD_BYTES)
    first = next(whole_lines(path, size), b"")
    if len(first) >= size and head_size(first) >= len(first):
        return None  # lines of megabytes (a matrix, most likely): read whole
    return text_and_sample(first, name, hint)[1]


@dataclass
class Pieces:
    """Each slice's codes, values and line numbers, joined at the end one column at a time."""

    users: list = field(default_factory=list)
    items: list = field(default_factory=list)
    values: list = field(default_factory=list)
    lines: list = field(default_factory=list)  # per slice: an array, or (first, count)
    numbered: bool = False  # whether some slice had blank lines among its rows
    exact: bool = True  # whether every value so far is a float32 (the pieces are, then)


@contextmanager
def _system_pool() -> Iterator[None]:
    """Arrow's allocations from the C library's allocator while the slices are read: Arrow's
    own (mimalloc) kept 29-44 MB after 24 million ratings that its release gave not back, the
    memory the fit then needs (the system's allocator reads them about 1 s slower, of 7:
    files read whole keep Arrow's)."""
    import pyarrow as pa

    before = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(before)


@_system_pool()
def read_columns(
    path: Path,
    sep: str,
    header: bool,
    columns: tuple[int, int, int | None],
    width: int,
) -> tuple[Codes, Codes, np.ndarray, np.ndarray | None, int] | None:
    """(users, items, values, line numbers or None, first line) of every row, or None where
    Arrow declines a slice. Slices of plain numbers are scanned by ``recfactor.io.plain``
    until one is not, and parsed by Arrow from there on."""
    plain: tuple[DigitIds, DigitIds] | None = (DigitIds(), DigitIds())
    vocabularies = Vocabulary(), Vocabulary()
    pieces = Pieces()
    first_line = line = None
    for raw in whole_lines(path, SLICE_BYTES):
        if b"\x00" in raw:
            return None
        if first_line is None:
            found = arrow_body(raw, sep, header)
            if found is None:
                return None
            raw, arrow_sep, skip, start = found
            first_line = line = skip + 1
        elif len(sep) > 1:
            raw, start = raw.replace(sep.encode(), b"\x1f"), 0  # as arrow_body writes it
        else:
            start = 0
        body = memoryview(raw)[start:]
        scanned = None if plain is None else scan_rows(body, arrow_sep, width, columns, plain)
        if scanned is None and plain is not None:  # Arrow's from here on, knowing the IDs
            vocabularies = Vocabulary(plain[0].ids()), Vocabulary(plain[1].ids())
            plain = None
        parsed = None
        if scanned is None:
            parsed = _arrow_slice(body, arrow_sep, columns, width, vocabularies)
            if parsed is None:
                return None
        users, items, values, numbered = parsed or (*scanned, False)
        rows = len(users)
        if numbered:
            n_lines = raw.count(b"\n", start) + (0 if raw.endswith(b"\n") else 1)
            pieces.lines.append(nonblank_lines(body, line)[:rows])
            pieces.numbered = True
        else:
            n_lines = rows
            pieces.lines.append((line, rows))
        pieces.users.append(users)
        pieces.items.append(items)
        narrow = values.astype(np.float32)  # what the dataset keeps where it is exact
        pieces.exact &= bool(np.array_equal(narrow, values))
        pieces.values.append(narrow if pieces.exact else np.array(values))  # Arrow's go now
        line += n_lines
        del parsed, scanned, body, raw
        release_memory()  # a slice's parse, kept by Arrow's pool and the heap: let it go
    if first_line is None:
        return None
    lines = _joined(pieces.lines, np.int64) if pieces.numbered else None
    user_ids, item_ids = plain or vocabularies
    found = (
        Codes(_joined(pieces.users, np.int32), user_ids.ids()),
        Codes(_joined(pieces.items, np.int32), item_ids.ids()),
        _joined(pieces.values, np.float32 if pieces.exact else np.float64),
        lines,
        first_line,
    )
    release_memory()  # and the pieces, freed, back from the heap
    return found


def _arrow_slice(
    body: memoryview,
    sep: str,
    columns: tuple[int, int, int | None],
    width: int,
    vocabularies: tuple[Vocabulary, Vocabulary],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool] | None:
    """A slice parsed by Arrow: (user codes, item codes, values, whether it had empty lines
    among its rows), or None where Arrow declines it."""
    user, item, rating = columns
    wanted = [c for c in columns if c is not None]
    # Parsed first as if no line were empty (an empty one is then a row of an empty user):
    # without one, the slice's lines are its rows, and need no pass to count them.
    parsed = parse_csv(body, sep, wanted, width, rating, empty_lines=False)
    numbered = parsed is None or has_empty(parsed[user])
    if numbered:
        parsed = parse_csv(body, sep, wanted, width, rating)
    if parsed is None:
        return None
    users = vocabularies[0].codes(parsed.pop(user))
    items = vocabularies[1].codes(parsed.pop(item))
    if users is None or items is None:
        return None
    values = np.ones(len(users)) if rating is None else numbers(parsed.pop(rating))
    if values is None or not np.isfinite(values).all():
        return None
    return users, items, values, numbered


def _joined(pieces: list, dtype: type) -> np.ndarray:
    """The pieces end to end, each let go once copied: never two copies of the column. A
    piece ``(first, count)`` stands for the line numbers first, first + 1, ..."""
    out = np.empty(sum(p[1] if isinstance(p, tuple) else len(p) for p in pieces), dtype=dtype)
    at = 0
    while pieces:
        piece = pieces.pop(0)
        if isinstance(piece, tuple):
            first, count = piece
            out[at : at + count] = np.arange(first, first + count)
            at += count
        else:
            out[at : at + len(piece)] = piece
            at += len(piece)
    return out
