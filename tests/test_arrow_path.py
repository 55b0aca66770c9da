"""The Arrow data path: the same datasets as the careful reader, Parquet and Feather input,
predictions and CSV output of many pairs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import recfactor.io.ratings as data_module
from recfactor.errors import DataError
from recfactor.io import csvout, stream
from recfactor.io.pairs import read_pair_codes, read_pairs
from recfactor.io.ratings import read_ratings
from recfactor.models import model_class

FIELDS = ("user_ids", "item_ids", "users", "items", "ratings")

BODIES = {
    "comma, header": "user,item,rating\nu1,A,4\nu2,B,3.5\nu1,C,5\nu3,A,1\n",
    "tab, no header": "1\t10\t4\t881250949\n2\t20\t3\t881250950\n1\t30\t5\t881250951\n",
    "double colon": "1::10::4::978300760\n2::20::3::978300761\n3::10::2::978300762\n",
    "quoted IDs": 'user,item,rating\n"u 1","A, B",4\nu2,"C",3\n',
    "blank lines": "\n\nuser,item,rating\nu1,A,4\n\nu2,B,3\n\n\nu3,C,2\n\n",
    "windows line ends": "user,item,rating\r\nu1,A,4\r\nu2,B,3\r\n",
    "semicolon": "customer;product;amount\n7;B;2\n8;C;1\n7;C;3\n",
    "spaces after commas": "user, item, rating\nu1, A, 4\nu2, B, 3\n",
    "latin-1": "user,item,rating\nu1,caf\xe9,4\nu2,na\xefve,3\n",
}


def _careful(monkeypatch, path, **options):
    monkeypatch.setattr(data_module, "_read_long_arrow", lambda *a, **k: None)
    monkeypatch.setattr(stream, "opened", lambda source: None)
    return read_ratings(path, data_module.ReadOptions(**options))


@pytest.mark.parametrize("name", sorted(BODIES))
def test_arrow_reads_what_the_careful_reader_reads(name, write, monkeypatch):
    encoding = "latin-1" if name == "latin-1" else "utf-8"
    path = write("r.csv", BODIES[name].encode(encoding))
    fast = read_ratings(path)
    slow = _careful(monkeypatch, path)
    for field in FIELDS:
        assert np.array_equal(getattr(fast, field), getattr(slow, field)), field
    assert fast.line_numbers().tolist() == slow.line_numbers().tolist()


@pytest.mark.parametrize(
    ("route", "stream_from"), [("_read_long_arrow", None), ("_read_long_streamed", 0)]
)
def test_common_files_take_the_arrow_path(route, stream_from, write, monkeypatch):
    """Read whole (files below stream.STREAM_FROM) or in slices, Arrow parses them."""
    if stream_from is not None:
        monkeypatch.setattr(stream, "STREAM_FROM", stream_from)
    taken = []
    original = getattr(data_module, route)
    monkeypatch.setattr(data_module, route, lambda *a: taken.append(original(*a)) or taken[-1])
    for name in ("comma, header", "tab, no header", "double colon", "blank lines"):
        read_ratings(write("r.csv", BODIES[name]))
    assert all(result is not None for result in taken) and len(taken) == 4


def _whole(monkeypatch, path):
    """The file read whole by Arrow (stdin and compressed files are)."""
    with monkeypatch.context() as patch:
        patch.setattr(stream, "opened", lambda source: None)
        return read_ratings(path)


def _same(one, other) -> None:
    for field in FIELDS:
        assert np.array_equal(getattr(one, field), getattr(other, field)), field
    assert one.line_numbers().tolist() == other.line_numbers().tolist()


@pytest.mark.parametrize("slice_bytes", [7, 23, 64])
@pytest.mark.parametrize("name", sorted(BODIES))
def test_a_file_read_in_slices_is_the_file_read_whole(name, slice_bytes, write, monkeypatch):
    """Slices of a few bytes (a line or two each): IDs coded in order of first appearance
    across slices, line numbers across blank lines, CRLF pairs cut between slices, a
    two-character delimiter, and the text Arrow declines (Latin-1) read as before."""
    encoding = "latin-1" if name == "latin-1" else "utf-8"
    path = write("r.csv", BODIES[name].encode(encoding))
    whole = _whole(monkeypatch, path)
    monkeypatch.setattr(stream, "STREAM_FROM", 0)
    monkeypatch.setattr(stream, "SLICE_BYTES", slice_bytes)
    _same(read_ratings(path), whole)


def test_many_slices_of_random_ratings_with_repeats_and_blank_lines(write, monkeypatch):
    rng = np.random.default_rng(3)
    rows = [f"u{rng.integers(300)},i{rng.integers(200)},{rng.integers(1, 6)}" for _ in range(4000)]
    for at in rng.choice(len(rows), 40, replace=False):
        rows[at] = ""
    path = write("r.csv", "\ufeffuser,item,rating\r\n" + "\r\n".join(rows))  # no last newline
    with monkeypatch.context() as patch:
        patch.setattr(stream, "STREAM_FROM", 0)
        patch.setattr(stream, "SLICE_BYTES", 1000)
        sliced = read_ratings(path, data_module.ReadOptions(duplicates="mean"))
    assert len(sliced.user_ids) == 300 and sliced.lines is not None
    _same(sliced, _careful(monkeypatch, path, duplicates="mean"))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("u9,B,abc", r"line 901, column 3 \(rating\): 'abc' is not a number"),
        ("u9\x00,B,3", r"line 901: holds a NUL byte"),
        ("u9,B", r"line 901, column 3 \(rating\): missing rating"),
        ("u9,B,3,4", r"line 901: expected 3 fields, found 4"),
    ],
)
def test_a_bad_line_in_a_later_slice_is_named_as_before(bad, message, write, monkeypatch):
    rows = [f"u{r % 7},i{r},{1 + r % 5}" for r in range(1000)]
    rows[899] = bad
    path = write("r.csv", "user,item,rating\n" + "\n".join(rows) + "\n")
    monkeypatch.setattr(stream, "STREAM_FROM", 0)
    monkeypatch.setattr(stream, "SLICE_BYTES", 100)
    with pytest.raises(DataError, match=message):
        read_ratings(path)


def test_a_repeat_below_blank_lines_is_named_by_its_line(write):
    path = write("r.csv", "user,item,rating\nu1,A,4\n\nu2,B,3\n\nu1,A,5\n")
    with pytest.raises(DataError, match=r"line 6: duplicate .*first at line 2"):
        read_ratings(path)


def _table() -> pa.Table:
    return pa.table(
        {
            "userId": pa.array([3, 1, 3, 2], type=pa.int64()),
            "movieId": pa.array(["m9", "m1", "m1", "m9"]),
            "rating": pa.array([4.5, 3.0, 2.0, 5.0]),
            "timestamp": pa.array([1, 2, 3, 4]),
        }
    )


@pytest.mark.parametrize("kind", ["parquet", "feather", "arrow-stream"])
def test_parquet_and_arrow_files_read_as_their_csv(kind, tmp_path, write):
    path = tmp_path / "ratings.bin"  # no telling suffix: detected by content
    table = _table()
    if kind == "parquet":
        pq.write_table(table, path)
    elif kind == "feather":
        feather.write_feather(table, path)
    else:
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as out:
            out.write_table(table)
    csv = write(
        "r.csv", "userId,movieId,rating,timestamp\n3,m9,4.5,1\n1,m1,3,2\n3,m1,2,3\n2,m9,5,4\n"
    )
    got, want = read_ratings(path), read_ratings(csv)
    for field in FIELDS:
        assert np.array_equal(getattr(got, field), getattr(want, field)), field
    users, items = read_pairs(path)
    assert users.tolist() == ["3", "1", "3", "2"] and items.tolist() == ["m9", "m1", "m1", "m9"]


def test_parquet_problems_name_the_row(tmp_path):
    path = tmp_path / "r.parquet"
    table = _table().set_column(2, "rating", pa.array([4.5, None, 2.0, 5.0]))
    pq.write_table(table, path)
    with pytest.raises(DataError, match=r"row 2, column rating: missing rating"):
        read_ratings(path)
    pq.write_table(_table().set_column(1, "movieId", pa.array(["a", "b", None, "c"])), path)
    with pytest.raises(DataError, match=r"row 3, column movieId: missing item"):
        read_ratings(path)
    path.write_bytes(b"PAR1 truncated PAR1")
    with pytest.raises(DataError, match="parquet file is corrupt"):
        read_ratings(path)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", "missing item"),
        ("  ", "missing item"),
        (None, "missing item"),
        ("m7\x00", "the ID holds a NUL character"),
    ],
)
@pytest.mark.parametrize("stored", ["text", "dictionary"])
def test_a_bad_text_id_in_a_later_row_group_is_named_by_its_row(bad, message, stored, tmp_path):
    """Text IDs are judged by their distinct values: the row named is still the first that
    holds a bad one, in whichever of the file's row groups it stands; the good rows around it
    read as before."""
    items = [f"m{r % 50}" for r in range(1000)]
    items[737] = bad
    column = pa.array(items) if stored == "text" else pa.array(items).dictionary_encode()
    table = pa.table({"user": [f"u{r}" for r in range(1000)], "item": column,
                      "rating": np.full(1000, 3.0)})  # fmt: skip
    path = tmp_path / "r.parquet"
    pq.write_table(table, path, row_group_size=100)
    with pytest.raises(DataError, match=rf"r\.parquet, row 738, column item: {message}"):
        read_ratings(path)
    with pytest.raises(DataError, match=rf"r\.parquet, row 738, column item: {message}"):
        read_pairs(path)
    items[737] = "m7"
    pq.write_table(table.set_column(1, "item", pa.array(items)), path, row_group_size=100)
    assert read_ratings(path).n_items == 50 and len(read_pairs(path)[1]) == 1000


def test_a_dictionary_value_no_row_uses_is_not_a_bad_id(tmp_path):
    """A writer's dictionary may hold values no row points to: an empty one among them is no
    missing ID, and no ID of the vocabulary."""
    users = pa.DictionaryArray.from_arrays(pa.array([0, 2, 0, 2], pa.int32()),
                                           pa.array(["a", "", "b", "m\x00"]))  # fmt: skip
    table = pa.table({"user": users, "item": ["x", "y", "y", "x"], "rating": [1.0, 2.0, 3.0, 4.0]})
    path = tmp_path / "d.arrow"
    feather.write_feather(table, path)
    data = read_ratings(path)
    assert data.user_ids.tolist() == ["a", "b"] and data.users.tolist() == [0, 1, 0, 1]


def test_train_and_predict_from_parquet_on_the_command_line(tmp_path):
    rng = np.random.default_rng(0)
    n = 3000
    table = pa.table(
        {
            "user": rng.integers(0, 100, n),
            "item": rng.integers(0, 50, n),
            "rating": rng.integers(1, 6, n).astype(float),
        }
    )
    keys = np.unique(table["user"].to_numpy() * 50 + table["item"].to_numpy(), return_index=True)[1]
    pq.write_table(table.take(np.sort(keys)), tmp_path / "r.parquet")
    pq.write_table(table.select(["user", "item"]).slice(0, 5), tmp_path / "p.parquet")
    run = [sys.executable, "-m", "recfactor"]
    model = str(tmp_path / "m.model")
    subprocess.run([*run, "train", str(tmp_path / "r.parquet"), "-m", model, "-q"], check=True)
    out = subprocess.run(
        [*run, "predict", str(tmp_path / "p.parquet"), "-m", model],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert out[0] == "user,item,prediction,cold" and len(out) == 6
    assert all(1 <= float(line.split(",")[2]) <= 5 for line in out[1:])


def test_a_damaged_parquet_footer_is_one_error_line(tmp_path):
    """Arrow's text for some damaged footers ends in a line break ("Couldn't deserialize
    thrift: ... Invalid data\n"): the error is still one line, then its hint."""
    import io

    from tests.test_corpus import invoke

    table = pa.table({"u": [f"u{k % 8}" for k in range(40)], "i": [f"i{k // 8}" for k in range(40)],
                      "r": [float(1 + k % 5) for k in range(40)]})  # fmt: skip
    buf = io.BytesIO()
    pq.write_table(table, buf)
    raw = buf.getvalue()
    for cut in range(len(raw) - 9, 8, -1):  # the footer's cuts first: some break thrift's text
        damaged = raw[:cut] + raw[-8:]
        try:
            pq.ParquetFile(pa.BufferReader(pa.py_buffer(damaged))).read()
        except Exception as exc:  # whichever of Arrow's errors: one whose text breaks a line
            if "\n" in str(exc):
                break
    (tmp_path / "r.parquet").write_bytes(damaged)
    code, _, err = invoke(["train", str(tmp_path / "r.parquet"), "-m", str(tmp_path / "m")])
    lines = err.splitlines()
    assert code == 1 and len(lines) == 2, err
    assert lines[0].startswith("error: ") and "corrupt or truncated" in lines[0]
    assert lines[1].startswith("hint: ")


def test_pair_codes_hold_each_distinct_id_once(write):
    users, items = read_pair_codes(write("p.csv", "user,item\nu1,A\nu2,A\nu1,B\nu1,A\n"))
    assert users.ids.tolist() == ["u1", "u2"] and users.codes.tolist() == [0, 1, 0, 0]
    assert items.ids.tolist() == ["A", "B"] and items.codes.tolist() == [0, 0, 1, 0]


def test_six_significant_digits_as_printf_writes_them():
    rng = np.random.default_rng(3)
    values = np.r_[
        rng.uniform(-10, 10, 20_000),
        rng.lognormal(0, 8, 20_000) * rng.choice([-1, 1], 20_000),
        [0.0, -0.0, 4.0, 1e-4, 9.999996, 99999.95, 0.5, 2.5e-5, 1e6, np.inf, -np.inf, np.nan],
    ]
    got = csvout.format_g6(values).to_pylist()
    assert got == [f"{x:.6g}" for x in values]


MODELS = [("svd", {}), ("svd", {"bias": False}), ("als", {}), ("nmf", {}), ("baseline", {})]


@pytest.mark.parametrize(("algo", "options"), MODELS)
def test_compiled_predictions_equal_numpys(algo, options, monkeypatch):
    import recfactor.models.scoring as base
    from recfactor.dataset import Dataset

    rng = np.random.default_rng(1)
    n = 20_000
    data = Dataset.from_arrays(rng.integers(0, 400, n), rng.integers(0, 200, n),
                               rng.integers(1, 6, n), duplicates="last")  # fmt: skip
    model = model_class(algo)(**options).fit(data)
    u = np.r_[data.users[:5000], [-1, 3, -1]]
    i = np.r_[data.items[:5000], [5, -1, -1]]
    monkeypatch.setattr(base, "COMPILED_PREDICT_WORK", 1)
    monkeypatch.setattr(base, "COMPILED_PREDICT_MIN_LOADED", 1)
    compiled = model.predict_index(u, i)
    monkeypatch.setattr(base, "COMPILED_PREDICT_WORK", 10**18)
    monkeypatch.setattr(base, "COMPILED_PREDICT_MIN_LOADED", 10**9)
    plain = model.predict_index(u, i)
    np.testing.assert_allclose(compiled, plain, rtol=0, atol=1e-12)
    assert compiled.min() >= 1 and compiled.max() <= 5


def test_parquet_with_several_row_groups(tmp_path):
    """Row groups are chunks, each with its own dictionary of IDs (an AttributeError once)."""
    n = 1000
    table = pa.table({"user": np.arange(n) % 37, "item": np.arange(n) // 37,
                      "rating": np.arange(n) % 5 + 1.0})  # fmt: skip
    pq.write_table(table, tmp_path / "r.parquet", row_group_size=100)
    got = read_ratings(tmp_path / "r.parquet")
    assert got.n_ratings == n and got.n_users == 37 and got.n_items == 28
    assert got.user_ids[:3].tolist() == ["0", "1", "2"]  # order of first appearance
    assert np.array_equal(got.ratings, table["rating"].to_numpy())
    users, _ = read_pairs(tmp_path / "r.parquet")
    assert users[-1] == str((n - 1) % 37)


def test_train_reads_a_pipe_once(tmp_path):
    """The data file's hash is taken beside the read for a regular file only: a pipe read
    twice at once would be split between the readers (or wait forever for a second writer)."""
    import os
    import threading

    fifo = tmp_path / "ratings.csv"
    os.mkfifo(fifo)
    rows = "user,item,rating\n" + "".join(
        f"u{k % 50},i{k // 50},{k % 5 + 1}\n" for k in range(2000)
    )

    def feed() -> None:
        with open(fifo, "w") as pipe:
            pipe.write(rows)

    threading.Thread(target=feed, daemon=True).start()
    model = tmp_path / "m.model"
    out = subprocess.run(
        [sys.executable, "-m", "recfactor", "train", str(fifo), "-m", str(model), "-q"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1].split(",")[2:5] == ["50", "40", "2000"]
    from recfactor import persist

    assert persist.read_manifest(model)["data"]["sha256"] is None


@pytest.mark.parametrize("compiled", [False, True])
def test_repeats_found_alike_by_the_sort_and_the_compiled_grouping(compiled, write, monkeypatch):
    import recfactor.dataset as dataset_module

    monkeypatch.setattr(dataset_module, "COMPILED_REPEATS_MIN", 0 if compiled else 10**9)
    body = "user,item,rating\nu1,A,4\nu2,A,3\nu2,B,2\nu1,B,1\nu2,A,5\nu1,A,2\n"
    with pytest.raises(DataError, match=r"line 6: duplicate .*\(first at line 3\)"):
        read_ratings(write("r.csv", body))
    merged = read_ratings(write("r.csv", body), data_module.ReadOptions(duplicates="mean"))
    assert merged.ratings.tolist() == [3.0, 4.0, 2.0, 1.0]
    distinct = read_ratings(write("d.csv", "user,item,rating\nu1,A,4\nu2,A,3\nu1,B,1\n"))
    if compiled:  # the grouping is handed to the fit as the seen-items index
        indptr, seen = distinct.seen_by_user
        assert indptr.tolist() == [0, 2, 3] and seen.tolist() == [0, 1, 0]
    else:
        assert distinct.seen_by_user is None


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be-marked", "utf-32"])
@pytest.mark.parametrize("stream_from", [None, 0])
def test_unicode_text_with_a_byte_order_mark_reads_as_its_utf8(
    codec, stream_from, write, monkeypatch
):
    """Excel saves "Unicode text" as UTF-16 with a byte-order mark: the same ratings as the
    UTF-8 file, read whole or where a large file would be read in slices."""
    body = BODIES["comma, header"].replace("u1", "üser 1")
    utf8 = read_ratings(write("r8.csv", body.encode("utf-8")))
    raw = ("\ufeff" + body).encode("utf-16-be") if codec.endswith("marked") else body.encode(codec)
    if stream_from is not None:
        monkeypatch.setattr(stream, "STREAM_FROM", stream_from)
    _same(read_ratings(write("r16.csv", raw)), utf8)


def test_text_that_begins_as_utf16_and_does_not_decode_is_named(write):
    path = write("r.csv", b"\xff\xfe" + "user,item".encode("utf-16-le") + b"\x00\xd8\x41")
    with pytest.raises(DataError, match="begins as UTF-16 text but does not decode") as info:
        read_ratings(path)
    assert info.value.hint == "save the file as UTF-8"


@pytest.mark.parametrize("stream_from", [None, 0])
def test_comment_lines_heading_a_file_are_skipped_and_the_lines_keep_their_numbers(
    stream_from, write, monkeypatch
):
    """SNAP's edge lists begin "# Nodes: ...", KONECT's "% sym unweighted": read as rows,
    they were a confusing error ("expected 4 fields, found 5"). "#tag" stays an ID."""
    if stream_from is not None:
        monkeypatch.setattr(stream, "STREAM_FROM", stream_from)
    body = "1\t10\t4\n2\t20\t3\n1\t30\t5\n"
    plain = read_ratings(write("plain.tsv", body))
    for preamble in ("# Directed graph\n# FromNodeId\tToNodeId\tWeight\n", "% sym\r\n%\r\n"):
        read = read_ratings(write("commented.tsv", preamble + body))
        for field in FIELDS:
            assert np.array_equal(getattr(read, field), getattr(plain, field)), field
        assert read.line_numbers().tolist() == [3, 4, 5]
    with pytest.raises(DataError, match=r"line 3, column 3 \(rating\): 'x' is not a number"):
        read_ratings(write("bad.tsv", "# c\n" + body.replace("\t3\n", "\tx\n")))
    tagged = read_ratings(write("tags.csv", "#a,i1,3\n#b,i2,4\n#a,i2,5\n"))
    assert tagged.user_ids.tolist() == ["#a", "#b"]
    numbered = read_ratings(write("rows.tsv", "#\tuser\titem\trating\n1\tu1\ti1\t4\n"))
    assert numbered.user_ids.tolist() == ["u1"]  # a header whose first column is named #


@pytest.mark.parametrize("stream_from", [None, 0])
def test_a_matrix_market_coordinate_file_reads_as_its_entries(stream_from, write, monkeypatch):
    """Its banner and comments skipped, and its line of sizes too: read as a row, "3 3 4"
    was a rating of 4 by user 3 of item 3 that nobody gave."""
    if stream_from is not None:
        monkeypatch.setattr(stream, "STREAM_FROM", stream_from)
    body = "%%MatrixMarket matrix coordinate real general\n% made by hand\n3 3 4\n"
    read = read_ratings(write("m.mtx", body + "1 1 5\n1 2 3\n2 3 4\n3 1 2\n"))
    assert read.n_ratings == 4 and read.line_numbers().tolist() == [4, 5, 6, 7]
    pairs = sorted(zip(read.user_ids[read.users], read.item_ids[read.items], read.ratings))
    assert pairs == [("1", "1", 5), ("1", "2", 3), ("2", "3", 4), ("3", "1", 2)]
