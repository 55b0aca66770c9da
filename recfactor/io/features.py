"""What users and items are: a file of attributes, one row an ID, encoded as numbers a model
can learn from (``--user-features``, ``--item-features``).

Each column is read for what it is, and kept in the model file with its encoding, so that a row
given later (a new user's) is encoded the same way:

- a column of 0 and 1 (MovieLens' 19 genre flags) is a flag, kept as it is;
- a column of numbers (an age) is standardised: ``(x - mean) / sd`` of the training rows;
- a column of dates (a release date) is its year, standardised;
- a text column with ``|`` inside its values (``Action|Comedy``, where ``|`` does not separate
  the columns) is a set of labels, one feature each;
- any other text column (gender, occupation) is a category, one feature a value;
- a text column with more distinct values than half its rows (a title, a URL, a zip code) names
  its row rather than describing it, and is left out, as is a column with no value at all (a
  zip code by its first character, a region, was tried on MovieLens 100K: bfm's error stayed
  0.8822, and users held out scored 1.0358 instead of 1.0298);
- a number with a leading zero (``02138``, ``007``) is a code, read as text.

Where a value is missing, the column adds nothing to the row (a number: its mean); in a column
of numbers or dates, ``NA``, ``NaN``, ``null`` and ``None`` are missing too, and any other text is
an error naming its row (one stray word would otherwise turn the column into categories, or
drop it as naming its rows). A file with a header is matched to a model's columns by name (a
column it lacks is missing in every row), a file without one by position. A category
or label first seen after training adds nothing either (the row keeps its other columns). An ID
with no row has no attributes: it is known by its ratings alone.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from recfactor.errors import DataError

# Names of the ID column, where the file has a header.
ID_NAMES = ("id", "user", "user_id", "userid", "item", "item_id", "itemid", "movie",
            "movie_id", "movieid", "product", "product_id")  # fmt: skip
LABEL_SEP = "|"
# A text column with more distinct values than this share of its rows names the row.
NAMING_SHARE = 0.5
DATE_SHARE = 0.9  # a column is of dates when this share of its values read as dates
# A column of numbers with this share of its values numbers: the rest are errors, not a reason
# to read it as text.
NUMBER_SHARE = 0.9
# What spreadsheets and pandas write for a missing number.
MISSING_NUMBERS = ("na", "n/a", "nan", "null", "none", "#n/a", "<na>")
# Numbers are standardised in float64 and fitted in float32: beyond this, neither holds them.
LARGEST = 1e18


@dataclass(frozen=True)
class Column:
    """How one source column becomes features: ``kind`` flag, number, date, labels or
    category; ``values``: the categories or labels (one feature each, in order); ``mean`` and
    ``sd`` for numbers and dates."""

    name: str
    kind: str
    values: tuple[str, ...] = ()
    mean: float = 0.0
    sd: float = 1.0

    @property
    def width(self) -> int:
        return len(self.values) if self.kind in ("category", "labels") else 1

    def feature_names(self) -> list[str]:
        if self.kind in ("category", "labels"):
            return [f"{self.name}={v}" for v in self.values]
        return [self.name]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "values": list(self.values),
                "mean": self.mean, "sd": self.sd}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Column:
        return cls(str(d["name"]), str(d["kind"]), tuple(str(v) for v in d["values"]),
                   float(d["mean"]), float(d["sd"]))  # fmt: skip


@dataclass(frozen=True)
class Encoding:
    """The columns of a features file as features; ``position``: each column's place in the
    file (0 is the ID), for files without a header."""

    columns: tuple[Column, ...]
    positions: tuple[int, ...]
    dropped: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return sum(c.width for c in self.columns)

    def groups(self) -> np.ndarray:
        """Each feature's group, whose prior it shares: its column's, or for flag columns
        (MovieLens' genres) one group of them all."""
        flag = len(self.columns)
        ids = [flag if c.kind == "flag" else k for k, c in enumerate(self.columns)]
        _, dense = np.unique(ids, return_inverse=True)
        return np.repeat(dense, [c.width for c in self.columns])

    def feature_names(self) -> list[str]:
        return [name for c in self.columns for name in c.feature_names()]

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [c.to_dict() for c in self.columns],
                "positions": list(self.positions), "dropped": list(self.dropped)}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Encoding:
        return cls(tuple(Column.from_dict(c) for c in d["columns"]),
                   tuple(int(p) for p in d["positions"]),
                   tuple(str(x) for x in d.get("dropped", ())))  # fmt: skip


@dataclass
class Features:
    """Encoded rows of a features file: ``ids`` (strings), ``matrix`` (a scipy CSR matrix, one
    row an ID, one column a feature) and the ``encoding`` that made them."""

    ids: np.ndarray
    matrix: Any
    encoding: Encoding
    source: str = "<memory>"

    def rows_for(self, ids: Any) -> Any:
        """The rows of ``ids`` (an ID without a row: zeros), as a CSR matrix."""
        import scipy.sparse as sp

        from recfactor.dataset import index_in

        where = index_in(self.ids, [str(x) for x in ids]).astype(np.int64)
        known = where >= 0
        picked = self.matrix[np.maximum(where, 0)].tocsr()
        if not known.all():
            picked = sp.diags(known.astype(np.float64)) @ picked
        return picked.tocsr()


@dataclass
class Side:
    """What the users and the items are: each side's :class:`Features`, or None."""

    user: Features | None = None
    item: Features | None = None


@dataclass(frozen=True)
class FeatureFiles:
    """The files of the users' and the items' attributes a command was given (either may be
    None)."""

    user: str | None = None
    item: str | None = None

    def __bool__(self) -> bool:
        return self.user is not None or self.item is not None

    def read(self, encodings: dict[str, Any] | None = None) -> Side | None:
        """The files read, encoded afresh or with a model's ``encodings`` ({"user": ...,
        "item": ...}, as saved); None without files."""
        if not self:
            return None
        found = {}
        for what in ("user", "item"):
            path = getattr(self, what)
            if path is None:
                found[what] = None
                continue
            saved = (encodings or {}).get(what)
            if encodings is not None and saved is None:
                raise DataError(f"{path}: the model was trained without {what} features",
                                hint=f"drop --{what}-features, or train with them")  # fmt: skip
            found[what] = read_features(path, what, Encoding.from_dict(saved) if saved else None)
        return Side(found["user"], found["item"])


def read_features(
    source: str | os.PathLike, what: str, encoding: Encoding | None = None
) -> Features:
    """The features file at ``source`` (``what``: "user" or "item", for messages), encoded
    afresh, or with ``encoding`` (a model's) where given."""
    frame, name = _frame(source, what)
    by_name = False
    if encoding is None:
        encoding = _learn(frame, name, what)
    elif frame.attrs.get("named"):
        by_name = _matched_by_name(frame, encoding, name, what)
    ids = frame.iloc[:, 0].to_numpy(dtype=str)
    return Features(ids, _encode(frame, encoding, name, by_name), encoding, name)


def _matched_by_name(frame: Any, encoding: Encoding, name: str, what: str) -> bool:
    """Whether a file with a header is read by its column names: yes, unless the model's own
    columns had none (a file without a header: "column 2", ...); a file that has none of the
    model's columns is an error (read by position, another file's columns would be taken for
    them)."""
    trained = [c.name for c in encoding.columns]
    if all(re.fullmatch(r"column \d+", n) for n in trained):
        return False
    if not set(trained) & {str(c) for c in frame.columns[1:]}:
        given = ", ".join(str(c) for c in frame.columns[1:])
        raise DataError(f"{name}: none of the model's {what} feature columns is here "
                        f"(the file has {given})",
                        hint="give the columns the model was trained with: "
                        + ", ".join(trained))  # fmt: skip
    return True


def _as_text(frame: Any) -> Any:
    """A table's values as text, a null as "": pandas 3 keeps one a NaN in its text (whose
    ``to_numpy(dtype=str)`` then cut every ID to one character), pandas 2 wrote "nan". A
    float's whole number is written as the ratings' readers write it (1.0 is "1")."""
    from recfactor.dataset import id_strings

    frame = frame.copy()
    for column in [c for c in frame.columns if frame[c].dtype.kind == "f"]:
        frame[column] = id_strings(frame[column].to_numpy())
    return frame.astype(str).fillna("").replace({"nan": "", "None": ""})


def features_from_frame(frame: Any, what: str, encoding: Encoding | None = None) -> Features:
    """:func:`read_features` for a DataFrame (its first column, or one named as an ID, the
    IDs; matched to ``encoding``'s columns by name)."""
    frame = _id_first(_as_text(frame), "<frame>", what)
    by_name = False
    if encoding is None:
        encoding = _learn(frame, "<frame>", what)
    else:
        by_name = _matched_by_name(frame, encoding, "<frame>", what)
    ids = frame.iloc[:, 0].to_numpy(dtype=str)
    return Features(ids, _encode(frame, encoding, "<frame>", by_name), encoding, "<frame>")


def parse_attributes(
    text: str, encoding: Encoding, note: Callable[[str], None] = lambda _: None
) -> Any:
    """``age=25,gender=F`` as one encoded row (a 1 x features CSR matrix). ``note`` hears of
    a category the model never saw (``gender=X``, ``occupation=Student``), which adds
    nothing: a typing slip would otherwise pass unsaid."""
    values: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():  # "age" or "=25"
            raise DataError(f"attributes: {part!r} is not NAME=VALUE",
                            hint="write NAME=VALUE,NAME=VALUE")  # fmt: skip
        if key.strip() in values:
            raise DataError(f"attributes: {key.strip()} is given twice",
                            hint="give each attribute once")  # fmt: skip
        values[key.strip()] = value.strip()
    for column in encoding.columns:
        given = values.get(column.name, "")
        if column.kind in ("category", "labels") and given:
            new = [t.strip() for t in given.split(LABEL_SEP) if t.strip() not in column.values]
            if new:
                note(f"note: attributes: {column.name} {'|'.join(new)!r} was never seen in "
                     "training; it adds nothing (known: " + ", ".join(column.values[:8])
                     + (", ..." if len(column.values) > 8 else "") + ")")  # fmt: skip
    return encode_attributes(values, encoding)


def encode_attributes(values: dict[str, str], encoding: Encoding) -> Any:
    """``{"age": "25", "gender": "F"}`` as one encoded row (a 1 x features CSR matrix); a
    column not named is a missing value."""
    import pandas as pd

    known = {c.name for c in encoding.columns}
    unknown = sorted(set(values) - known)
    if unknown:
        raise DataError(f"attributes: no column {', '.join(unknown)} in the model's features",
                        hint="the model knows " + ", ".join(sorted(known)))  # fmt: skip
    frame = pd.DataFrame({"id": ["<attributes>"], **{c: [values.get(c, "")] for c in known}})
    named = Encoding(encoding.columns, tuple(range(len(encoding.columns) + 1)))
    ordered = frame[["id", *[c.name for c in encoding.columns]]]
    return _encode(ordered, named, "attributes", by_name=True)


# ---------------------------------------------------------------------------------------------


def _as_text_columns(table: Any, name: str) -> Any:
    """A table ready to be made text. Its list columns (JSON lines' arrays, Parquet's lists:
    ``["Action", "Comedy"]``) are their values joined by ``|``, the labels a text column
    writes so (made text as they were, each list read as one category, "['Action'
    'Comedy']"); a column of records or maps is refused by name; numbers are text as the
    ratings' reader writes them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for k, field in enumerate(table.schema):
        kind = field.type
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            inner = kind.value_type
            if not pa.types.is_nested(inner):
                joined = pc.binary_join(pc.cast(table.column(k), pa.list_(pa.string())),
                                        LABEL_SEP)  # fmt: skip
                table = table.set_column(k, field.name, joined)
                continue
        if pa.types.is_nested(kind):
            raise DataError(f"{name}: column {field.name!r} holds {kind}, not values",
                            hint="give each attribute as a value, or a list of labels")  # fmt: skip
        if pa.types.is_integer(kind) or pa.types.is_floating(kind):
            # As the ratings' reader writes numbers (1.0 is "1"), so that IDs match theirs;
            # through pandas, integers with a null among them became "1.0". NaN is missing.
            column = table.column(k)
            if pa.types.is_floating(kind):
                column = pc.if_else(pc.is_nan(column), pa.scalar(None, kind), column)
            table = table.set_column(k, field.name, column.cast(pa.string()))
    # pandas' own description of the columns would turn the text back into its dtypes.
    return table.replace_schema_metadata(None)


def _frame(source: str | os.PathLike, what: str) -> tuple[Any, str]:
    """The file as text columns (the ID first), its name."""
    import io

    import pandas as pd

    from recfactor.io.columnar import read_table, table_kind
    from recfactor.io.text import (
        decode,
        head_lines,
        line_ends,
        read_bytes,
        refuse_binary,
        sniff_sep,
        split_fields,
    )

    name = "<stdin>" if str(source) == "-" else str(source)
    raw = read_bytes(source, name, "features file")
    kind = table_kind(raw)
    if kind is not None:
        frame = _as_text_columns(read_table(raw, kind, name), name).to_pandas()
        frame = _id_first(_as_text(frame), name, what)
        frame.attrs["named"] = True
        return frame, name
    refuse_binary(raw, name)
    text = decode(line_ends(raw), name)
    sample = [ln for ln in head_lines(text) if ln.strip()]
    if not sample:
        raise DataError(f"{name}: the file is empty", hint=f"give one row per {what}: ID, ...")
    sep = sniff_sep(sample, name, "long", expected=f"{what} ID and attribute columns")
    first = [t.strip() for t in split_fields(sample[0], sep)]
    # A header names the ID column, wherever it stands (the ID is put first below).
    header = any(t.lower().replace(" ", "_") in ID_NAMES for t in first)
    starts = _check_rows(text, sep, name)
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=re.escape(sep) if len(sep) > 1 else sep, dtype=str,
            header=0 if header else None, keep_default_na=False, skip_blank_lines=True,
            engine="python" if len(sep) > 1 else "c",
        )  # fmt: skip
    except pd.errors.ParserError:  # a quote left open: the rest of the file is its field
        raise DataError(f"{name}, line {starts[-1]}: a quote opened here is never closed",
                        hint="close each quoted field with a quote") from None  # fmt: skip
    known = None if header else _known_names(frame)
    if not header:
        frame.columns = known or [f"column {k + 1}" for k in range(frame.shape[1])]
    rows = starts[1:] if header else starts
    lines = np.array(rows) if len(rows) == frame.shape[0] else None  # else rows are counted
    frame = _id_first(frame.apply(lambda c: c.str.strip()), name, what, lines)
    frame.attrs["named"] = header or known is not None
    frame.attrs["lines"] = lines
    return frame, name


def _at(source: str, row: int, lines: np.ndarray | None) -> str:
    """Where row ``row`` (from 0) of a features file is: its line, or, where the lines are
    not known (a table, a frame), its row."""
    return f"{source}, line {lines[row]}" if lines is not None else f"{source}, row {row + 1}"


def _check_rows(text: str, sep: str, name: str) -> list[int]:
    """Every row as wide as the first, else an error naming the line; returns the line each
    row (blank lines aside) starts on, the last where a quote left open starts: its row runs
    to the end.

    pandas reads a first row one field wider than the header as the header plus an index
    column, so the IDs would silently become the next column's values (``50|Action|Comedy``
    under ``id|genre``: item "Action"), and a later wide row ends in its parser's error."""
    from recfactor.io.text import records

    width, starts = None, []
    for line, row in records(text, sep):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # a blank line
        starts.append(line)
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise DataError(
                f"{name}, line {line}: {len(row)} fields, where the first line has {width}",
                hint="give every row the same columns (a column of several values separates "
                "them with |, so the columns themselves by , or a tab)",
            )
    return starts or [1]


# MovieLens 100K's u.user and u.item have no header; their columns are named as its README does.
MOVIELENS_USER = ["user_id", "age", "gender", "occupation", "zip_code"]
MOVIELENS_GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy",
                    "Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical",
                    "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]  # fmt: skip
MOVIELENS_ITEM = ["movie_id", "title", "release_date", "video_release_date", "imdb_url",
                  *MOVIELENS_GENRES]  # fmt: skip


def _known_names(frame: Any) -> list[str] | None:
    """The column names of a headerless MovieLens u.user or u.item, recognised by shape."""
    if frame.shape[1] == 5 and set(frame.iloc[:, 2]) <= {"M", "F"}:
        return MOVIELENS_USER
    flags = frame.iloc[:, 5:]
    if frame.shape[1] == 24 and flags.isin(["0", "1"]).all().all():
        return MOVIELENS_ITEM
    return None


def _id_first(frame: Any, name: str, what: str, lines: np.ndarray | None = None) -> Any:
    """``frame`` with its ID column first, checked: some attribute columns, IDs present and
    each once (``lines``: each row's line, for messages)."""
    named = [c for c in frame.columns if str(c).lower().replace(" ", "_") in (what, f"{what}_id",
             f"{what}id", "id")]  # fmt: skip
    if named:
        frame = frame[[named[0], *[c for c in frame.columns if c != named[0]]]]
    if frame.shape[1] < 2:
        raise DataError(f"{name}: one column, so no attributes",
                        hint=f"give {what} ID, then attribute columns (CSV, TSV or |)")  # fmt: skip
    ids = frame.iloc[:, 0]
    if (ids == "").any():
        row = int(np.flatnonzero((ids == "").to_numpy())[0])
        raise DataError(f"{_at(name, row, lines)}: no {what} ID",
                        hint="every row starts with an ID")  # fmt: skip
    repeated = ids[ids.duplicated()]
    if len(repeated):
        raise DataError(f"{name}: {what} {repeated.iloc[0]!r} has two rows",
                        hint=f"give one row per {what}")  # fmt: skip
    return frame.reset_index(drop=True)


def _learn(frame: Any, name: str, what: str) -> Encoding:
    columns, positions, dropped = [], [], []
    for position, column in enumerate(frame.columns[1:], start=1):
        found = _column(str(column), frame[column], frame.shape[0], name,
                        frame.attrs.get("lines"))  # fmt: skip
        if found is None:
            dropped.append(str(column))
            continue
        columns.append(found)
        positions.append(position)
    if not columns:
        raise DataError(
            f"{name}: no column describes the {what}s (each was empty, or named its row)",
            hint=f"give {what} ID, then attributes such as a category",
        )
    return Encoding(tuple(columns), tuple(positions), tuple(dropped))


def _column(name: str, values: Any, rows: int, source: str,
            lines: np.ndarray | None = None) -> Column | None:  # fmt: skip
    import pandas as pd

    present = values[values != ""]
    if present.empty:
        return None
    numbers = pd.to_numeric(present, errors="coerce")
    # A leading zero ("02138", "007") marks a code, not a number: kept as text.
    code = present.str.match(r"[-+]?0\d").any()
    missing = present.str.lower().isin(MISSING_NUMBERS)
    if not code and numbers.notna().sum() >= NUMBER_SHARE * (~missing).sum() > 0:
        numbers = _numbers(values, name, source, lines)
        numbers = numbers[np.isfinite(numbers)]
        if numbers.size == 0:
            return None
        if set(np.unique(numbers)) <= {0.0, 1.0}:
            return Column(name, "flag")
        return Column(name, "number", mean=float(numbers.mean()), sd=_sd(numbers))
    years = _years(present)
    if years is not None:
        return Column(name, "date", mean=float(years.mean()), sd=_sd(years))
    if present.str.contains(LABEL_SEP, regex=False).any():
        labels = sorted({t.strip() for v in present for t in v.split(LABEL_SEP) if t.strip()})
        return Column(name, "labels", tuple(labels))
    distinct = sorted(set(present))
    if len(distinct) > max(NAMING_SHARE * rows, 2) and len(distinct) > 20:
        return None
    return Column(name, "category", tuple(distinct))


def _numbers(values: Any, column: str, source: str, lines: np.ndarray | None) -> np.ndarray:
    """A column of numbers as float64, NaN where missing (empty, or NA, NaN, null, None); any
    other value that is not a finite number within +-1e18 is an error naming its row."""
    import pandas as pd

    text = pd.Series(np.asarray(values, dtype=str)).str.strip()
    missing = (text == "") | text.str.lower().isin(MISSING_NUMBERS)
    x = pd.to_numeric(text.mask(missing), errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~missing.to_numpy() & ~(np.abs(x) <= LARGEST)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = text.iloc[row]
        why = ("is beyond +-1e18" if np.isfinite(x[row]) else "is not a finite number"
               if pd.notna(x[row]) else "is not a number")  # fmt: skip
        raise DataError(f"{_at(source, row, lines)}, column {column!r}: {value!r} {why}",
                        hint="the column holds numbers: give a number, or leave it empty (NA "
                        "also reads as missing)")  # fmt: skip
    return x


def _sd(values: Any) -> float:
    sd = float(np.std(np.asarray(values, dtype=np.float64)))
    return sd if sd > 0 and math.isfinite(sd) else 1.0


def _years(values: Any) -> Any:
    """The values as years with their fraction, where they read as dates; else None."""
    import warnings

    import pandas as pd

    if values.str.fullmatch(r"[-+]?\d+(\.\d*)?").any():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dates = pd.to_datetime(values, errors="coerce", format="mixed")
    if dates.notna().mean() < DATE_SHARE:
        return None
    return dates.dt.year + (dates.dt.day_of_year - 1) / 366.0


def _encode(frame: Any, encoding: Encoding, name: str, by_name: bool = False) -> Any:
    """The rows of ``frame`` as a CSR matrix under ``encoding``."""
    import pandas as pd
    import scipy.sparse as sp

    rows, cols, vals = [], [], []
    offset = 0
    n = frame.shape[0]
    for column, position in zip(encoding.columns, encoding.positions):
        if by_name or position >= frame.shape[1]:
            if column.name not in frame.columns:
                offset += column.width
                continue
            values = frame[column.name].astype(str)
        else:
            values = frame.iloc[:, position].astype(str)
        values = values.str.strip().replace({"nan": ""}).to_numpy()
        present = values != ""
        if column.kind in ("flag", "number"):
            x = _numbers(values, column.name, name, frame.attrs.get("lines"))
            x = x if column.kind == "flag" else (x - column.mean) / column.sd
            keep = np.isfinite(x) & (x != 0)
            rows.append(np.flatnonzero(keep))
            cols.append(np.full(int(keep.sum()), offset))
            vals.append(x[keep])
        elif column.kind == "date":
            years = _years(pd.Series(values[present]))
            x = np.zeros(n)
            if years is not None:
                x[present] = (years.to_numpy(dtype=np.float64) - column.mean) / column.sd
            x[~np.isfinite(x)] = 0.0
            keep = x != 0
            rows.append(np.flatnonzero(keep))
            cols.append(np.full(int(keep.sum()), offset))
            vals.append(x[keep])
        else:
            series = pd.Series(values)
            if column.kind == "labels":
                series = series.str.split(LABEL_SEP, regex=False).explode().str.strip()
            codes = pd.Index(list(column.values)).get_indexer(series.to_numpy())
            keep = codes >= 0
            rows.append(series.index.to_numpy()[keep])
            cols.append(offset + codes[keep].astype(np.int64))
            vals.append(np.ones(int(keep.sum())))
        offset += column.width
    if not rows:
        return sp.csr_matrix((n, encoding.width))
    matrix = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n, encoding.width),
    )
    matrix.sum_duplicates()
    return matrix
