"""Bytes in, text out: a file, stdin or a compressed stream read whole (or mapped), its
encoding found (UTF-8, else Windows-1252 throughout), binary refused, and the head of it
sniffed for the delimiter and a header line."""

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
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recfactor import targets
from recfactor.errors import DataError
from recfactor.io.columns import (
    ITEM_NAMES,
    RATING_NAMES,
    TIMESTAMP_NAMES,
    USER_NAMES,
)

if TYPE_CHECKING:
    pass

# A matrix's header line is one field to the sniffer's other candidate delimiters: csv's
# default limit (128 KB a field) refused a header of 100,000 item names.
csv.field_size_limit(2**31 - 1)


# Tried in this order; the first that splits the sample consistently wins.
CANDIDATE_SEPARATORS = ("::", "\t", ",", ";", "|", " ")
SAMPLE_LINES = 64


class Input:
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
            self._raw = line_ends(read_bytes(self._source, self._name))
        return self._raw

    def release(self) -> None:
        if str(self._source) != "-" and os.path.isfile(self._source):
            self._raw = None


def read_text(source: str | os.PathLike, name: str) -> str:
    raw = read_bytes(source, name)
    refuse_binary(raw, name)
    return decode(line_ends(raw), name)


def read_bytes(source: str | os.PathLike, name: str, what: str = "ratings file") -> bytes:
    """The file's bytes, decompressed, as UTF-8 where they were UTF-16 or UTF-32 with a
    byte-order mark (Excel's "Unicode text"), without a byte-order mark. ``what`` the file is,
    for messages."""
    if str(source) == "-":
        raw = stdin_bytes()
        targets.note_input("-")
    else:
        path = Path(source)
        if not path.exists():
            raise DataError(f"{name}: no such file", hint="check the path, or use - for stdin")
        if path.is_dir():
            raise DataError(f"{name}: is a directory, not a {what}",
                            hint="give the path of a file" + (" (`engine` spark reads a folder "
                            "of part files)" if what == "ratings file" else ""))  # fmt: skip
        if path.is_char_device() or path.is_block_device():
            # /dev/zero or a disk would be read for ever; a terminal has its own name, -.
            raise DataError(f"{name}: is a device, not a data file",
                            hint="give a file, or - for stdin")  # fmt: skip
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise DataError(f"{name}: cannot read ({exc.strerror})",
                            hint="check the file's permissions") from exc  # fmt: skip
        targets.note_input(path)
    raw = transcoded(decompress(raw, name), name)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    return uncommented(raw)


# A comment line: # or % then a space or the line's end (SNAP's edge lists begin with
# "# Nodes: ...", KONECT's with "% sym unweighted"); "#tag" or "%x" may be an ID, and "#\t"
# may head a column of row numbers.
COMMENT_LINE = re.compile(rb"[#%](?: |\r?\n|$)")
# Excel's first line naming the separator ("sep=;"), which it writes and reads but does not
# show; the separator is found from the lines after it, as in any file.
EXCEL_SEP_LINE = re.compile(rb"sep=[^\r\n]\r?(?:\n|$)")


# A MatrixMarket coordinate file: "%%MatrixMarket matrix coordinate ...", % comment lines,
# a line of rows, columns and entries, then "row column value" lines.
MATRIX_MARKET = re.compile(rb"%%MatrixMarket[ \t]+matrix[ \t]+coordinate", re.IGNORECASE)


def uncommented(raw: bytes) -> bytes:
    """The comment lines that head a file made blank lines, which every reader skips, so that
    the lines after them keep their numbers; Excel's "sep=" line too; in a MatrixMarket
    coordinate file, its banner, its comments and its line of sizes (read as a rating, the
    sizes would be one)."""
    market = MATRIX_MARKET.match(raw) is not None
    end = 0

    def after(at: int) -> int:
        found = raw.find(b"\n", at)
        return len(raw) if found < 0 else found + 1

    if EXCEL_SEP_LINE.match(raw):
        end = after(0)
    while (market and raw.startswith(b"%", end)) or COMMENT_LINE.match(raw, end):
        end = after(end)
    if market and end < len(raw):
        end = after(end)  # rows, columns, entries
    return b"\n" * raw.count(b"\n", 0, end) + raw[end:] if end else raw


# Byte-order marks of the wider Unicode encodings, UTF-32's first: its little-endian mark
# begins with UTF-16's.
WIDE_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
             (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))  # fmt: skip


def transcoded(raw: bytes, name: str) -> bytes:
    """UTF-16 or UTF-32 text (marked by its byte-order mark) as UTF-8; other bytes as they
    are."""
    for bom, codec in WIDE_BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(codec).encode("utf-8")
            except UnicodeError as exc:
                raise DataError(
                    f"{name}: begins as {codec.upper()} text but does not decode as it "
                    f"({exc.reason} at byte {exc.start})",
                    hint="save the file as UTF-8",
                ) from None
    return raw


def stdin_bytes() -> bytes:
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # started with stdin closed (<&-), or without one (a service)
        raise DataError(
            "<stdin>: standard input is closed", hint="pipe the data in, or give a file"
        )
    try:
        return stream.read()
    except (OSError, ValueError) as exc:
        raise DataError(f"<stdin>: cannot read standard input ({exc})",
                        hint="give the data as a file") from None  # fmt: skip


def line_ends(raw: bytes) -> bytes:
    """Text with Windows and old Mac line ends made ``\n``: everything below splits on it."""
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return raw


def text_and_sample(raw: bytes, name: str, hint: str) -> tuple[bytes, list[str]]:
    """Text bytes with ``\n`` line ends, and the non-blank lines of its head for sniffing."""
    refuse_binary(raw, name)
    raw = line_ends(raw)
    head = raw[: head_size(raw)]
    if len(head) < len(raw) and b"\n" in head:
        head = head[: head.rfind(b"\n") + 1]  # whole lines only
    sample = [ln for ln in head_lines(decode(head, name, head=True)) if ln.strip()]
    if not sample:
        raise DataError(f"{name}: the file is empty", hint=hint)
    return raw, sample


# Bytes no text file holds (control characters but tab, line ends, form feed and escape):
# a few may be strays, a binary file has one in eight.
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27)) + b"\x7f"


# JSON (an object, or a list of objects or lists) where delimited text was expected: its
# fields would be read as text split on commas ("'rating: 3}' is not a number").
_JSON_START = re.compile(rb"\s*(\{\s*\"|\[\s*[\[{])")
# XML or HTML: a declaration or a doctype first, or a tag first and a closing one after (an
# ID such as "<u1>" is no markup).
_MARKUP_START = re.compile(rb"\s*<(\?xml|!doctype|html)", re.IGNORECASE)
_TAG_START = re.compile(rb"\s*<[a-z][a-z0-9]*[\s/>]", re.IGNORECASE)


def refuse_binary(raw: bytes, name: str) -> None:
    head = raw[:4096]
    start = head.removeprefix(b"\xef\xbb\xbf")
    if _JSON_START.match(start):
        raise DataError(f"{name}: looks like JSON, not delimited text",
                        hint="give the rows as CSV/TSV or Parquet (pandas.read_json converts "
                        "them)")  # fmt: skip
    if _MARKUP_START.match(start) or (_TAG_START.match(start) and b"</" in start):
        raise DataError(f"{name}: looks like XML or HTML, not delimited text",
                        hint="give the rows as CSV/TSV or Parquet")  # fmt: skip
    controls = len(head) - len(head.translate(None, _CONTROL))
    if b"\x00" in head or controls > max(8, len(head) // 100):
        raise DataError(
            f"{name}: looks like a binary file, not delimited text",
            hint="give a CSV/TSV file (plain, .gz, .bz2, .xz, .zst or .zip), Parquet or "
            "Arrow/Feather",
        )
    # Further in, a NUL would end up at the end of an ID, where numpy's strings drop it: "u1\0"
    # would become a second user named "u1".
    at = raw.find(b"\x00")
    if at >= 0:
        line = raw.count(b"\n", 0, at) + 1
        raise DataError(
            f"{name}, line {line}: holds a NUL byte",
            hint="the file should be text: is it damaged, or UTF-16 without a byte-order mark? "
            "save it as UTF-8",
        )


def decode(raw: bytes, name: str = "<data>", head: bool = False) -> str:
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
        if UTF8_MULTIBYTE.search(raw) is None:
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


# gzip, bzip2, xz, zstd and zip files begin so.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", ZSTD_MAGIC, b"PK\x03\x04", b"PK\x05\x06")


def decompress(raw: bytes, name: str) -> bytes:
    try:
        if raw[:2] == b"\x1f\x8b":
            return gzip.decompress(raw)
        if raw[:3] == b"BZh":
            return bz2.decompress(raw)
        if raw[:6] == b"\xfd7zXZ\x00":
            return lzma.decompress(raw)
        if raw[:4] == ZSTD_MAGIC:  # Python's own zstd comes with 3.14; Arrow's reads it now
            import pyarrow as pa

            return bytes(pa.CompressedInputStream(pa.BufferReader(raw), "zstd").read())
        if raw[:4] in (b"PK\x03\x04", b"PK\x05\x06"):  # an archive, or an empty one
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()]
                names = {m.filename for m in members}
                if "xl/workbook.xml" in names or "content.xml" in names:
                    raise DataError(f"{name}: is a spreadsheet workbook, not delimited text",
                                    hint="save the sheet as CSV")  # fmt: skip
                if len(members) != 1:
                    held = ", ".join(sorted(names)[:6]) + (", ..." if len(names) > 6 else "")
                    raise DataError(
                        f"{name}: zip archive holds {len(members)} files, expected one"
                        + (f" ({held})" if held else ""),
                        hint="extract the file to read and give its path (unzip -p ARCHIVE "
                        "FILE | recfactor ... - reads one without extracting)"
                        if members
                        else "zip the data file again",
                    )
                return archive.read(members[0])
    except DataError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # zlib, bz2, lzma, Arrow and zipfile raise many kinds
        if isinstance(exc, (NotImplementedError, RuntimeError)):  # a method or encryption
            raise DataError(
                f"{name}: the zip archive cannot be read ({exc})",
                hint="extract the ratings file (or re-zip it without a password) and give its path",
            ) from None
        raise DataError(
            f"{name}: compressed data is corrupt or truncated ({exc})",
            hint="compress the file again, or give it uncompressed",
        ) from None
    return raw


HEAD_BYTES = 1 << 16
HEAD_MIN_LINES = 3


def head_size(raw: bytes | str) -> int:
    """How much of the file's head to sniff: 64 KB, or more where lines are longer (a matrix
    of 100,000 columns), so that the sample holds the first few whole lines."""
    newline = b"\n" if isinstance(raw, bytes) else "\n"
    end = HEAD_BYTES
    while raw.count(newline, 0, end) < HEAD_MIN_LINES and end < len(raw):
        end *= 4
    return end


def head_lines(text: str) -> list[str]:
    return text[: head_size(text)].splitlines()[:SAMPLE_LINES]


def named_delimiter(sep: str) -> str:
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "space": " ", "whitespace": " "}
    return named.get(sep.lower(), sep)


def records(text: str, sep: str) -> Iterator[tuple[int, list[str]]]:
    """Each record of ``text`` split on ``sep``, with the line it starts on: a quoted field
    may hold line ends (a quote left open runs to the end), so records and lines differ."""
    if len(sep) == 1 and sep != " ":
        rows = csv.reader(io.StringIO(text), delimiter=sep, skipinitialspace=True)
        ended = 0
        for row in rows:
            yield ended + 1, row
            ended = rows.line_num
    else:
        for number, line in enumerate(io.StringIO(text), 1):
            yield number, split_fields(line, sep)


def split_fields(line: str, sep: str) -> list[str]:
    if sep == " ":
        return line.split()
    if len(sep) == 1:
        return next(csv.reader([line], delimiter=sep, skipinitialspace=True), [])
    return line.split(sep)


def sniff_sep(
    sample: list[str], name: str, layout: str, expected: str = "user, item and rating columns"
) -> str:
    best: tuple[int, str] | None = None
    spaced = any(" " in line for line in sample)
    for sep in CANDIDATE_SEPARATORS:
        if sep == " " and not spaced:
            # Runs of blanks are a separator for columns aligned with spaces. With tabs alone,
            # two tabs in a row are an empty field (`u1<TAB><TAB>i2`), not one separator.
            continue
        counts = [len(split_fields(line, sep)) for line in sample]
        if counts[0] < 2:
            continue
        consistent = sum(c == counts[0] for c in counts)
        if consistent == len(counts):
            return sep
        if best is None or consistent > best[0]:
            best = (consistent, sep)
    if best is not None:
        return best[1]
    if layout != "wide" and NETFLIX_MOVIE.match(sample[0]) and len(sample) > 1:
        raise DataError(
            f"{name}, line 1: looks like the Netflix Prize layout (a line MOVIE: before each "
            "movie's user,rating,date lines), not one rating a line",
            hint="write it as user,item,rating lines first (awk -F, '/:$/ {m = $1 + 0; next} "
            '{print $1 "," m "," $2}\' FILE)',
        )
    if layout != "wide":
        raise DataError(
            f"{name}, line 1: found a single column; expected {expected}",
            hint="set the delimiter with `sep`",
        )
    return ","


# The Netflix Prize's files: "1:" alone on a line, then that movie's "user,rating,date" lines.
NETFLIX_MOVIE = re.compile(r"\s*\d+:\s*$")


def is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def detect_header(first: list[str], rest: list[list[str]]) -> bool:
    """Whether the first row names the columns: it holds a known column name, or it has no
    number at all and some column is a number in every later row (``customer,product,amount``
    above ``7,B,2``). A row with a number in it is data: an ID that only looks like a name
    (``"1,2"``, ``u1``) must not turn the first rating into a header and lose it."""
    known = USER_NAMES | ITEM_NAMES | RATING_NAMES | TIMESTAMP_NAMES
    if any(t.strip().lower() in known for t in first):
        return True
    if not rest or any(is_number(t) for t in first):
        return False
    return any(all(c < len(row) and is_number(row[c]) for row in rest) for c in range(len(first)))


# A character of two to four bytes in UTF-8: a file holding one is UTF-8 text.
UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def arrow_body(raw: bytes, sep: str, header: bool) -> tuple[bytes, str, int, int] | None:
    """What Arrow parses: (text, its one-character delimiter, lines above the first row,
    byte offset of the first row); None where Arrow cannot split the rows."""
    if sep == " ":
        return None  # runs of spaces and tabs: Arrow splits on one character only
    if len(sep) > 1:
        raw = raw.replace(sep.encode(), b"\x1f")  # '::': Arrow takes one-character delimiters
        sep = "\x1f"
    skip = blank_lines_above(raw) + (1 if header else 0)
    start = 0
    for _ in range(skip):
        start = raw.find(b"\n", start) + 1
        if start == 0:
            return None
    return raw, sep, skip, start


def nonblank_lines(text: bytes | memoryview, first_line: int) -> np.ndarray:
    """1-based numbers of the non-empty lines of ``text`` (which starts at ``first_line``)."""
    buf = np.frombuffer(text, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    starts = np.r_[0, ends + 1]
    stops = np.r_[ends, len(buf)]
    filled = np.flatnonzero(stops > starts)
    return (filled + first_line).astype(np.int64)


def blank_lines_above(text: str | bytes) -> int:
    """How many blank lines stand above the first line with data (or the header)."""
    newline = b"\n" if isinstance(text, bytes) else "\n"
    for lead, line in enumerate(text[: 1 << 16].split(newline)[:SAMPLE_LINES]):
        if line.strip():
            return lead
    return 0
