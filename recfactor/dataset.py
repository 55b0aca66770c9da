"""The ratings a model learns from: contiguous integer indices and two ID vocabularies.

Kept apart from the readers in ``data.py`` so that using a dataset (in an evaluate worker
process, say) does not import pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from recfactor.errors import DataError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Dataset:
    """Ratings indexed by contiguous integers.

    ``users[j]``, ``items[j]`` and ``ratings[j]`` describe rating ``j``; ``user_ids[users[j]]``
    is the original (string) ID. ``lines[j]`` is the 1-based line of the input that rating came
    from (the last one when duplicates were merged), so later checks can name it; without
    ``lines``, rating ``j`` is on line ``first_line + j`` (a file read straight through: no
    array of line numbers as large as the data). ``unit`` is what a position counts: lines of
    text, or rows of a Parquet or Arrow table.

    An svd fit moves the ratings into its own order in these arrays while it runs, and puts
    them back bit for bit when it ends (no copy of the ratings), unless fitted with
    ``keep_order=False``, which leaves the same ratings in its order: do not read a dataset
    from another thread while it is being fitted.
    """

    user_ids: np.ndarray  # (n_users,) strings: fixed-width unicode (see id_array)
    item_ids: np.ndarray  # (n_items,)
    users: np.ndarray  # (n_ratings,) int32
    items: np.ndarray  # (n_ratings,) int32
    ratings: np.ndarray  # (n_ratings,) float32 where exact (see rating_array), else float64
    feedback: str = "explicit"
    source: str = "<memory>"
    lines: np.ndarray | None = field(default=None, repr=False)
    rating_column: str = "rating"
    first_line: int | None = None
    # How an error names the ratings column: by its place and name where a file gave it
    # ("3 (rating)", as the parser's errors), else by its name.
    rating_label: str | None = field(default=None, repr=False, compare=False)
    unit: str = "line"
    # (indptr, items): each user's items, sorted, when the reader has grouped them already.
    seen_by_user: tuple | None = field(default=None, repr=False, compare=False)
    # What the users and items are (recfactor.io.features.Side), by ID: kept by subsets.
    side: Any = field(default=None, repr=False, compare=False)
    # Each rating's time (Unix seconds; recfactor.io.times), where a model reads it: kept by
    # subsets.
    times: np.ndarray | None = field(default=None, repr=False, compare=False)

    def with_times(self, times: np.ndarray | None) -> Dataset:
        """These ratings with each one's time (Unix seconds; or none)."""
        return replace(self, times=None if times is None else seconds(times, self.n_ratings))

    def with_side(self, side: Any) -> Dataset:
        """These ratings with the users' and items' features ``side`` (a Side, or None)."""
        return replace(self, side=side)

    def line_numbers(self) -> np.ndarray | None:
        """Each rating's line (or row), or None where the ratings do not know theirs."""
        if self.lines is not None:
            return self.lines
        if self.first_line is None:
            return None
        return np.arange(self.first_line, self.first_line + self.n_ratings, dtype=np.int64)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_ratings(self) -> int:
        return len(self.ratings)

    @property
    def density(self) -> float:
        cells = self.n_users * self.n_items
        return self.n_ratings / cells if cells else 0.0

    def subset(self, index: np.ndarray) -> Dataset:
        """The ratings at ``index`` (indices or a boolean mask), keeping both vocabularies."""
        lines = None if self.lines is None else self.lines[index]
        if lines is None and self.first_line is not None:
            # The lines of the ratings taken, not of all of them first (8 bytes a rating).
            index = _positions(index, self.n_ratings)
            lines = index + self.first_line
        return Dataset(
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            users=self.users[index],
            items=self.items[index],
            ratings=self.ratings[index],
            feedback=self.feedback,
            source=self.source,
            lines=lines,
            rating_column=self.rating_column,
            rating_label=self.rating_label,
            unit=self.unit,
            side=self.side,
            times=None if self.times is None else self.times[index],
        )

    def compact(self) -> Dataset:
        """The same ratings with vocabularies cut down to the users and items that occur.

        A training fold must not hold users or items it has no ratings for: they would get
        untrained factors instead of the cold-start fallback.
        """
        used_u, users = _renumber(self.users, self.n_users)
        used_i, items = _renumber(self.items, self.n_items)
        return Dataset(
            user_ids=self.user_ids[used_u],
            item_ids=self.item_ids[used_i],
            users=users,
            items=items,
            ratings=self.ratings,
            feedback=self.feedback,
            source=self.source,
            lines=self.lines,
            rating_column=self.rating_column,
            rating_label=self.rating_label,
            first_line=self.first_line,
            unit=self.unit,
            side=self.side,
            times=self.times,
        )

    def to_frame(self) -> pd.DataFrame:
        """Long format with the original IDs: columns user, item, rating."""
        import pandas as pd

        return pd.DataFrame(
            {
                "user": self.user_ids[self.users],
                "item": self.item_ids[self.items],
                "rating": self.ratings,
            }
        )

    def positions_in(self, other: Dataset) -> tuple[np.ndarray, np.ndarray]:
        """Each rating's user and item as indices into ``other``'s vocabularies (-1 where
        ``other`` does not have them): test ratings looked up in a training set once, by
        their IDs, instead of once per model."""
        user_at = index_in(other.user_ids, self.user_ids)
        item_at = index_in(other.item_ids, self.item_ids)
        return user_at[self.users], item_at[self.items]

    def where(self, j: int) -> str:
        """'file, line N' for rating ``j``, for error messages."""
        if self.lines is not None:
            return f"{self.source}, {self.unit} {int(self.lines[j])}"
        if self.first_line is not None:
            return f"{self.source}, {self.unit} {self.first_line + j}"
        return self.source

    @classmethod
    def from_arrays(
        cls,
        users: np.ndarray | list,
        items: np.ndarray | list,
        ratings: np.ndarray | list | None = None,
        *,
        feedback: str = "explicit",
        duplicates: str | None = None,
        source: str = "<memory>",
    ) -> Dataset:
        """Build a dataset from parallel sequences of IDs (any type; stored as strings)."""
        import pandas as pd

        given = {"users": users, "items": items} | ({} if ratings is None else {"ratings": ratings})
        arrays = {role: np.asarray(values) for role, values in given.items()}
        _check_parallel(arrays)
        for role in ("users", "items"):
            missing = pd.isna(arrays[role])
            if missing.any():  # None and NaN would become the IDs "None" and "nan"
                raise DataError(
                    f"{source}, row {int(np.argmax(missing)) + 1}: missing {role[:-1]}",
                    hint="every row needs a user and an item",
                )
        users_s = pd.Series(id_strings(arrays["users"]))
        items_s = pd.Series(id_strings(arrays["items"]))
        if ratings is None:
            values = np.ones(len(users_s))
        else:
            values = _numbers(arrays["ratings"], source)
        lines = np.arange(1, len(users_s) + 1, dtype=np.int64)
        return index_rows(users_s, items_s, values, lines, feedback, duplicates, source, "rating")

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        user: str | None = None,
        item: str | None = None,
        rating: str | None = None,
        *,
        feedback: str = "explicit",
        duplicates: str | None = None,
    ) -> Dataset:
        """Build a dataset from a pandas DataFrame in long form. Columns are recognised by
        name as the file reader does (``userId``, ``movie_id``, ``stars``, ...: else the
        first three columns are user, item, rating); ``user``, ``item`` and ``rating`` name
        them (a missing ``rating`` column on implicit data counts each row as 1)."""
        from types import SimpleNamespace

        from recfactor.io.columns import choose_columns

        names = [str(c) for c in frame.columns]
        options = SimpleNamespace(
            user_col=user, item_col=item, rating_col=rating, feedback=feedback
        )
        cols = choose_columns(names, True, options, "<DataFrame>")
        column = [frame.iloc[:, c] for c in (cols.user, cols.item)]
        for role, values in zip(("user", "item"), column):
            missing = values.isna().to_numpy()
            if missing.any():
                row = int(np.argmax(missing))
                raise DataError(
                    f"<DataFrame>, row {row + 1}, column {names[getattr(cols, role)]}: "
                    f"missing {role}",
                    hint="every row needs a user, an item and a rating",
                )
        ratings = None if cols.rating is None else frame.iloc[:, cols.rating].to_numpy()
        return cls.from_arrays(
            column[0].to_numpy(), column[1].to_numpy(), ratings, feedback=feedback,
            duplicates=duplicates, source="<DataFrame>",
        )  # fmt: skip

    @classmethod
    def from_matrix(
        cls,
        matrix: np.ndarray | list,
        *,
        missing_value: float | None = None,
        feedback: str = "explicit",
        source: str = "<memory>",
    ) -> Dataset:
        """Build a dataset from a dense users x items matrix (NaN cells are missing).

        Users are named ``1..n`` and items ``1..m`` (those with no value at all are left out);
        with ``missing_value`` given, cells equal to it are missing too (the articles write
        unknown ratings as 0).
        """
        m = np.asarray(matrix, dtype=np.float64)
        if m.ndim != 2:
            raise DataError(f"{source}: a matrix needs two dimensions, got {m.ndim}",
                            hint="give a users x items matrix")  # fmt: skip
        mask = ~np.isnan(m)
        if missing_value is not None:
            mask &= m != missing_value
        rows, cols = np.nonzero(mask)
        # compact(): a row or column with no value at all is not part of the data.
        return build_dataset(
            np.array([str(i + 1) for i in range(m.shape[0])]),
            np.array([str(j + 1) for j in range(m.shape[1])]),
            rows.astype(np.int32),
            cols.astype(np.int32),
            m[rows, cols],
            rows.astype(np.int64) + 1,
            feedback,
            source,
            "rating",
        ).compact()


def _positions(index: np.ndarray, n: int) -> np.ndarray:
    """The positions an index (integers, negative ones from the end, or a boolean mask) takes
    from ``n`` ratings."""
    index = np.asarray(index)
    if index.dtype == bool:
        return np.flatnonzero(index)
    return np.where(index < 0, index + n, index).astype(np.int64)


def _renumber(index: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The indices below ``n`` that occur in ``index`` (ascending) and ``index`` renumbered
    to positions among them: ``np.unique(index, return_inverse=True)`` without the sort."""
    present = np.zeros(n, dtype=bool)
    present[index] = True
    used = np.flatnonzero(present)
    position = np.zeros(n, dtype=np.int32)
    position[used] = np.arange(len(used), dtype=np.int32)
    return used, position[index]


# numpy's fixed-width strings give every ID four bytes a character of the longest: one ID
# of 10,000 characters made 40,000 short ones 1.6 GB (in memory and in the model file).
# Beyond this size, and eight times what the IDs themselves hold, a vocabulary is kept as
# Python strings instead (slower to sort and compare, but as large as the IDs).
WIDE_IDS_BYTES = 64 << 20


def id_array(values: list[str]) -> np.ndarray:
    """A vocabulary of string IDs: fixed-width unicode, or an object array of ``str`` where
    fixed width would be many times larger than the IDs."""
    if not values:
        return np.zeros(0, dtype=str)
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    fixed = 4 * int(lengths.max()) * len(values)
    if fixed > WIDE_IDS_BYTES and fixed > 8 * (int(lengths.sum()) + 56 * len(values)):
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    return np.array(values, dtype=str)


# Up to this many IDs are looked up by comparison rather than by sorting the vocabulary.
DIRECT_LOOKUPS = 8


def id_strings(ids: Any) -> np.ndarray:
    """IDs as text, as the file readers write them: a whole float without its ".0" (1.0 is
    "1": pandas makes integer IDs float where a column had a missing value), else ``str``."""
    values = np.asarray(ids)
    if values.dtype.kind != "f":
        return values.astype(str)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(values) & (values == np.floor(values)) & (np.abs(values) < 2.0**53)
    return np.where(whole, np.where(whole, values, 0).astype(np.int64).astype(str),
                    values.astype(str))  # fmt: skip


def index_in(vocabulary: np.ndarray, ids: Any) -> np.ndarray:
    """Index of each ID in ``vocabulary``; -1 where absent. IDs are compared as strings."""
    query = id_strings(ids).ravel()
    if len(vocabulary) == 0:
        return np.full(len(query), -1, dtype=np.int64)
    if len(query) <= DIRECT_LOOKUPS:
        # A few IDs (predict --user --item): one pass over the vocabulary each, instead of
        # sorting it (17 ms for 162,541 users).
        found = [np.flatnonzero(vocabulary == q) for q in query]
        return np.array([f[0] if len(f) else -1 for f in found], dtype=np.int64)
    order = np.argsort(vocabulary, kind="stable")
    ranked = vocabulary[order]
    pos = np.searchsorted(ranked, query)
    pos = np.minimum(pos, len(ranked) - 1)
    found = ranked[pos] == query
    return np.where(found, order[pos], -1).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# from rows to an indexed dataset (the readers and the constructors above end here)


def index_rows(
    users: pd.Series,
    items: pd.Series,
    values: np.ndarray,
    lines: np.ndarray,
    feedback: str,
    duplicates: str | None,
    source: str,
    rating_column: str,
    rating_label: str | None = None,
) -> Dataset:
    import pandas as pd

    if len(values) == 0:
        raise DataError(f"{source}: holds no ratings", hint="give a file with one rating per line")
    check_values(values, lines, 1, "line", source, rating_label or rating_column)
    user_codes, user_ids = pd.factorize(users, sort=False)
    item_codes, item_ids = pd.factorize(items, sort=False)
    u = user_codes.astype(np.int32)
    i = item_codes.astype(np.int32)
    u, i, values, lines, seen = merge_duplicates(
        u, i, values, lines, 1, len(user_ids), len(item_ids),
        duplicates or default_policy(feedback), source,
    )  # fmt: skip
    return build_dataset(
        id_array([str(x) for x in user_ids]),
        id_array([str(x) for x in item_ids]),
        u,
        i,
        values,
        lines,
        feedback,
        source,
        rating_column,
        seen=seen,
        rating_label=rating_label,
    )


# The largest rating magnitude accepted. Factors are 32-bit floats (largest 3.4e38), and the
# fits square ratings and multiply them by factors of about their square root: beyond this,
# ALS and NMF silently produced infinite factors (1e200) and the baseline predicted 1e305.
MAX_ABS_RATING = 1e18


def check_values(
    values: np.ndarray,
    lines: np.ndarray | None,
    first_line: int,
    unit: str,
    source: str,
    rating_column: str,
) -> None:
    """Every rating must be a finite number no larger in magnitude than MAX_ABS_RATING."""
    # The least and the greatest first, a NaN among them if there is one: two passes that
    # allocate nothing (9M ratings: 0.01 s, where the mask of bad ones took 0.18 in a fresh
    # process, its 90 MB of temporaries touched for the first time).
    if len(values) and -MAX_ABS_RATING <= values.min() and values.max() <= MAX_ABS_RATING:
        return
    bad = ~(np.abs(values) <= MAX_ABS_RATING)  # NaN compares false: caught too
    if not bad.any():
        return
    j = int(np.argmax(bad))
    line = int(lines[j]) if lines is not None else first_line + j
    value = values[j]
    what = "is not finite" if not np.isfinite(value) else f"is beyond ±{MAX_ABS_RATING:g}"
    raise DataError(
        f"{source}, {unit} {line}, column {rating_column}: rating {value:g} {what}",
        hint="ratings must be finite numbers within ±1e18 (the factors are 32-bit floats); "
        "rescale the column",
    )


def seconds(times: Any, n: int) -> np.ndarray:
    """``times`` as float64 Unix seconds, one for each of ``n`` ratings or pairs (NaN: none)."""
    from recfactor.errors import ParameterError

    try:
        found = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(
            "times must be numbers: Unix seconds (NaN where a time is unknown)",
            hint="convert dates with pandas: (dates - pd.Timestamp(0)) // pd.Timedelta('1s')",
        ) from None
    if found.ndim != 1 or len(found) != n:
        raise ParameterError(f"{found.size} times for {n} ratings or pairs",
                             hint="give one time a rating or pair")  # fmt: skip
    return found


def _check_parallel(arrays: dict[str, np.ndarray]) -> None:
    """Parallel sequences: one dimension each, all of one length (a pair's user, item and
    rating at the same position)."""
    from recfactor.errors import ParameterError

    for role, values in arrays.items():
        if values.ndim != 1:
            raise ParameterError(
                f"{role} must be one-dimensional, not of shape {values.shape}",
                hint="give one value a rating (numpy's ravel() flattens)",
            )
    lengths = {role: len(values) for role, values in arrays.items()}
    if len(set(lengths.values())) > 1:
        said = ", ".join(f"{n} {role}" for role, n in lengths.items())
        raise ParameterError(f"the sequences differ in length ({said})",
                             hint="give one user, one item and one rating a row")  # fmt: skip


def _numbers(values: np.ndarray, source: str) -> np.ndarray:
    """Ratings as float64; the first that is not a number named by its row."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        import pandas as pd

        numbers = pd.to_numeric(pd.Series(values), errors="coerce")
        bad = numbers.isna().to_numpy() & ~pd.isna(values)
        row = int(np.argmax(bad)) if bad.any() else 0
        raise DataError(f"{source}, row {row + 1}, column rating: {values[row]!r} is not a "
                        "number", hint="ratings must be finite numbers") from None  # fmt: skip


def default_policy(feedback: str) -> str:
    # Repeated interactions are normal in implicit data (plays, clicks): they add up. A repeated
    # explicit rating is ambiguous, so it is an error unless the user says what it means.
    return "sum" if feedback == "implicit" else "error"


# From this many ratings, repeats are found by a compiled counting sort (9M ratings: 0.3 s
# against 1.3 s for sorting keys), whose grouping by user is also the fitted model's index
# of seen items. Below it, numpy sorts the keys (10 ms for 100,000 ratings) and commands
# that only read (describe, split, evaluate's reader process) need not load numba (0.4 s).
COMPILED_REPEATS_MIN = 1_000_000


def _first_repeat(
    u: np.ndarray, i: np.ndarray, n_users: int, n_items: int
) -> tuple[int, int, tuple | None]:
    """``(j, first, seen)``: the earliest rating ``j`` whose pair occurred before, at
    ``first`` (-1, -1 when none), and each user's sorted items when they were grouped."""
    if len(u) >= COMPILED_REPEATS_MIN:
        from recfactor.kernels.pairs import first_repeat, seen_by_user

        indptr, seen, repeated = seen_by_user(u, i, n_users)
        if not repeated:
            return -1, -1, (indptr, seen)
        j, first = first_repeat(u, i, n_users, n_items)
        return int(j), int(first), None
    key = u.astype(np.int64) * n_items + i
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    repeat = np.flatnonzero(sorted_key[1:] == sorted_key[:-1])
    if len(repeat) == 0:
        return -1, -1, None
    j = int(order[repeat + 1].min())  # rows are in file order: the earliest second sighting
    first = int(order[np.searchsorted(sorted_key, key[j])])
    return j, first, None


def merge_duplicates(
    u: np.ndarray,
    i: np.ndarray,
    values: np.ndarray,
    lines: np.ndarray | None,
    first_line: int,
    n_users: int,
    n_items: int,
    policy: str,
    source: str,
    unit: str = "line",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, tuple | None]:
    j, first, seen = _first_repeat(u, i, n_users, n_items)
    if j < 0:
        return u, i, values, lines, seen
    if lines is None:
        lines = np.arange(first_line, first_line + len(u), dtype=np.int64)
    if policy == "error":
        raise DataError(
            f"{source}, {unit} {int(lines[j])}: duplicate rating for the same user and item "
            f"(first at {unit} {int(lines[first])})",
            hint="choose how to combine them with `duplicates` last, mean or sum",
        )
    key = u.astype(np.int64) * n_items + i
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    keep = order[starts]
    sums = np.add.reduceat(values[order], starts)
    if policy == "sum":
        merged = sums
    elif policy == "mean":
        merged = sums / np.diff(np.r_[starts, len(order)])
    else:  # last: the stable sort keeps file order within a key, so the last is before a start
        ends = np.r_[starts[1:], len(order)] - 1
        merged = values[order[ends]]
    last_line = np.maximum.reduceat(lines[order], starts)
    back = np.argsort(keep, kind="stable")  # restore file order of first appearance
    return u[keep][back], i[keep][back], merged[back], last_line[back], None


def build_dataset(
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    u: np.ndarray,
    i: np.ndarray,
    values: np.ndarray,
    lines: np.ndarray,
    feedback: str,
    source: str,
    rating_column: str,
    first_line: int = 1,
    unit: str = "line",
    seen: tuple | None = None,
    rating_label: str | None = None,
) -> Dataset:
    return Dataset(
        user_ids=user_ids,
        item_ids=item_ids,
        users=np.ascontiguousarray(u, dtype=np.int32),
        items=np.ascontiguousarray(i, dtype=np.int32),
        ratings=rating_array(values),
        feedback=feedback,
        source=source,
        lines=None if lines is None else np.ascontiguousarray(lines, dtype=np.int64),
        rating_column=rating_column,
        rating_label=rating_label,
        first_line=first_line,
        unit=unit,
        seen_by_user=seen,
    )


def rating_array(values: np.ndarray) -> np.ndarray:
    """Ratings as float32 where each is one exactly (stars, halves, counts below 2^24: 4
    bytes a rating instead of 8, 96 MB of 24 million), else as float64."""
    narrow = np.ascontiguousarray(values, dtype=np.float32)
    if narrow is values or np.array_equal(narrow, values):
        return narrow
    return np.ascontiguousarray(values, dtype=np.float64)
