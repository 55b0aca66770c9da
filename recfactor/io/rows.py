"""A ratings file's own lines, written back in subsets: what ``split`` writes, so that every
column (the timestamp too), the header and the ratings' own spelling (``3``, not ``3.0``)
survive a split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class RawRows:
    """The bytes of a text ratings file, cut at its line ends, with the line of each of a
    Dataset's ratings."""

    def __init__(self, raw: bytes, lines: np.ndarray, header: bytes) -> None:
        self.raw = np.frombuffer(raw, dtype=np.uint8)
        ends = np.flatnonzero(self.raw == ord("\n"))
        if len(raw) and raw[-1:] != b"\n":
            ends = np.r_[ends, len(raw) - 1]
        self.starts = np.r_[0, ends[:-1] + 1]
        self.ends = ends + 1  # each line with its newline
        self.lines = lines - 1  # 0-based physical lines
        self.header = header

    @classmethod
    def of(cls, source: str, dataset: Any) -> RawRows | None:
        """The rows of ``source`` behind ``dataset``, or None where its ratings are not one
        line each (stdin, wide or binary layouts, merged duplicates, quoted line breaks)."""
        from recfactor.io.text import read_bytes

        lines = dataset.line_numbers()
        if source == "-" or dataset.unit != "line" or lines is None:
            return None
        if len(np.unique(lines)) != len(lines):
            return None
        raw = read_bytes(source, source).replace(b"\r\n", b"\n")
        if raw.count(b"\n") + (not raw.endswith(b"\n")) < int(lines.max()):
            return None
        first = int(lines.min()) - 1  # the lines before the first rating: a header, comments
        header = b"".join(line + b"\n" for line in raw.split(b"\n", first)[:first])
        return cls(raw, np.asarray(lines), header)

    def write(self, index: np.ndarray, path: Path) -> None:
        """The header and the lines of ratings ``index`` (in file order) to ``path``."""
        chosen = np.sort(self.lines[index])
        lengths = self.ends[chosen] - self.starts[chosen]
        offsets = np.repeat(self.starts[chosen] - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
        body = self.raw[np.arange(int(lengths.sum())) + offsets].tobytes()
        if body and not body.endswith(b"\n"):
            body += b"\n"
        with open(path, "wb") as fh:
            fh.write(self.header)
            fh.write(body)
