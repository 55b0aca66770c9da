"""The compiled scan of plain numeric rows (recfactor.io.plain): the same datasets as Arrow's
path, read whole or in slices, whatever the thread count; anything else left to Arrow."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import recfactor.io.ratings as ratings_module
from recfactor.errors import DataError
from recfactor.io import id_columns, plain, stream
from recfactor.io.ratings import ReadOptions, read_ratings
from recfactor.kernels import plaintext

FIELDS = ("user_ids", "item_ids", "users", "items", "ratings")
RNG = np.random.default_rng(11)
KEYS = RNG.choice(600 * 400, 3000, replace=False)
USERS, ITEMS, STARS = KEYS // 400, KEYS % 400, RNG.integers(1, 6, 3000)


def _each(pattern: str, first: int = 0) -> list[str]:
    """``pattern`` filled with each rating's user ``u``, item ``i``, stars ``r`` and number
    ``k``, from the ``first`` on."""
    rows = zip(USERS[first:], ITEMS[first:], STARS[first:])
    return [pattern.format(u=u, i=i, r=r, k=k) for k, (u, i, r) in enumerate(rows)]


def _text(rows, header="", end="\n", sep="\n"):
    return header + sep.join(rows) + end


ROWS = _each("{u},{i},{r}")
PLAIN = {
    "header": _text(ROWS, "user,item,rating\n"),
    "no header, no last newline": _text(ROWS, end=""),
    "windows line ends": _text(ROWS, "user,item,rating\r\n", "\r\n", "\r\n"),
    "tabs and a time column": _text(_each("{u}\t{i}\t{r}.5\t88125{k:04d}")),
    "negative decimals": _text(_each("{u};{i};-{r}.25")),
    "items first": _text(_each("{i},{u},{r}"), "item,user,rating\n"),
    "fifteen digits": _text(_each("{u},{i},{r}.12345678901234")),
    "an ID of zero": _text(_each("0,{k},{r}")),
    "two-character separator": _text(_each("{u}::{i}::{r}::9")),
}
# Text the scan leaves to Arrow: each would read otherwise if scanned as numbers.
NOT_PLAIN = {
    "a leading zero": _text(_each("0{u},{i},{r}")),
    "IDs too large for a table": _text(_each("9{u:08d},{i},{r}")),
    "a blank line": _text([*ROWS[:100], "", *ROWS[100:]]),
    "a quoted field": _text(_each('{u},{i},{r},"x,y"')),
    "an exponent": _text(_each("{u},{i},{r}e0")),
    "a space": _text(_each("{u}, {i},{r}")),
    "letters in an ID": _text(_each("u{u},{i},{r}")),
    "sixteen digits": _text(_each("{u},{i},{r}.123456789012345")),
}
# Plain rows, then rows that are not: the slices read before are kept, Arrow reads the rest.
LATE = {
    "letters": ROWS[:2900] + _each("u{u},{i},{r}", 2900),
    "a blank line": [*ROWS[:2900], "", *ROWS[2900:]],
    "a large ID": ROWS[:2900] + _each("1000{u:05d},{i},{r}", 2900),
}


@pytest.fixture
def scans(monkeypatch):
    """The number of columns the compiled scan coded, with no size below which it is not
    used."""
    monkeypatch.setattr(plain, "PLAIN_MIN_BYTES", 0)
    calls = []
    original = plain.DigitIds.code
    monkeypatch.setattr(
        plain.DigitIds, "code", lambda self, v: calls.append(1) or original(self, v)
    )
    return calls


def _arrow(monkeypatch, path, **options):
    """The file as Arrow's path reads it whole (the scan declined)."""
    with monkeypatch.context() as patch:
        patch.setattr(ratings_module, "read_plain", lambda *a: None)
        patch.setattr(stream, "opened", lambda source: None)
        return read_ratings(path, ReadOptions(**options))


def _same(one, other) -> None:
    for field in FIELDS:
        a, b = getattr(one, field), getattr(other, field)
        assert a.dtype == b.dtype and np.array_equal(a, b), field
    assert one.line_numbers().tolist() == other.line_numbers().tolist()


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_plain_rows_are_scanned_into_the_dataset_arrow_reads(name, scans, write, monkeypatch):
    path = write("r.csv", PLAIN[name])
    scanned = read_ratings(path)
    assert len(scans) == 2  # users and items, once: the scan read the file
    _same(scanned, _arrow(monkeypatch, path))


@pytest.mark.parametrize("name", sorted(NOT_PLAIN))
def test_text_that_is_not_plain_is_left_to_arrow(name, scans, write, monkeypatch):
    path = write("r.csv", NOT_PLAIN[name])
    read = read_ratings(path, ReadOptions(duplicates="last"))
    assert scans == []
    _same(read, _arrow(monkeypatch, path, duplicates="last"))


@pytest.mark.parametrize("name", sorted(LATE))
def test_slices_scanned_then_parsed_by_arrow_are_the_file_read_whole(name, scans, write,
                                                                     monkeypatch):  # fmt: skip
    path = write("r.csv", _text(LATE[name], "user,item,rating\n"))
    whole = _arrow(monkeypatch, path)
    monkeypatch.setattr(stream, "STREAM_FROM", 0)
    monkeypatch.setattr(stream, "SLICE_BYTES", 4096)
    sliced = read_ratings(path)
    assert len(scans) >= 10  # several slices scanned before Arrow took over
    _same(sliced, whole)
    assert len(whole.user_ids) == len(set(whole.user_ids.tolist()))


def test_a_bad_line_after_scanned_slices_is_named_as_before(scans, write, monkeypatch):
    rows = list(ROWS)
    rows[2950] = f"{USERS[2950]},{ITEMS[2950]},abc"
    path = write("r.csv", _text(rows, "user,item,rating\n"))
    monkeypatch.setattr(stream, "STREAM_FROM", 0)
    monkeypatch.setattr(stream, "SLICE_BYTES", 4096)
    with pytest.raises(DataError, match=r"line 2952, column 3 \(rating\): 'abc' is not a number"):
        read_ratings(path)
    assert scans


def test_ratings_are_converted_as_python_converts_them():
    rng = np.random.default_rng(5)
    texts = [f"{rng.integers(0, 10**7)}.{rng.integers(0, 10**8):08d}" for _ in range(2000)]
    texts += ["0.1", "0.3", "4.35", "-0", "2.675", "99999999999999.9", "0.00000000000001"]
    body = "".join(f"{k},{k % 7},{t}\n" for k, t in enumerate(texts)).encode()
    found = plain.scan_rows(body, ",", 3, (0, 1, 2), (plain.DigitIds(), plain.DigitIds()))
    assert found is not None
    expected = np.array([float(t) for t in texts])
    assert np.array_equal(found[2], expected) and np.signbit(found[2][-4])


def test_the_scan_is_the_same_on_one_thread_and_on_two(monkeypatch):
    body = _text(ROWS * 4).encode()
    monkeypatch.setattr(plain, "PIECE_BYTES", 1000)  # 70 pieces, shared among the threads
    results = []
    for threads in (1, 2, 3):
        monkeypatch.setattr(plain, "scan_threads", lambda threads=threads: threads)
        ids = plain.DigitIds(), plain.DigitIds()
        found = plain.scan_rows(body, ",", 3, (0, 1, 2), ids)
        results.append((*found, ids[0].ids(), ids[1].ids()))
    for one, other in zip(results[0], results[1]):
        assert np.array_equal(one, other)
    for one, other in zip(results[0], results[2]):
        assert np.array_equal(one, other)
    assert len(results[0][3]) == len(set(USERS.tolist()))


def test_a_scan_leaves_the_process_free_to_fork_its_workers(write):
    """Not numba's parallel loops: they start its thread pool, and evaluate, which reads a
    large file in the process that forks its workers, would have to spawn them instead."""
    path = write("r.csv", PLAIN["header"])
    code = (
        "import recfactor.io.plain as plain; plain.PLAIN_MIN_BYTES = 0; "
        "from recfactor.io.ratings import read_ratings; "
        "from recfactor.running.workers import can_fork; "
        f"d = read_ratings({str(path)!r}); assert d.n_ratings == 3000; print(can_fork())"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert found.stdout.strip() == "True", found.stderr


@pytest.mark.parametrize("name", ["header", "tabs and a time column"])
def test_a_scanned_file_is_read_without_pyarrow(write, name):
    """A file the scan reads whole never calls pyarrow, so it is not imported: its import (75
    ms) held the GIL while a train's kernels were loading. A file Arrow reads imports it."""
    scanned, parsed = write("r.csv", PLAIN[name]), write("q.csv", NOT_PLAIN["a space"])
    code = (
        "import sys; import recfactor.io.plain as plain; plain.PLAIN_MIN_BYTES = 0; "
        "from recfactor.io.ratings import read_ratings; "
        f"d = read_ratings({str(scanned)!r}); assert d.n_ratings == 3000; "
        "print('pyarrow' in sys.modules, end=' '); "
        f"d = read_ratings({str(parsed)!r}); assert d.n_ratings == 3000; "
        "print('pyarrow' in sys.modules)"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert found.stdout.strip() == "False True", found.stderr


def test_pieces_start_at_line_ends():
    buf = np.frombuffer(b"1,2,3\n44,55,66\n7,8,9", dtype=np.uint8)
    cuts = plaintext.cut_points(buf, 4)
    assert cuts[0] == 0 and cuts[-1] == len(buf)
    assert all(c == len(buf) or buf[c - 1] == 10 for c in cuts[1:-1])
    counts = np.zeros(len(cuts) - 1, dtype=np.int64)
    plaintext.line_counts(buf, cuts, 0, len(counts), counts)
    assert counts.sum() == 3


@pytest.mark.parametrize(
    ("users", "taken"),
    [
        (USERS.astype(np.int64), True),
        (USERS.astype(np.uint16), True),
        (USERS.astype(np.int64) - 3, False),  # negative IDs: Arrow's encoder
        (USERS.astype(np.int64) * 10**8, False),  # too large for a table
    ],
)
def test_integer_ids_of_a_table_are_coded_as_arrow_codes_them(users, taken, tmp_path,
                                                              monkeypatch):  # fmt: skip
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "r.parquet"
    table = pa.table({"user": users, "item": ITEMS.astype(np.int32), "rating": STARS * 1.0})
    pq.write_table(table, path, row_group_size=700)  # several chunks
    found = []
    original = plain.integer_ids
    monkeypatch.setattr(id_columns, "integer_ids",
                        lambda column: found.append(original(column)) or found[-1])  # fmt: skip
    coded = read_ratings(path)
    assert (found[0] is not None) == taken and found[1] is not None
    monkeypatch.setattr(id_columns, "integer_ids", lambda column: None)
    _same(coded, read_ratings(path))
    assert coded.user_ids[coded.users[0]] == str(users[0])
