"""The pandas path of a text file: its C parser with explicit types, the blank lines above
the data and a header skipped, and whether a fast parse can be trusted."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

import numpy as np

from recfactor.io.columns import (
    Columns,
)
from recfactor.io.text import blank_lines_above

if TYPE_CHECKING:
    import pandas as pd


def pandas_sep(text: str, sep: str) -> tuple[str, str]:
    if sep == " ":
        return text, r"\s+"
    if len(sep) > 1:
        # pandas' C parser takes one-character delimiters only; swap in a control character.
        return text.replace(sep, "\x1f"), "\x1f"
    return text, sep


def parse_frame(text: str, sep: str, **options) -> pd.DataFrame:
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


def below_blank_lines(text: str) -> tuple[str, int]:
    """``text`` from its first non-blank line, and how many lines were cut above it: pandas
    takes the width from the first line it reads, blank or not, so a parse that keeps blank
    lines (for line numbers) starts below them and adds the count back."""
    lead = header_skip(text)[0]
    return (text.split("\n", lead)[lead] if lead else text), lead


def header_skip(text: str) -> list[int]:
    """Index of the first non-blank line, which holds the header (as pandas' ``skiprows``)."""
    return [blank_lines_above(text)]


def fast_ok(frame: pd.DataFrame, cols: Columns, width: int) -> bool:
    needed = [c for c in (cols.user, cols.item, cols.rating) if c is not None]
    if len(frame) == 0 or any(c not in frame.columns for c in needed):
        return False  # rows narrower than the columns chosen: diagnose says where
    for c in (cols.user, cols.item):
        column = frame[c]
        if column.isna().any() or (column == "").any():
            return False
    if cols.rating is not None:
        values = frame[cols.rating].to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            return False
    return True
