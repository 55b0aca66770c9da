"""Every reader of Parquet and Arrow files against every Arrow type a column can carry: each
type is either read (and gives what the same values written as text give) or refused with one
`error:` line naming the file and the column, never an internal error.

Readers: the ratings' ID and rating columns (train), the time column (split --time-ordered),
the pairs of batch predict, a list of user IDs (recommend USERS), item titles (--items); and
column names that are not UTF-8.
"""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from recfactor import persist
from tests.test_corpus import invoke

N = 12
USERS = [f"u{k % 4}" for k in range(N)]
ITEMS = [f"i{k // 4}" for k in range(N)]  # with USERS: every (user, item) pair once
RATINGS = [float(1 + k % 5) for k in range(N)]


def _ids(role: str) -> dict[str, tuple[pa.Array, bool]]:
    """Arrow arrays for an ID column, each with whether it holds readable IDs. They keep the
    pairs distinct: row k's ID is a function of k // 4 (items) or k % 4 (users)."""
    key = (lambda k: k % 4) if role == "user" else (lambda k: k // 4)
    keys = [key(k) for k in range(N)]
    text = [f"{role[0]}{k}" for k in keys]
    repeats = pa.array(["a", "b", "a", "c", "d"])
    spellings = {0: [0, 2], 1: [1], 2: [3], 3: [4]}
    repeat_codes = pa.array([spellings[k][row % len(spellings[k])] for row, k in enumerate(keys)],
                            pa.int32())  # fmt: skip
    return {
        "string": (pa.array(text), True),
        "large_string": (pa.array(text, pa.large_string()), True),
        "string_view": (pa.array(text, pa.string_view()), True),
        "int8": (pa.array(keys, pa.int8()), True),
        "uint64_max": (pa.array([2**64 - 1 - k for k in keys], pa.uint64()), True),
        "float64": (pa.array([k + 0.5 for k in keys]), True),
        # NaN is a float column's missing value (pandas writes one for None): not the ID "nan".
        "float64_nan": (
            pa.array([k + 0.5 if row != 5 else float("nan") for row, k in enumerate(keys)]),
            False,
        ),
        "decimal": (pa.array([decimal.Decimal(k) for k in keys]), True),
        "date32": (pa.array([dt.date(2020, 1, 1 + k) for k in keys]), True),
        "timestamp": (pa.array([dt.datetime(2020, 1, 1, k) for k in keys]), True),
        "binary_utf8": (pa.array([t.encode() for t in text], pa.binary()), True),
        "large_binary": (pa.array([t.encode() for t in text], pa.large_binary()), True),
        "dictionary": (pa.array(text).dictionary_encode(), True),
        # "a" twice in the dictionary, both entries used by rows of the same ID: one ID.
        "dictionary_repeats": (pa.DictionaryArray.from_arrays(repeat_codes, repeats), True),
        "dictionary_of_ints": (
            pa.DictionaryArray.from_arrays(
                pa.array(keys, pa.int32()), pa.array(range(10, 16), pa.int64())
            ),
            True,
        ),
        "binary_not_utf8": (pa.array([b"\xff" + bytes([k]) for k in keys], pa.binary()), False),
        "list": (pa.array([[k] for k in keys]), False),
        "struct": (pa.array([{"a": k} for k in keys]), False),
        "map": (pa.array([[("k", k)] for k in keys], pa.map_(pa.string(), pa.int64())), False),
        "null": (pa.nulls(N), False),
    }


def _ratings() -> dict[str, tuple[pa.Array, bool]]:
    ints = [int(r) for r in RATINGS]
    return {
        "float32": (pa.array(RATINGS, pa.float32()), True),
        "int8": (pa.array(ints, pa.int8()), True),
        "uint64": (pa.array(ints, pa.uint64()), True),
        "decimal": (pa.array([decimal.Decimal(r) for r in ints]), True),
        "dictionary_of_floats": (pa.array(RATINGS).dictionary_encode(), True),
        "uint64_max": (pa.array([2**64 - 1] * N, pa.uint64()), False),
        "decimal_huge": (pa.array([decimal.Decimal("1e30")] * N, pa.decimal128(38, 0)), False),
        "string": (pa.array([str(r) for r in RATINGS]), False),
        "list": (pa.array([[r] for r in RATINGS]), False),
        "date32": (pa.array([dt.date(2020, 1, 1)] * N), False),
        "null": (pa.nulls(N), False),
    }


def _times() -> dict[str, tuple[pa.Array, bool]]:
    # Row k is k-th in time: the holdout of the latest 25% is rows 9, 10, 11 by every type.
    days = [dt.date(2020, 1, 1) + dt.timedelta(days=k) for k in range(N)]
    iso = [d.isoformat() for d in days]
    return {
        "int64": (pa.array(range(N)), True),
        "timestamp_s": (
            pa.array([dt.datetime(2020, 1, 1 + k) for k in range(N)], pa.timestamp("s")),
            True,
        ),
        "timestamp_tz": (
            pa.array([dt.datetime(2020, 1, 1 + k) for k in range(N)], pa.timestamp("ms", tz="UTC")),
            True,
        ),
        "date32": (pa.array(days), True),
        "date64": (pa.array(days, pa.date64()), True),
        "date_year_1": (pa.array([dt.date(1, 1, 1 + k) for k in range(N)]), True),
        "date_year_9000": (pa.array([dt.date(9000, 1, 1 + k) for k in range(N)]), True),
        "timestamp_year_3000": (
            pa.array([dt.datetime(3000, 1, 1 + k) for k in range(N)], pa.timestamp("us")),
            True,
        ),
        "string": (pa.array(iso), True),
        "large_string": (pa.array(iso, pa.large_string()), True),
        "dictionary": (pa.array(iso).dictionary_encode(), True),
        "iso_year_1": (pa.array([f"0001-01-{1 + k:02d}" for k in range(N)]), True),
        "duration": (pa.array([dt.timedelta(seconds=k) for k in range(N)]), True),
        "decimal": (pa.array([decimal.Decimal(k) for k in range(N)]), True),
        "time64": (pa.array([dt.time(k) for k in range(N)], pa.time64("us")), False),
        "struct": (pa.array([{"a": k} for k in range(N)]), False),
        "list": (pa.array([[k] for k in range(N)]), False),
        "words": (pa.array(["yesterday"] * N), False),
        "null": (pa.nulls(N, pa.int64()), False),
    }


def _write(table: pa.Table, path: Path) -> Path:
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    else:
        feather.write_feather(table, path)
    return path


def _check(code: int, out: str, err: str, ok: bool, column: str) -> None:
    assert "internal error" not in err and "Traceback" not in err, err
    if ok:
        assert code == 0, err
        return
    lines = [ln for ln in err.splitlines() if ln]
    assert code == 1, (code, err)
    assert lines[0].startswith("error: ") and len(lines) <= 2, err
    assert column in lines[0], (column, lines[0])


CASES = [
    (role, kind, fmt)
    for role in ("user", "item")
    for kind in _ids(role)
    for fmt in (".parquet", ".arrow")
]


@pytest.mark.parametrize(("role", "kind", "fmt"), CASES)
def test_id_columns_of_every_type(tmp_path, role, kind, fmt):
    array, ok = _ids(role)[kind]
    columns = {"user": pa.array(USERS), "item": pa.array(ITEMS), "rating": pa.array(RATINGS)}
    columns[role] = array
    try:
        data = _write(pa.table(columns), tmp_path / f"data{fmt}")
    except (pa.ArrowException, NotImplementedError):
        pytest.skip(f"{fmt} cannot store {array.type} in this pyarrow")  # the writer's limit
    model = tmp_path / "model"
    code, out, err = invoke(["train", str(data), "-m", str(model), "-q", "--algo", "baseline"])
    _check(code, out, err, ok, role)
    if ok:  # a model that exits 0 loads, with as many users and items as the text would give
        fitted, _ = persist.load(model)
        assert len(fitted.user_ids_) == 4 and len(fitted.item_ids_) == 3  # fmt: skip
        assert len(set(fitted.user_ids_.tolist())) == len(fitted.user_ids_)


@pytest.mark.parametrize("kind", list(_ratings()))
@pytest.mark.parametrize("fmt", [".parquet", ".arrow"])
def test_rating_columns_of_every_type(tmp_path, kind, fmt):
    array, ok = _ratings()[kind]
    data = _write(pa.table({"user": USERS, "item": ITEMS, "rating": array}), tmp_path / f"d{fmt}")
    code, out, err = invoke(["train", str(data), "-m", str(tmp_path / "m"), "-q",
                             "--algo", "baseline"])  # fmt: skip
    _check(code, out, err, ok, "rating")
    if ok:
        fitted, _ = persist.load(tmp_path / "m")
        assert fitted.rating_scale_ == (1.0, 5.0)


@pytest.mark.parametrize("kind", list(_times()))
@pytest.mark.parametrize("fmt", [".parquet", ".arrow"])
def test_time_columns_of_every_type(tmp_path, kind, fmt):
    array, ok = _times()[kind]
    table = pa.table({"user": USERS, "item": ITEMS, "rating": RATINGS, "when": array})
    data = _write(table, tmp_path / f"d{fmt}")
    args = ["split", str(data), "--time-ordered", "--time-col", "when", "--test-fraction",
            "0.25", "-o", str(tmp_path / "out")]  # fmt: skip
    code, out, err = invoke(args)
    _check(code, out, err, ok, "when")
    if ok:
        test = (tmp_path / "out" / "d.test.csv").read_text().splitlines()[1:]
        assert sorted(test) == sorted(f"{USERS[k]},{ITEMS[k]},{RATINGS[k]}" for k in (9, 10, 11))


@pytest.mark.parametrize("kind", [k for k, (_, ok) in _ids("user").items() if k != "null"])
def test_pairs_user_lists_and_titles_of_every_type(tmp_path, kind):
    """The same ID columns as pairs to predict, user lists to recommend for, and titles."""
    array, ok = _ids("user")[kind]
    folder = tmp_path
    train = pa.table({"user": pa.array(USERS), "item": pa.array(ITEMS), "rating": RATINGS})
    pq.write_table(train, folder / "data.parquet")
    code, _, err = invoke(["train", str(folder / "data.parquet"), "-m", str(folder / "m"), "-q",
                           "-k", "2", "--epochs", "3"])  # fmt: skip
    assert code == 0, err
    pairs = _write(pa.table({"user": array, "item": pa.array(ITEMS)}), folder / "pairs.parquet")
    code, out, err = invoke(["predict", str(pairs), "-m", str(folder / "m")])
    _check(code, out, err, ok, "user")
    if ok:
        assert len(out.splitlines()) == N + 1
    users = _write(pa.table({"user": array}), folder / "users.parquet")
    code, out, err = invoke(["recommend", str(users), "-m", str(folder / "m"), "-q"])
    # A list of users or of titles passes over a row without its ID, as over a blank line.
    passes_over = ok or kind == "float64_nan"
    _check(code, out, err, passes_over, "user")
    titles = _write(pa.table({"item": array, "title": pa.array(ITEMS)}), folder / "t.parquet")
    code, out, err = invoke(["similar", "--item", "i1", "-m", str(folder / "m"), "--items",
                             str(titles), "-q"])  # fmt: skip
    _check(code, out, err, passes_over, "item")


def test_column_names_that_are_not_utf8_are_refused(tmp_path):
    schema = pa.schema([pa.field(b"\xff\xfeuser", pa.string()), pa.field("item", pa.string()),
                        pa.field("rating", pa.float64())])  # fmt: skip
    table = pa.table([pa.array(USERS), pa.array(ITEMS), pa.array(RATINGS)], schema=schema)
    for fmt in (".parquet", ".arrow"):
        data = _write(table, tmp_path / f"d{fmt}")
        code, out, err = invoke(["train", str(data), "-m", str(tmp_path / "m"), "-q"])
        _check(code, out, err, False, "column 1")
        assert not (tmp_path / "m").exists()


def test_a_dictionary_with_repeated_entries_trains_a_model_that_loads(tmp_path):
    """The issue's case: one ID spelled twice in an Arrow dictionary is one user."""
    users = pa.DictionaryArray.from_arrays(pa.array([0, 1, 2, 0, 1, 2], pa.int32()),
                                           pa.array(["a", "b", "a"]))  # fmt: skip
    table = pa.table({"user": users, "item": ["x", "x", "y", "z", "z", "w"],
                      "rating": [1.0, 2.0, 3.0, 4.0, 5.0, 3.0]})  # fmt: skip
    data = _write(table, tmp_path / "d.arrow")
    code, _, err = invoke(["train", str(data), "-m", str(tmp_path / "m"), "-q", "--algo",
                           "baseline"])  # fmt: skip
    assert code == 0, err
    fitted, _ = persist.load(tmp_path / "m")
    assert sorted(fitted.user_ids_.tolist()) == ["a", "b"]
    counts = np.diff(fitted.seen_indptr_)
    assert dict(zip(fitted.user_ids_.tolist(), counts.tolist())) == {"a": 4, "b": 2}
