"""Reading, validating and indexing ratings.

Every input path goes through one pipeline: raw bytes (file, stdin, compressed) -> text ->
sniffed layout (delimiter, header, columns) -> pandas' C parser with explicit dtypes -> a
:class:`Dataset` of contiguous integer indices and the two ID vocabularies. When the fast
parse fails or the values do not validate, the text is parsed again as plain strings, keeping
physical line numbers, only to say exactly where the problem is.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import os
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from recfactor import targets
from recfactor.columnar import (
    Codes,
    bad_id_row,
    column_names,
    encode,
    id_column,
    nul_id_row,
    numbers,
    parse_csv,
    read_table,
    release_memory,
    table_kind,
)
from recfactor.columns import (
    ITEM_NAMES,
    RATING_NAMES,
    TIMESTAMP_NAMES,
    USER_NAMES,
    Columns,
    choose_columns,
)
from recfactor.dataset import (
    MAX_ABS_RATING,
    Dataset,
    build_dataset,
    check_values,
    default_policy,
    id_array,
    index_rows,
    merge_duplicates,
)
from recfactor.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Dataset",
    "ReadOptions",
    "read_id_list",
    "read_item_names",
    "read_pair_codes",
    "read_pairs",
    "read_ratings",
]  # fmt: skip

FEEDBACKS = ("explicit", "implicit")
DUPLICATE_POLICIES = ("error", "last", "mean", "sum")
LAYOUTS = ("auto", "long", "wide")


# Tried in this order; the first that splits the sample consistently wins.
CANDIDATE_SEPARATORS = ("::", "\t", ",", ";", "|", " ")
SAMPLE_LINES = 64


@dataclass(frozen=True)
class ReadOptions:
    """How to read a ratings file; every field defaults to 'detect'."""

    sep: str | None = None
    # "auto": long, unless the file is plainly a matrix (then an error that says so: reading
    # it as rows would drop columns without a word); "long" and "wide" as given.
    layout: str = "auto"
    header: bool | None = None
    user_col: str | None = None
    item_col: str | None = None
    rating_col: str | None = None
    feedback: str = "explicit"
    duplicates: str | None = None
    missing_values: tuple[float, ...] = ()


def read_ratings(source: str | os.PathLike, options: ReadOptions | None = None) -> Dataset:
    """Read ratings from a path (``-`` for stdin), plain or compressed, long or wide."""
    options = options or ReadOptions()
    check_read_options(options)
    name = "<stdin>" if str(source) == "-" else str(source)
    raw = _read_bytes(source, name)
    kind = table_kind(raw)
    if kind is not None:
        return _read_table(raw, kind, name, options)
    raw, sample = _text_and_sample(raw, name, "give a file with one rating per line")
    sep = _parse_sep(options.sep) if options.sep else _sniff_sep(sample, name, options.layout)
    if options.layout == "wide":
        return _read_wide(_decode(raw, name), name, sep, options)
    text = _Input(raw, source, name)
    del raw  # from here on held by ``text`` alone, which may let go of it
    return _read_long(text, name, sep, sample, options)


class _Input:
    """A text input's bytes, which the Arrow path lets go of once they are parsed: beside the
    parsed columns they were the largest allocation of a read (358 MB of 24M ratings). Should
    they be needed again (Arrow declined a column), a regular file is read a second time;
    stdin and pipes keep theirs."""

    def __init__(self, raw: bytes, source: str | os.PathLike, name: str) -> None:
        self._raw: bytes | None = raw
        self._source = source
        self._name = name

    @property
    def raw(self) -> bytes:
        if self._raw is None:
            self._raw = _line_ends(_read_bytes(self._source, self._name))
        return self._raw

    def release(self) -> None:
        if str(self._source) != "-" and os.path.isfile(self._source):
            self._raw = None


# ---------------------------------------------------------------------------------------------
# bytes and text


def _read_text(source: str | os.PathLike, name: str) -> str:
    raw = _read_bytes(source, name)
    _refuse_binary(raw, name)
    return _decode(_line_ends(raw), name)


def _read_bytes(source: str | os.PathLike, name: str) -> bytes:
    """The file's bytes, decompressed, without a byte-order mark."""
    if str(source) == "-":
        raw = _stdin_bytes()
        targets.note_input("-")
    else:
        path = Path(source)
        if not path.exists():
            raise DataError(f"{name}: no such file", hint="check the path, or use - for stdin")
        if path.is_dir():
            raise DataError(f"{name}: is a directory, not a ratings file")
        if path.is_char_device() or path.is_block_device():
            # /dev/zero or a disk would be read for ever; a terminal has its own name, -.
            raise DataError(f"{name}: is a device, not a data file",
                            hint="give a file, or - for stdin")  # fmt: skip
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise DataError(f"{name}: cannot read ({exc.strerror})") from exc
        targets.note_input(path)
    raw = _decompress(raw, name)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    return raw


def _stdin_bytes() -> bytes:
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # started with stdin closed (<&-), or without one (a service)
        raise DataError(
            "<stdin>: standard input is closed", hint="pipe the data in, or give a file"
        )
    try:
        return stream.read()
    except (OSError, ValueError) as exc:
        raise DataError(f"<stdin>: cannot read standard input ({exc})") from None


def _line_ends(raw: bytes) -> bytes:
    """Text with Windows and old Mac line ends made ``\n``: everything below splits on it."""
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return raw


def _text_and_sample(raw: bytes, name: str, hint: str) -> tuple[bytes, list[str]]:
    """Text bytes with ``\n`` line ends, and the non-blank lines of its head for sniffing."""
    _refuse_binary(raw, name)
    raw = _line_ends(raw)
    head = raw[: _head_size(raw)]
    if len(head) < len(raw) and b"\n" in head:
        head = head[: head.rfind(b"\n") + 1]  # whole lines only
    sample = [ln for ln in _head_lines(_decode(head, name, head=True)) if ln.strip()]
    if not sample:
        raise DataError(f"{name}: the file is empty", hint=hint)
    return raw, sample


def _refuse_binary(raw: bytes, name: str) -> None:
    if b"\x00" in raw[:4096]:
        raise DataError(
            f"{name}: looks like a binary file, not text ratings",
            hint="give a CSV/TSV file (plain, .gz, .bz2, .xz or .zip), Parquet or Arrow/Feather",
        )
    # Further in, a NUL would end up at the end of an ID, where numpy's strings drop it: "u1\0"
    # would become a second user named "u1".
    at = raw.find(b"\x00")
    if at >= 0:
        line = raw.count(b"\n", 0, at) + 1
        raise DataError(
            f"{name}, line {line}: holds a NUL byte",
            hint="ratings files are text: is this one damaged, or UTF-16? save it as UTF-8",
        )


# A character of two to four bytes in UTF-8: a file holding one is UTF-8 text.
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def _decode(raw: bytes, name: str = "<data>", head: bool = False) -> str:
    """UTF-8 text; a file with no UTF-8 character beyond ASCII and some byte UTF-8 cannot
    read is Windows-1252 or Latin-1 (older data sets, MovieLens 100K among them): the two
    differ only in bytes 0x80-0x9F, printable in Windows-1252 (curly quotes, the euro sign,
    dashes) and control characters in Latin-1, which no text holds, so Windows-1252 is read
    where it can be.

    A file that mixes the two is an error naming the first line that is not UTF-8: decoding
    it all as Latin-1 would turn every UTF-8 name into mojibake without a word. ``head``: the
    bytes are the start of a file, possibly cut inside a character.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if head and exc.start >= len(raw) - 3 and exc.reason == "unexpected end of data":
            return raw[: exc.start].decode("utf-8")
        if _UTF8_MULTIBYTE.search(raw) is None:
            try:
                return raw.decode("cp1252")
            except UnicodeDecodeError:  # one of the five bytes Windows-1252 leaves undefined
                return raw.decode("latin-1")
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(
            f"{name}, line {line}, byte {column}: 0x{raw[exc.start]:02x} is not UTF-8, "
            "though the file's other text is",
            hint="save the file as UTF-8 (iconv -f latin1 -t utf-8 converts Latin-1 lines)",
        ) from None


def _decompress(raw: bytes, name: str) -> bytes:
    try:
        if raw[:2] == b"\x1f\x8b":
            return gzip.decompress(raw)
        if raw[:3] == b"BZh":
            return bz2.decompress(raw)
        if raw[:6] == b"\xfd7zXZ\x00":
            return lzma.decompress(raw)
        if raw[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()]
                if len(members) != 1:
                    raise DataError(
                        f"{name}: zip archive holds {len(members)} files, expected one",
                        hint="extract the ratings file and give its path",
                    )
                return archive.read(members[0])
    except DataError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # zlib, bz2, lzma and zipfile raise many kinds
        if isinstance(exc, (NotImplementedError, RuntimeError)):  # a method or encryption
            raise DataError(
                f"{name}: the zip archive cannot be read ({exc})",
                hint="extract the ratings file (or re-zip it without a password) and give its path",
            ) from None
        raise DataError(f"{name}: compressed data is corrupt or truncated ({exc})") from None
    return raw


HEAD_BYTES = 1 << 16
HEAD_MIN_LINES = 3


def _head_size(raw: bytes | str) -> int:
    """How much of the file's head to sniff: 64 KB, or more where lines are longer (a matrix
    of 100,000 columns), so that the sample holds the first few whole lines."""
    newline = b"\n" if isinstance(raw, bytes) else "\n"
    end = HEAD_BYTES
    while raw.count(newline, 0, end) < HEAD_MIN_LINES and end < len(raw):
        end *= 4
    return end


def _head_lines(text: str) -> list[str]:
    return text[: _head_size(text)].splitlines()[:SAMPLE_LINES]


# ---------------------------------------------------------------------------------------------
# sniffing


def _parse_sep(sep: str) -> str:
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "space": " ", "whitespace": " "}
    return named.get(sep.lower(), sep)


# A matrix's header line is one field to the sniffer's other candidate delimiters: csv's
# default limit (128 KB a field) refused a header of 100,000 item names.
csv.field_size_limit(2**31 - 1)


def _split(line: str, sep: str) -> list[str]:
    if sep == " ":
        return line.split()
    if len(sep) == 1:
        return next(csv.reader([line], delimiter=sep, skipinitialspace=True), [])
    return line.split(sep)


def _sniff_sep(
    sample: list[str], name: str, layout: str, expected: str = "user, item and rating columns"
) -> str:
    best: tuple[int, str] | None = None
    for sep in CANDIDATE_SEPARATORS:
        counts = [len(_split(line, sep)) for line in sample]
        if counts[0] < 2:
            continue
        consistent = sum(c == counts[0] for c in counts)
        if consistent == len(counts):
            return sep
        if best is None or consistent > best[0]:
            best = (consistent, sep)
    if best is not None:
        return best[1]
    if layout != "wide":
        raise DataError(
            f"{name}, line 1: found a single column; expected {expected}",
            hint="set the delimiter with `sep`",
        )
    return ","


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _detect_header(first: list[str], rest: list[list[str]]) -> bool:
    """Whether the first row names the columns: it holds a known column name, or it has no
    number at all and some column is a number in every later row (``customer,product,amount``
    above ``7,B,2``). A row with a number in it is data: an ID that only looks like a name
    (``"1,2"``, ``u1``) must not turn the first rating into a header and lose it."""
    known = USER_NAMES | ITEM_NAMES | RATING_NAMES | TIMESTAMP_NAMES
    if any(t.strip().lower() in known for t in first):
        return True
    if not rest or any(_is_number(t) for t in first):
        return False
    return any(all(c < len(row) and _is_number(row[c]) for row in rest) for c in range(len(first)))


# ---------------------------------------------------------------------------------------------
# long layout


def head_layout(sample: list[str], name: str, opt: ReadOptions) -> tuple[str, bool, list[str]]:
    """The delimiter, whether the first line is a header, and the column names (``column N``
    without a header) of a long text file, from the non-blank lines of its head: what the
    readers beside this one (the Spark engine, the time column) find as this one does."""
    sep = _parse_sep(opt.sep) if opt.sep else _sniff_sep(sample, name, "long")
    rows = [_split(line, sep) for line in sample]
    header = opt.header if opt.header is not None else _detect_header(rows[0], rows[1:])
    width = len(rows[0])
    names = [t.strip() for t in rows[0]] if header else [f"column {c + 1}" for c in range(width)]
    return sep, header, names


def _read_long(text: _Input, name: str, sep: str, sample: list[str], opt: ReadOptions) -> Dataset:
    rows = [_split(line, sep) for line in sample if line.strip()]
    header = opt.header
    if header is None:
        header = _detect_header(rows[0], rows[1:])
    width = len(rows[0])
    if opt.layout == "auto" and opt.item_col is None and opt.rating_col is None:
        _refuse_matrix(rows, header, name)
    names = [t.strip() for t in rows[0]] if header else [f"column {c + 1}" for c in range(width)]
    cols = choose_columns(names, header, opt, name)
    # Without a header the column is "rating" (what split writes, what errors name).
    rating_name = names[cols.rating] if header and cols.rating is not None else "rating"
    fast = _read_long_arrow(text, name, sep, header, cols, width, opt, rating_name)
    if fast is not None:
        return fast

    import pandas as pd

    parse_text, parse_sep = _pandas_sep(_decode(text.raw, name), sep)
    # No usecols: a row with an extra field must fail the parse, not be silently cut short.
    dtypes = {cols.user: str, cols.item: str}
    if cols.rating is not None:
        dtypes[cols.rating] = np.float64
    try:
        frame = _parse(
            parse_text,
            parse_sep,
            skiprows=_header_skip(parse_text) if header else 0,
            dtype=dtypes,
            na_values={cols.rating: [""]} if cols.rating is not None else None,
            skip_blank_lines=True,
        )
        ok = _fast_ok(frame, cols, width)
    except (ValueError, pd.errors.ParserError, IndexError):
        ok = False
    if not ok:
        _diagnose(parse_text, parse_sep, name, header, cols, opt.feedback)
        raise DataError(f"{name}: could not be parsed", hint="check the delimiter with `sep`")

    users = frame[cols.user].astype(str)
    items = frame[cols.item].astype(str)
    if cols.rating is None:
        values = np.ones(len(frame))
    else:
        values = frame[cols.rating].to_numpy(dtype=np.float64)
    lines = _physical_lines(parse_text, len(frame), header)
    return index_rows(users, items, values, lines, opt.feedback, opt.duplicates, name, rating_name)


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
        all(_is_number(t) or not t.strip() for t in row[1:]) for row in rest
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
    text: _Input,
    name: str,
    sep: str,
    header: bool,
    cols: Columns,
    width: int,
    opt: ReadOptions,
    rating_name: str,
) -> Dataset | None:
    """The fast path: Arrow parses the rows below the header; None when it declines."""
    found = _arrow_body(text.raw, sep, header)
    if found is None:
        return None
    raw, sep, skip, start = found
    first_line = skip + 1
    wanted = [c for c in (cols.user, cols.item, cols.rating) if c is not None]
    parsed = parse_csv(memoryview(raw)[start:], sep, wanted, width, cols.rating)
    if parsed is None:
        return None
    lines = None
    n_lines = raw.count(b"\n", start) + (0 if raw.endswith(b"\n") else 1)
    if n_lines > len(parsed[cols.user]):  # blank lines among the rows: number rows by line
        lines = _nonblank_lines(memoryview(raw)[start:], first_line)
    del raw, found
    text.release()
    # Each column is let go as soon as it is converted: Arrow's copy and numpy's of 24 million
    # ratings are not held at the same time.
    users = encode(parsed.pop(cols.user))
    items = encode(parsed.pop(cols.item)) if users is not None else None
    if users is None or items is None:
        return None
    n = len(users.codes)
    if cols.rating is None:
        values = np.ones(n)
    else:
        values = numbers(parsed.pop(cols.rating))
        if values is None or not np.isfinite(values).all():
            return None
    if lines is not None:
        lines = lines[:n]
    del parsed
    release_memory()
    return _index_codes(users, items, values, lines, first_line, opt, name, rating_name)


def _arrow_body(raw: bytes, sep: str, header: bool) -> tuple[bytes, str, int, int] | None:
    """What Arrow parses: (text, its one-character delimiter, lines above the first row,
    byte offset of the first row); None where Arrow cannot split the rows."""
    if sep == " ":
        return None  # runs of spaces and tabs: Arrow splits on one character only
    if len(sep) > 1:
        raw = raw.replace(sep.encode(), b"\x1f")  # '::': Arrow takes one-character delimiters
        sep = "\x1f"
    skip = _blank_lines_above(raw) + (1 if header else 0)
    start = 0
    for _ in range(skip):
        start = raw.find(b"\n", start) + 1
        if start == 0:
            return None
    return raw, sep, skip, start


def _nonblank_lines(text: bytes | memoryview, first_line: int) -> np.ndarray:
    """1-based numbers of the non-empty lines of ``text`` (which starts at ``first_line``)."""
    buf = np.frombuffer(text, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    starts = np.r_[0, ends + 1]
    stops = np.r_[ends, len(buf)]
    filled = np.flatnonzero(stops > starts)
    return (filled + first_line).astype(np.int64)


def _read_table(raw: bytes, kind: str, name: str, opt: ReadOptions) -> Dataset:
    """A Parquet or Arrow/Feather file: columns by name, as in a CSV file's header."""
    if opt.layout == "wide":
        raise DataError(
            f"{name}: `layout` wide reads text matrices; this is a {kind} file",
            hint="store the ratings in long form (user, item, rating columns)",
        )
    table = read_table(raw, kind, name)
    names = column_names(table, name)
    cols = choose_columns(names, True, opt, name)
    users_col = id_column(table.column(cols.user), name, names[cols.user])
    items_col = id_column(table.column(cols.item), name, names[cols.item])
    for c, column in ((cols.user, users_col), (cols.item, items_col)):
        row = bad_id_row(column)
        if row is not None:
            raise DataError(
                f"{name}, row {row + 1}, column {names[c]}: missing "
                + ("user" if c == cols.user else "item"),
                hint="every row needs a user, an item and a rating",
            )
        row = nul_id_row(column)
        if row is not None:
            raise DataError(
                f"{name}, row {row + 1}, column {names[c]}: the ID holds a NUL character",
                hint="IDs are text without NUL characters",
            )
    users, items = encode(users_col, strict_text=False), encode(items_col, strict_text=False)
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
                f"{name}: column {rating_name} holds {column.type}, not numbers",
                hint="use `rating_col` to pick the ratings column",
            )
    if users is None or items is None:  # unreachable with strict_text=False
        raise DataError(f"{name}: cannot read the ID columns")
    del table, users_col, items_col
    release_memory()
    return _index_codes(users, items, values, None, 1, opt, name, rating_name, unit="row")


def _null_rows(column) -> np.ndarray:
    import pyarrow.compute as pc

    return pc.is_null(column).to_numpy(zero_copy_only=False)


def _pandas_sep(text: str, sep: str) -> tuple[str, str]:
    if sep == " ":
        return text, r"\s+"
    if len(sep) > 1:
        # pandas' C parser takes one-character delimiters only; swap in a control character.
        return text.replace(sep, "\x1f"), "\x1f"
    return text, sep


def _parse(text: str, sep: str, **options) -> pd.DataFrame:
    """pandas' C parser with the settings every reader here shares: no header row (the header
    is found by sniffing), no NA guessing (an ID "NA" is an ID), spaces after a delimiter
    ignored, and quotes honoured except for whitespace-separated files."""
    import pandas as pd

    return pd.read_csv(
        io.StringIO(text),
        sep=sep,
        header=None,
        keep_default_na=False,
        skipinitialspace=True,
        engine="c",
        quoting=csv.QUOTE_MINIMAL if sep != r"\s+" else csv.QUOTE_NONE,
        **options,
    )


def _below_blank_lines(text: str) -> tuple[str, int]:
    """``text`` from its first non-blank line, and how many lines were cut above it: pandas
    takes the width from the first line it reads, blank or not, so a parse that keeps blank
    lines (for line numbers) starts below them and adds the count back."""
    lead = _header_skip(text)[0]
    return (text.split("\n", lead)[lead] if lead else text), lead


def _header_skip(text: str) -> list[int]:
    """Index of the first non-blank line, which holds the header (as pandas' ``skiprows``)."""
    return [_blank_lines_above(text)]


def _blank_lines_above(text: str | bytes) -> int:
    """How many blank lines stand above the first line with data (or the header)."""
    newline = b"\n" if isinstance(text, bytes) else "\n"
    for lead, line in enumerate(text[: 1 << 16].split(newline)[:SAMPLE_LINES]):
        if line.strip():
            return lead
    return 0


def _fast_ok(frame: pd.DataFrame, cols: Columns, width: int) -> bool:
    needed = [c for c in (cols.user, cols.item, cols.rating) if c is not None]
    if len(frame) == 0 or any(c not in frame.columns for c in needed):
        return False  # rows narrower than the columns chosen: _diagnose says where
    for c in (cols.user, cols.item):
        column = frame[c]
        if column.isna().any() or (column == "").any():
            return False
    if cols.rating is not None:
        values = frame[cols.rating].to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            return False
    return True


def _physical_lines(text: str, n_rows: int, header: bool) -> np.ndarray:
    """1-based line numbers of the data rows, skipping blank lines as the parser did."""
    if "\n\n" not in text and not text.startswith("\n") and "\r" not in text and '"' not in text:
        start = 2 if header else 1
        return np.arange(start, start + n_rows, dtype=np.int64)
    if '"' in text:
        starts, blank = _row_starts(text)
        numbers = starts[~blank]
        numbers = numbers[1:] if header else numbers
        if len(numbers) == n_rows:
            return numbers.astype(np.int64)
    # Blank lines exist: number the non-blank ones (rare, so the slow way is fine).
    numbers = [k + 1 for k, line in enumerate(text.splitlines()) if line.strip()]
    numbers = numbers[1:] if header else numbers
    return np.asarray(numbers[:n_rows], dtype=np.int64)


def _row_starts(text: str) -> tuple[np.ndarray, np.ndarray]:
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


def _diagnose(
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

    body_text, lead = _below_blank_lines(text)
    try:
        raw = _parse(
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
            starts = _row_starts(body_text)[0]
            line = (int(starts[row]) if row < len(starts) else row + 1) + lead
            raise DataError(
                f"{name}, line {line}: a quote opened on this line is never closed",
                hint='close the quote, or double a quote meant as a character ("")',
            ) from None
        raise DataError(f"{name}: cannot be parsed ({exc})") from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{name}: the file is empty") from exc
    starts = _row_starts(body_text)[0] if '"' in body_text else None
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
                raise DataError(
                    f"{name}, line {line}, {label}: {token!r} {what}",
                    hint="ratings must be finite numbers; use `rating_col` to pick another column"
                    if feedback == "explicit"
                    else "interaction values must be finite numbers",
                )


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
) -> Dataset:
    """The Arrow path's end: codes and vocabularies become a dataset. Rows are numbered
    ``first_line`` onwards unless ``lines`` gives each its line."""
    if len(values) == 0:
        raise DataError(f"{source}: holds no ratings", hint="give a file with one rating per line")
    check_values(values, lines, first_line, unit, source, rating_column)
    policy = opt.duplicates or default_policy(opt.feedback)
    u, i, values, lines, seen = merge_duplicates(
        users.codes, items.codes, values, lines, first_line, len(users.ids), len(items.ids),
        policy, source, unit,
    )  # fmt: skip
    return build_dataset(
        users.ids, items.ids, u, i, values, lines, opt.feedback, source, rating_column,
        first_line=first_line, unit=unit, seen=seen,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# wide layout


WIDE_HINT = "give a matrix: users as rows, items as columns, one rating per cell"


def _read_wide(text: str, name: str, sep: str, opt: ReadOptions) -> Dataset:
    import pandas as pd

    cells, line_of = _wide_cells(text, sep, name)
    if cells.shape[0] == 0 or cells.shape[1] == 0:
        raise DataError(f"{name}: holds no cells", hint=WIDE_HINT)
    header = opt.header
    if header is None:
        # A row of names, or pandas' to_csv of a matrix: numeric item IDs after an empty
        # corner cell, above rows that each start with a user's ID.
        corner = cells.shape[0] > 1 and cells[0, 0] == "" and (cells[0, 1:] != "").all()
        header = any(t and not _is_number(t) for t in cells[0]) or (
            corner and bool((cells[1:, 0] != "").all())
        )
    labelled = _has_row_labels(cells, header)
    if header:
        item_ids = cells[0, 1:] if labelled else cells[0]
        body, body_lines = cells[1:], line_of[1:]
    else:
        width = cells.shape[1] - (1 if labelled else 0)
        item_ids = np.array([str(j + 1) for j in range(width)])
        body, body_lines = cells, line_of
    if len(body) == 0:
        raise DataError(f"{name}: has a header but no rows of ratings")
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
        raise DataError(f"{name}, line {body_lines[k]}, column 1: user {user!r} repeats")
    if pd.Series(item_ids).duplicated().any():
        k = int(np.argmax(pd.Series(item_ids).duplicated().to_numpy()))
        item = str(item_ids[k])
        raise DataError(f"{name}, line {line_of[0]}, column {k + offset}: item {item!r} repeats")
    return index_rows(
        users, items, matrix[rows, cols], body_lines[rows], opt.feedback, "error", name, "rating"
    )


def _wide_cells(text: str, sep: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The matrix's non-blank rows as a (rows x columns) array of stripped strings, and the
    line each row starts on.

    Split row by row (csv's reader, in C), never column by column: a table parser's cost per
    column made a 100,000-column matrix take 30 s, and a million columns minutes.
    """
    import csv

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


def _has_row_labels(cells: np.ndarray, header: bool) -> bool:
    first = cells[0, 0].lower() if header else ""
    if header and (first == "" or first in USER_NAMES):
        return True
    column = cells[1:, 0] if header else cells[:, 0]
    return any(t and not _is_number(t) for t in column)


def check_read_options(opt: ReadOptions) -> None:
    """Refuse option values no reader takes (an unknown feedback, layout or policy)."""
    from recfactor.errors import ParameterError

    if opt.feedback not in FEEDBACKS:
        raise ParameterError(f"unknown feedback {opt.feedback!r}; use explicit or implicit")
    if opt.layout not in LAYOUTS:
        raise ParameterError(f"unknown layout {opt.layout!r}; use long or wide")
    if opt.missing_values and opt.layout != "wide":
        raise ParameterError(
            "`missing_value` applies to `layout` wide",
            hint="in long layout a missing rating is a missing row",
        )
    if opt.duplicates is not None and opt.duplicates not in DUPLICATE_POLICIES:
        raise ParameterError(
            f"unknown duplicates policy {opt.duplicates!r}; use one of "
            + ", ".join(DUPLICATE_POLICIES)
        )


# ---------------------------------------------------------------------------------------------
# pairs and ID lists (inputs of predict, recommend, similar)


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
    users, items, _ = _read_pairs(source, options or ReadOptions(), keep_others=False)
    return users, items


def read_pair_table(
    source: str | os.PathLike, options: ReadOptions | None = None
) -> tuple[Codes, Codes, dict[str, pa.ChunkedArray]]:
    """:func:`read_pair_codes` and the file's other columns, by name, in file order (text as
    written; Parquet's own types): what batch predict writes back beside its predictions. A
    headerless file's first other column is named ``rating``, as the ratings reader reads it."""
    return _read_pairs(source, options or ReadOptions(), keep_others=True)


def _read_pairs(
    source: str | os.PathLike, options: ReadOptions, keep_others: bool
) -> tuple[Codes, Codes, dict[str, pa.ChunkedArray]]:
    name = "<stdin>" if str(source) == "-" else str(source)
    raw = _read_bytes(source, name)
    kind = table_kind(raw)
    if kind is not None:
        return _read_table_pairs(raw, kind, name, options, keep_others)
    raw, sample = _text_and_sample(raw, name, "give user,item pairs, one a line")
    sep = options.sep and _parse_sep(options.sep)
    sep = sep or _sniff_sep(sample, name, "long", expected="user and item columns")
    rows = [_split(line, sep) for line in sample[:2]]
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
    fast = _read_pairs_arrow(raw, sep, header, cols, width, others)
    if fast is not None:
        users, items, columns = fast
        return users, items, _other_names(columns, names, header)
    import pandas as pd

    parse_text, parse_sep = _pandas_sep(_decode(raw, name), sep)
    try:
        frame = _parse(
            parse_text,
            parse_sep,
            skiprows=_header_skip(parse_text) if header else 0,
            dtype=str,
        )
        ok = _fast_ok(frame, cols, width)
    except (ValueError, pd.errors.ParserError, IndexError):
        ok = False
    if not ok:
        _diagnose(parse_text, parse_sep, name, header, cols, "implicit", unit="user,item pair")
        raise DataError(f"{name}: could not be parsed", hint="check the delimiter with `sep`")
    codes = []
    for c in (cols.user, cols.item):
        found, ids = pd.factorize(frame[c].str.strip(), sort=False)
        codes.append(Codes(found.astype(np.int32), id_array([str(x) for x in ids])))
    columns = {c: pa.chunked_array([pa.array(frame[c].fillna(""), pa.string())]) for c in others}
    return codes[0], codes[1], _other_names(columns, names, header)


def _other_names(
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


def _read_pairs_arrow(
    raw: bytes, sep: str, header: bool, cols: Columns, width: int, others: list[int]
) -> tuple[Codes, Codes, dict[int, pa.ChunkedArray]] | None:
    found = _arrow_body(raw, sep, header)
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


def _read_table_pairs(
    raw: bytes, kind: str, name: str, opt: ReadOptions, keep_others: bool
) -> tuple[Codes, Codes, dict[str, pa.ChunkedArray]]:
    table = read_table(raw, kind, name)
    names = column_names(table, name)
    pair_options = ReadOptions(user_col=opt.user_col, item_col=opt.item_col, feedback="implicit")
    cols = choose_columns(names, True, pair_options, name)
    out = []
    for c, role in ((cols.user, "user"), (cols.item, "item")):
        column = id_column(table.column(c), name, names[c])
        row = bad_id_row(column)
        if row is not None:
            raise DataError(
                f"{name}, row {row + 1}, column {names[c]}: missing {role}",
                hint="every row needs a user and an item",
            )
        out.append(encode(column, strict_text=False))
    others = {
        names[c]: table.column(c)
        for c in range(len(names))
        if keep_others and c not in (cols.user, cols.item)
    }
    return out[0], out[1], others


def read_id_list(source: str | os.PathLike, what: str) -> list[str]:
    """IDs one a line (the first field of a CSV/TSV line); a header naming the kind is skipped."""
    name = "<stdin>" if str(source) == "-" else str(source)
    raw = _read_bytes(source, name)
    kind = table_kind(raw)
    if kind is not None:
        return _table_ids(read_table(raw, kind, name), what, name)
    _refuse_binary(raw, name)
    text = _decode(_line_ends(raw), name)
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


def _table_ids(table: pa.Table, what: str, name: str) -> list[str]:
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
    raw = _read_bytes(source, name)
    kind = table_kind(raw)
    if kind is not None:
        return _table_names(read_table(raw, kind, name), name)
    _refuse_binary(raw, name)
    text = _decode(_line_ends(raw), name)
    sample = [ln for ln in _head_lines(text) if ln.strip()]
    if not sample:
        raise DataError(f"{name}: the file is empty", hint="give item ID and name columns")
    sep = _sniff_sep(sample, name, "long")
    first = [t.strip().lower() for t in _split(sample[0], sep)]
    header = first[0] in ITEM_NAMES or (len(first) > 1 and first[1] in {"name", "title"})
    parse_text, parse_sep = _pandas_sep(text, sep)
    try:
        frame = _parse(
            parse_text,
            parse_sep,
            skiprows=_header_skip(parse_text) if header else 0,
            usecols=[0, 1],
            dtype=str,
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{name}: cannot read item names ({exc})") from exc
    return dict(zip(frame[0].str.strip(), frame[1].str.strip()))


def _table_names(table: pa.Table, name: str) -> dict[str, str]:
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
