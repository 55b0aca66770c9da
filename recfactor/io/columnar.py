"""The Arrow data path: CSV/TSV parsed by pyarrow's multi-threaded C++ reader, and Parquet and
Arrow/Feather files, turned into integer codes and compact ID vocabularies.

IDs are read as dictionary-encoded strings: each distinct ID is held once, never one Python
object per row. What this fast path cannot take exactly as the text reader would (IDs with
spaces around them, quotes spanning lines, bad rows) it declines, and ``data.py`` parses the
text the careful way, which either reads it or says where the problem is.

pyarrow is imported by the functions that use it: a plain file of numbers, which the compiled
scanner reads (``plain.py``), never calls it, and its import (pyarrow and pyarrow.compute, 75
ms) held the GIL while a train's kernels were loading beside it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

from recfactor.dataset import id_array
from recfactor.errors import DataError
from recfactor.running.heap import trim_heap

# Arrow's CSV reader parses blocks of this many bytes on separate threads; larger blocks than
# its 1 MB default halve the per-block overhead on files of hundreds of MB.
BLOCK_BYTES = 8 << 20

PARQUET_MAGIC = b"PAR1"
ARROW_FILE_MAGIC = b"ARROW1"  # Feather v2 is the Arrow IPC file format
ARROW_STREAM_MAGIC = b"\xff\xff\xff\xff"  # an IPC stream begins with a continuation marker
FEATHER_V1_MAGIC = b"FEA1"


@dataclass(frozen=True)
class Codes:
    """One column's values as ``codes`` (int32, into ``ids``) and its distinct IDs, in order
    of first appearance (as ``pandas.factorize`` gives them)."""

    codes: np.ndarray
    ids: np.ndarray


@functools.cache
def _numpy_types() -> dict:
    """numpy's view of Arrow's fixed-width types."""
    import pyarrow as pa

    return {
        pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32, pa.int64(): np.int64,
        pa.uint8(): np.uint8, pa.uint16(): np.uint16, pa.uint32(): np.uint32,
        pa.uint64(): np.uint64, pa.float32(): np.float32, pa.float64(): np.float64,
    }  # fmt: skip


def to_numpy(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A fixed-width column without nulls as numpy (a view where it is one chunk).

    pyarrow's own ``to_numpy`` imports pandas on its first call, 0.2 s of every reading
    command's start-up.
    """
    import pyarrow as pa

    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    dtype = np.dtype(_numpy_types()[values.type])
    parts = [
        np.frombuffer(
            chunk.buffers()[1], dtype=dtype, count=len(chunk), offset=chunk.offset * dtype.itemsize
        )
        for chunk in chunks
    ]
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def table_kind(raw: bytes) -> str | None:
    """'parquet', 'arrow' or 'JSON lines' when ``raw`` is such a file, judged by content, not
    name."""
    if raw[:4] == PARQUET_MAGIC and raw[-4:] == PARQUET_MAGIC:
        return "parquet"
    if raw[:6] == ARROW_FILE_MAGIC or raw[:4] in (ARROW_STREAM_MAGIC, FEATHER_V1_MAGIC):
        return "arrow"
    if JSON_LINES_START.match(raw, 3 if raw.startswith(b"\xef\xbb\xbf") else 0):
        return "JSON lines"
    return None


# One JSON object a line (the review sets of Yelp and Amazon; pandas' to_json(orient="records",
# lines=True)): an object's opening brace and a quoted name first.
JSON_LINES_START = re.compile(rb"\s*\{\s*\"")


def read_table(raw: bytes, kind: str, name: str, text_as_dictionary: bool = False) -> pa.Table:
    """A Parquet, Arrow/Feather or JSON lines file's table; ``text_as_dictionary``: a Parquet
    file's text columns dictionary-encoded as read, the way Parquet stores them (a 9M-rating
    file's two text ID columns read and coded in 0.4 s instead of 0.85 s: each distinct ID is
    decoded once a page, not once a row)."""
    import pyarrow as pa

    buffer = pa.py_buffer(raw)
    if kind == "JSON lines":
        return _read_json_lines(buffer, name)
    try:
        if kind == "parquet":
            return _read_parquet(buffer, text_as_dictionary)
        import pyarrow.feather as feather

        if raw[:4] == ARROW_STREAM_MAGIC:
            import pyarrow.ipc as ipc

            return ipc.open_stream(buffer).read_all()
        return feather.read_table(pa.BufferReader(buffer))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(
            f"{name}: the {kind} file is corrupt or truncated ({exc})",
            hint="write it again, or give a CSV file",
        ) from exc


def _read_json_lines(buffer: pa.Buffer, name: str) -> pa.Table:
    """A table of JSON objects, one a line, by Arrow's parser (on all cores), each name a
    column and the columns' types inferred from the values."""
    import pyarrow as pa
    import pyarrow.json as pajson

    try:
        return pajson.read_json(pa.BufferReader(buffer))
    except (pa.ArrowException, OSError, ValueError) as exc:
        # Arrow names the row of a parse error ("... in row 3"): the line, where none is blank.
        said = str(exc).strip()
        if "changed from" in said:  # {"user": 1} then {"user": "b"}: one column, two types
            raise DataError(f"{name}: a column holds values of two types ({said})",
                            hint='write each column one way (every ID quoted, "1"), or give CSV, '
                            "whose IDs are text") from None  # fmt: skip
        raise DataError(
            f"{name}: not JSON lines ({said})",
            hint="give one JSON object a line (pandas: to_json(orient='records', lines=True)), "
            "or CSV",
        ) from None


def _read_parquet(buffer: pa.Buffer, text_as_dictionary: bool) -> pa.Table:
    """A Parquet file's table through ``ParquetFile``: ``pq.read_table`` goes through Arrow's
    datasets, whose import brings pandas (0.15 s of a read)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(pa.BufferReader(buffer))
    except UnicodeDecodeError:  # a column name that is not UTF-8, which column_names refuses
        return pq.read_table(pa.BufferReader(buffer))
    text = [f.name for f in file.schema_arrow if is_text(f.type)] if text_as_dictionary else []
    if text:
        file = pq.ParquetFile(pa.BufferReader(buffer), read_dictionary=text)
    return file.read()


def column_names(table: pa.Table, name: str) -> list[str]:
    """The table's column names; refused where one is not UTF-8 (Arrow stores bytes)."""
    names = []
    for c in range(table.num_columns):
        try:
            names.append(str(table.schema.field(c).name))
        except UnicodeDecodeError:
            raise DataError(f"{name}: the name of column {c + 1} is not UTF-8",
                            hint="rename the file's columns in UTF-8") from None  # fmt: skip
    return names


# ---------------------------------------------------------------------------------------------
# One rule for the Arrow types a table's columns may carry: each is converted or refused with
# the column's name and type, never passed on to fail somewhere later.


def is_text(t: pa.DataType) -> bool:
    """Whether ``t`` is one of Arrow's string types (string, large_string, string_view)."""
    import pyarrow as pa

    return pa.types.is_string(t) or pa.types.is_large_string(t) or _is_view(t, "string")


def _is_binary(t: pa.DataType) -> bool:
    import pyarrow as pa

    return (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or _is_view(t, "binary")
    )


def _is_view(t: pa.DataType, kind: str) -> bool:
    import pyarrow as pa

    test = getattr(pa.types, f"is_{kind}_view", None)
    return bool(test is not None and test(t))


def _is_nested(t: pa.DataType) -> bool:
    import pyarrow as pa

    return pa.types.is_nested(t) or pa.types.is_union(t) or isinstance(t, pa.ExtensionType)


def id_column(column: pa.ChunkedArray, name: str, label: str) -> pa.ChunkedArray:
    """An ID column as :func:`encode` takes it: text and integers as they are, other scalars
    (numbers, dates, decimals) written as text, binary decoded as UTF-8. Refused: lists,
    structs, maps and unions (no single ID per row), binary that is not UTF-8."""
    import pyarrow as pa

    t = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if pa.types.is_null(t) or pa.types.is_integer(t) or is_text(t):
        return column
    if _is_nested(t):
        raise DataError(f"{name}, column {label}: holds {t}, not one ID a row",
                        hint="IDs are text or integers")  # fmt: skip
    if pa.types.is_dictionary(column.type):
        column = column.cast(t)
    if _is_binary(t):
        return _utf8(column, name, label)
    if pa.types.is_floating(t):  # NaN is a float column's missing ID, not the ID "nan"
        import pyarrow.compute as pc

        column = pc.if_else(pc.is_nan(column), pa.scalar(None, t), column)
    try:
        return column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise DataError(f"{name}, column {label}: holds {t}, which cannot be read as IDs",
                        hint="IDs are text or integers") from None  # fmt: skip


def _utf8(column: pa.ChunkedArray, name: str, label: str) -> pa.ChunkedArray:
    """Binary values as text; the first row that is not UTF-8 is named."""
    import pyarrow as pa

    try:
        return column.cast(pa.string())
    except pa.ArrowInvalid:
        pass
    row = 0
    for chunk in column.chunks:
        for value in chunk.to_pylist():
            try:
                if value is not None:
                    value.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(f"{name}, row {row + 1}, column {label}: the ID is not UTF-8",
                                hint="IDs are text in UTF-8") from None  # fmt: skip
            row += 1
    raise DataError(f"{name}, column {label}: the IDs are not UTF-8", hint="IDs are UTF-8 text")


def parse_csv(
    raw: bytes | memoryview,
    sep: str,
    columns: list[int],
    width: int,
    numeric: int | None,
    text: Sequence[int] = (),
    empty_lines: bool = True,
) -> dict[int, pa.ChunkedArray] | None:
    """The chosen ``columns`` of CSV text (no header, ``width`` fields a row), IDs as
    dictionaries, column ``numeric`` as float64 and columns ``text`` as the strings written;
    None when Arrow cannot read the text exactly as the careful reader would, or holds an
    empty line where ``empty_lines`` is False."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{c}" for c in range(width)]
    types: dict[str, pa.DataType] = {
        names[c]: pa.string() if c in text else pa.dictionary(pa.int32(), pa.string())
        for c in columns
        if c != numeric
    }
    if numeric is not None:
        types[names[numeric]] = pa.float64()
    try:
        table = pacsv.read_csv(
            pa.py_buffer(raw),
            read_options=pacsv.ReadOptions(
                column_names=names, block_size=BLOCK_BYTES, use_threads=True
            ),
            parse_options=pacsv.ParseOptions(delimiter=sep, ignore_empty_lines=empty_lines),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                include_columns=[names[c] for c in columns],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        return None  # ragged rows, a non-number, invalid UTF-8, ...: the careful reader says
    if table.num_rows == 0:
        return None
    return {c: table.column(names[c]) for c in columns}


def encode(column: pa.ChunkedArray, strict_text: bool = True) -> Codes | None:
    """Codes and vocabulary of an ID column of any type (strings, integers, dictionaries).

    With ``strict_text`` (CSV input), None when an ID is empty or has spaces around it: the
    careful reader strips or refuses those. Otherwise (tables) empty and null IDs are refused
    by the caller from :func:`bad_id_row`.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    # One dictionary for all chunks (a multi-threaded parse or Parquet row groups each have
    # their own), new values appended in chunk order: still the order of first appearance.
    column = column.unify_dictionaries()
    if column.num_chunks == 0:
        return Codes(np.zeros(0, dtype=np.int32), np.zeros(0, dtype=str))
    dictionary = column.chunk(0).dictionary
    if not pa.types.is_string(dictionary.type) and not pa.types.is_large_string(dictionary.type):
        dictionary = dictionary.cast(pa.string())
    if strict_text and not _plain_text(dictionary):
        return None
    codes = to_numpy(pa.chunked_array([chunk.indices for chunk in column.chunks]))
    codes = codes.astype(np.int32, copy=False)
    if strict_text:  # a CSV column's dictionary, Arrow's own: each value once, each one used
        return Codes(np.ascontiguousarray(codes), id_array(dictionary.to_pylist()))
    # A table's dictionary is the writer's: it may repeat a value, or hold values no row uses
    # (Parquet's dictionary pages).
    dictionary, codes = _distinct(dictionary, codes)
    ids = id_array(dictionary.to_pylist())  # one object per distinct ID, briefly
    used = np.zeros(len(ids), dtype=bool)
    used[codes] = True
    if not used.all():
        position = np.cumsum(used, dtype=np.int64) - 1
        codes = position[codes].astype(np.int32)
        ids = ids[used]
    return Codes(np.ascontiguousarray(codes), ids)


def _plain_text(dictionary: pa.Array) -> bool:
    """Whether no ID is empty or has spaces around it (the careful reader strips or refuses
    those)."""
    import pyarrow.compute as pc

    if not len(dictionary):
        return True
    if (to_numpy(pc.utf8_length(dictionary)) == 0).any():
        return False
    return bool(pc.all(pc.equal(pc.utf8_trim_whitespace(dictionary), dictionary)).as_py())


def has_empty(column: pa.ChunkedArray) -> bool:
    """Whether a dictionary-encoded text column holds an empty value (read from each chunk's
    dictionary, not its rows)."""
    # By length: a Python value passed to pyarrow makes it import pandas (40 MB).
    import pyarrow.compute as pc

    return any(pc.min(pc.binary_length(chunk.dictionary)).as_py() == 0 for chunk in column.chunks)


class Vocabulary:
    """A CSV ID column's distinct values in order of first appearance, grown a slice of the
    file at a time: each slice's codes point into the one vocabulary, as if the file had been
    parsed whole."""

    def __init__(self, known: np.ndarray | None = None) -> None:
        """``known``: the IDs coded so far, in order (the codes of another reader's slices)."""
        import pyarrow as pa

        if known is None or not len(known):
            self._known = pa.nulls(0, pa.string())  # (pa.array imports pandas: 40 MB)
        else:
            self._known = _text_array(known)

    def codes(self, column: pa.ChunkedArray) -> np.ndarray | None:
        """The slice's codes (int32), its new IDs appended; None where an ID is empty or has
        spaces around it (see :func:`encode`)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        column = column.unify_dictionaries()  # the slice's values in order of first appearance
        dictionary = column.chunk(0).dictionary
        if not _plain_text(dictionary):
            return None
        where = pc.index_in(dictionary, value_set=self._known)
        new = pc.is_null(where)
        transpose = _values_under_nulls(where.cast(pa.int32()))
        fresh = to_numpy(new.cast(pa.int8())).astype(bool)
        transpose[fresh] = len(self._known) + np.arange(int(fresh.sum()), dtype=np.int32)
        self._known = pa.concat_arrays([self._known, dictionary.filter(new)])
        codes = np.empty(len(column), dtype=np.int32)
        at = 0
        for chunk in column.chunks:  # each chunk's indices looked up where they go: no join
            np.take(
                transpose, to_numpy(chunk.indices), out=codes[at : at + len(chunk)], mode="clip"
            )
            at += len(chunk)
        return codes

    def ids(self) -> np.ndarray:
        return id_array(self._known.to_pylist())


def _text_array(values: np.ndarray) -> pa.Array:
    """Text values as an Arrow string array, built from its buffers (``pa.array`` imports
    pandas: 40 MB)."""
    import pyarrow as pa

    encoded = [str(v).encode() for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.string(), len(encoded), buffers)


def _values_under_nulls(array: pa.Array) -> np.ndarray:
    """An int32 array's values as a writable numpy array, whatever its null slots hold (the
    caller overwrites them): ``fill_null(0)`` would make pyarrow import pandas (40 MB)."""
    data = array.buffers()[1]
    if len(array) == 0 or data is None:
        return np.zeros(len(array), dtype=np.int32)
    return np.frombuffer(data, np.int32, len(array), 4 * array.offset).copy()


def _distinct(dictionary: pa.Array, codes: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """A dictionary that holds a value twice (Arrow allows it; so does one cast to text, 1 and
    1.0 both become "1") made distinct, the codes following: else one ID would be two users."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if dictionary.null_count:  # entries no row uses (a null row was refused before)
        dictionary = dictionary.fill_null("")
    if pc.count_distinct(dictionary).as_py() == len(dictionary):
        return dictionary, codes
    unique = pc.unique(dictionary)  # in order of first appearance
    remap = to_numpy(pc.index_in(dictionary, value_set=unique).cast(pa.int32()))
    return unique, remap[codes]


def numbers(column: pa.ChunkedArray) -> np.ndarray | None:
    """A numeric column as float64, or None when it is not numeric (or has nulls)."""
    import pyarrow as pa

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        if not pa.types.is_decimal(column.type) and not pa.types.is_boolean(column.type):
            return None
    if column.null_count:
        return None
    # Unchecked: integers beyond 2^53 round to the nearest float (and are then refused as
    # out of range by the caller), where a checked cast would raise.
    return to_numpy(column.cast(pa.float64(), safe=False))


def release_memory() -> None:
    """Hand the memory Arrow's allocator kept from a parse back to the system: it keeps freed
    blocks for reuse, 600 MB after reading 24 million ratings, which the fit that follows
    would hold on to for its whole length. The C library's heap likewise (glibc): a file read
    in slices left 160 MB of freed pieces in it."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim_heap()
