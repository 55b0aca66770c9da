from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import zipfile

import numpy as np
import pyarrow as pa
import pytest

from recfactor.errors import DataError
from recfactor.io.pairs import read_pairs
from recfactor.io.ratings import Dataset, ReadOptions, read_ratings

ROWS = [("1", "A", 4.5), ("2", "B", 3.0), ("1", "C", 5.0), ("3", "A", 2.5)]


def as_triples(d: Dataset) -> list[tuple[str, str, float]]:
    return [
        (str(d.user_ids[u]), str(d.item_ids[i]), float(r))
        for u, i, r in zip(d.users, d.items, d.ratings)
    ]


@pytest.mark.parametrize(
    ("sep", "header"),
    [
        (",", "user_id,movie_id,rating\n"),
        ("\t", ""),
        ("::", ""),
        (";", "user;item;score\n"),
        ("|", ""),
        (" ", ""),
        (",", "userId,movieId,rating,timestamp\n"),
    ],
)
def test_delimiter_and_header_detected(write, sep, header):
    extra = sep + "881250949" if "timestamp" in header else ""
    body = "".join(f"{u}{sep}{i}{sep}{r}{extra}\n" for u, i, r in ROWS)
    d = read_ratings(write("r.txt", header + body))
    assert as_triples(d) == ROWS
    first_line = 2 if header else 1
    assert d.line_numbers().tolist() == list(range(first_line, first_line + 4))


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("u1\t\ti2\t4\nu2\ti1\t3\nu3\ti2\t5\n", "line 1, column 2 (item): missing item"),
        ("u1\ti2\t4\nu2\ti1\t3\nu3\t\ti2\t5\n", "line 3: expected 3 fields, found 4"),
    ],
)
def test_two_tabs_in_a_row_are_an_empty_field_not_one_separator(write, text, error):
    """Only blanks aligned with spaces run together: in a tab-separated file the row
    `u1<TAB><TAB>i2<TAB>4` has an empty item, where it was read as (u1, i2, 4)."""
    with pytest.raises(DataError, match=re.escape(error)):
        read_ratings(write("r.tsv", text))
    aligned = read_ratings(write("r.txt", "u1  i2 4\nu2 i1  3\n"))
    assert as_triples(aligned) == [("u1", "i2", 4.0), ("u2", "i1", 3.0)]


@pytest.mark.parametrize(
    ("text", "feedback", "first_user", "n_ratings"),
    [
        # A first row with a number in it is data, whatever its IDs look like.
        ('"1,2",A,5\n2,B,4\n', "explicit", "1,2", 2),
        ("u1,A,5\n2,B,4\n", "explicit", "u1", 2),
        # Unknown column names over numbers: a header.
        ("customer,product,amount\n7,B,2\n8,C,3\n", "explicit", "7", 2),
        # Names only, in a column that is not a number in every later row: data.
        ("alice,item1\nbob,42\ncarol,item3\n", "implicit", "alice", 3),
        ("alice,bread\n", "implicit", "alice", 1),
    ],
)
def test_header_detection_never_drops_a_rating(write, text, feedback, first_user, n_ratings):
    d = read_ratings(write("r.csv", text), ReadOptions(feedback=feedback))
    assert d.n_ratings == n_ratings
    assert str(d.user_ids[d.users[0]]) == first_user


def test_movielens_layout_needs_no_flags(write):
    d = read_ratings(write("u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n"))
    assert as_triples(d) == [("196", "242", 3.0), ("186", "302", 3.0)]


def test_ids_stay_strings(write):
    d = read_ratings(write("r.csv", "1,001,4\n1.0,movie:42,5\n"))
    assert d.user_ids.tolist() == ["1", "1.0"]
    assert d.item_ids.tolist() == ["001", "movie:42"]


@pytest.mark.parametrize(
    ("suffix", "pack"),
    [
        (".gz", gzip.compress),
        (".bz2", bz2.compress),
        (".xz", lzma.compress),
        (".zst", lambda data: pa.Codec("zstd").compress(data, asbytes=True)),
        (".zip", None),
    ],
)
def test_compressed_input(write, suffix, pack):
    text = "user,item,rating\n" + "".join(f"{u},{i},{r}\n" for u, i, r in ROWS)
    if pack is None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("ratings.csv", text)
        data = buffer.getvalue()
    else:
        data = pack(text.encode())
    assert as_triples(read_ratings(write("r.csv" + suffix, data))) == ROWS


def test_columns_by_name_and_position(write):
    path = write("r.csv", "ts,stars,who,what\n9,4,u1,i1\n9,2,u2,i1\n")
    by_name = read_ratings(path, ReadOptions(user_col="who", item_col="what", rating_col="stars"))
    by_pos = read_ratings(path, ReadOptions(user_col="3", item_col="4", rating_col="2"))
    assert as_triples(by_name) == as_triples(by_pos) == [("u1", "i1", 4.0), ("u2", "i1", 2.0)]


@pytest.mark.parametrize(
    ("header", "missing"),
    [("item,rating", "user"), ("user,rating", "item"), ("movie_id,stars", "user")],
)
def test_a_side_the_header_does_not_name_is_named_missing(write, header, missing):
    """Two columns, one side named: the other side's place by position is the named one's,
    so that side is missing (a user's own ratings, "item,rating", without the user); it was
    "user, item and rating must be different columns"."""
    path = write("r.csv", f"{header}\na,4\nb,5\n")
    with pytest.raises(DataError, match=rf"r.csv, line 1: found no {missing} column \(2 columns"):
        read_ratings(path)


def test_implicit_without_rating_column_counts_one(write):
    d = read_ratings(write("r.csv", "user,item\na,x\nb,x\na,y\n"), ReadOptions(feedback="implicit"))
    assert as_triples(d) == [("a", "x", 1.0), ("b", "x", 1.0), ("a", "y", 1.0)]


def test_wide_layout_with_missing_zeros(write):
    path = write("m.csv", "user,m1,m2,m3\n1,5,3,0\n2,4,0,0\n3,1,1,0\n")
    d = read_ratings(path, ReadOptions(layout="wide", missing_values=(0.0,)))
    assert sorted(as_triples(d)) == sorted(
        [("1", "m1", 5.0), ("1", "m2", 3.0), ("2", "m1", 4.0), ("3", "m1", 1.0), ("3", "m2", 1.0)]
    )
    kept = read_ratings(path, ReadOptions(layout="wide", feedback="implicit"))
    # Implicit feedback reads unobserved as zero, so zero cells need no entry; 1s stay.
    assert kept.n_ratings == 5 and kept.ratings.min() == 1.0


def test_wide_layout_names_a_bad_cell_as_written(write):
    with pytest.raises(DataError, match=r"m.csv, line 2, column 3: 'x' is not a finite number"):
        read_ratings(write("m.csv", ",A,B\nu1,1,x\n"), ReadOptions(layout="wide"))


def test_wide_layout_names_a_negative_cell_by_its_item(write):
    """A matrix has no one rating column: NMF's refusal of a negative cell names the cell's
    line and its item's column (it named a column 'rating' the file does not have)."""
    from recfactor.models import model_class

    data = read_ratings(write("m.csv", ",A,B\nu1,1,2\nu2,3,-4\n"), ReadOptions(layout="wide"))
    with pytest.raises(DataError, match=r"m.csv, line 3, the column of item 'B': -4 is negative"):
        model_class("nmf")().fit(data)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (",A,A\nu1,1,2\n", "m.csv, line 1, column 3: item 'A' repeats"),
        (",A,B\nu1,1,2\nu1,3,4\n", "m.csv, line 3, column 1: user 'u1' repeats"),
    ],
)
def test_wide_layout_names_a_repeated_label(write, text, message):
    with pytest.raises(DataError, match=message):
        read_ratings(write("m.csv", text), ReadOptions(layout="wide"))


def test_wide_layout_without_labels(write):
    d = read_ratings(write("m.csv", "1,2\n3,\n"), ReadOptions(layout="wide"))
    assert sorted(as_triples(d)) == [("1", "1", 1.0), ("1", "2", 2.0), ("2", "1", 3.0)]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("last", 2.0), ("mean", 3.0), ("sum", 6.0)],
)
def test_duplicate_policies(write, policy, expected):
    d = read_ratings(write("r.csv", "a,x,4\nb,x,1\na,x,2\n"), ReadOptions(duplicates=policy))
    assert as_triples(d) == [("a", "x", expected), ("b", "x", 1.0)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("u,i,r\n1,A,4\n2,B,abc\n", "r.csv, line 3, column 3 (r): 'abc' is not a number"),
        ("1,A,4\n2,B,inf\n", "r.csv, line 2, column 3 (rating): 'inf' is not finite"),
        ("1,A,4\n2,B,nan\n", "r.csv, line 2, column 3 (rating): 'nan' is not a number"),
        ("1,A,4\n2,B\n", "r.csv, line 2, column 3 (rating): missing rating"),
        ("1,A,4\n2,B,3,9\n", "r.csv, line 2: expected 3 fields, found 4 (ragged row)"),
        ("1,A,4\n,B,3\n", "r.csv, line 2, column 1 (user): missing user"),
        ("1,A,4\n\n2,B,x\n", "r.csv, line 3, column 3 (rating): 'x' is not a number"),
        ("", "r.csv: the file is empty"),
        ("\n\n", "r.csv: the file is empty"),
        ("user,item,rating\n", "r.csv: has a header but no ratings"),
        ("1,A,4\n1,A,5\n", "r.csv, line 2: duplicate rating for the same user and item (first at "),
        ("user,item\n1,A\n", "r.csv, line 1: found no rating column"),
        ("justonecolumn\nmore\n", "r.csv, line 1: found a single column"),
    ],
)
def test_bad_input_names_file_line_and_column(write, text, message):
    with pytest.raises(DataError) as err:
        read_ratings(write("r.csv", text))
    assert err.value.message.startswith(message.replace("r.csv", str(write("r.csv", text))))
    assert "\n" not in err.value.message


def test_missing_file_and_binary(write, tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_ratings(tmp_path / "absent.csv")
    with pytest.raises(DataError, match="binary"):
        read_ratings(write("b.csv", b"\x00\x01\x02" * 10))
    with pytest.raises(DataError, match="corrupt or truncated"):
        read_ratings(write("t.csv.gz", gzip.compress(b"1,A,4\n" * 100)[:30]))


def test_unknown_column_name_lists_columns(write):
    with pytest.raises(DataError, match="no column 'stars'") as err:
        read_ratings(write("r.csv", "user,item,rating\n1,A,4\n"), ReadOptions(rating_col="stars"))
    assert "user, item, rating" in err.value.hint


def test_read_pairs_keeps_order_and_duplicates(write):
    users, items = read_pairs(write("p.tsv", "1\t20\t5\t9\n1\t20\t3\t9\n2\tB\t1\t9\n"))
    assert users.tolist() == ["1", "1", "2"]
    assert items.tolist() == ["20", "20", "B"]


def test_compact_drops_unused_ids():
    d = Dataset.from_arrays(["a", "b", "c"], ["x", "y", "z"], [1, 2, 3])
    sub = d.subset(np.array([0, 2])).compact()
    assert sub.user_ids.tolist() == ["a", "c"]
    assert sub.item_ids.tolist() == ["x", "z"]
    assert sub.users.tolist() == [0, 1]


def test_positions_in_another_dataset_match_a_lookup_by_id():
    from recfactor.dataset import index_in

    rng = np.random.default_rng(3)
    whole = Dataset.from_arrays(
        [f"u{k}" for k in rng.integers(0, 40, 500)],
        [f"i{k}" for k in rng.integers(0, 60, 500)],
        rng.integers(1, 6, 500),
        duplicates="last",
    )
    chosen = rng.random(whole.n_ratings) < 0.5
    train, test = whole.subset(chosen).compact(), whole.subset(~chosen)
    users, items = test.positions_in(train)
    expected_u = index_in(train.user_ids, test.user_ids[test.users])
    expected_i = index_in(train.item_ids, test.item_ids[test.items])
    assert users.tolist() == expected_u.tolist() and items.tolist() == expected_i.tolist()
    assert (users == -1).any() or (items == -1).any()  # some test IDs are not in training
    known = users >= 0
    assert (train.user_ids[users[known]] == test.user_ids[test.users[known]]).all()
    assert index_in(np.array([], dtype=str), ["a"]).tolist() == [-1]


@pytest.mark.parametrize("n", [1, 7, 500])
def test_compact_renumbers_as_np_unique_does(n):
    from recfactor.dataset import _renumber

    index = np.random.default_rng(n).integers(0, n, 3000).astype(np.int32)
    used, renumbered = _renumber(index, n + 5)  # some indices never occur
    expected_used, expected = np.unique(index, return_inverse=True)
    assert used.tolist() == expected_used.tolist()
    assert renumbered.tolist() == expected.tolist() and renumbered.dtype == np.int32


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("user,item\n", "p.csv: has a header but no user,item pairs"),
        ("1\n2\n", "p.csv, line 1: found a single column; expected user and item columns"),
    ],
)
def test_bad_pairs_files_are_described_as_pairs(write, text, message):
    with pytest.raises(DataError, match=message):
        read_pairs(write("p.csv", text))


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_any_line_end_with_blank_lines_above_the_data(write, end):
    text = end.join(["", "", "user,item,rating", "1,A,5", "2,B,4", ""])
    long = read_ratings(write("r.csv", text))
    assert as_triples(long) == [("1", "A", 5.0), ("2", "B", 4.0)]
    assert long.line_numbers().tolist() == [4, 5]
    bad = text.replace("2,B,4", "2,B,x")
    with pytest.raises(DataError, match=r"r.csv, line 5, column 3 \(rating\): 'x'"):
        read_ratings(write("r.csv", bad))
    matrix = end.join(["", ",A,B", "u1,1,", "u2,,2", ""])
    wide = read_ratings(write("m.csv", matrix), ReadOptions(layout="wide"))
    assert as_triples(wide) == [("u1", "A", 1.0), ("u2", "B", 2.0)]
    assert wide.line_numbers().tolist() == [3, 4]


def test_a_few_ids_are_looked_up_as_many_are(monkeypatch):
    import recfactor.dataset as dataset_module
    from recfactor.dataset import index_in

    rng = np.random.default_rng(4)
    vocabulary = np.array([f"u{k}" for k in rng.permutation(5000)])
    query = ["u17", "nobody", "u4999", "u0", "", "u17"]
    direct = index_in(vocabulary, query)
    monkeypatch.setattr(dataset_module, "DIRECT_LOOKUPS", 0)
    assert direct.tolist() == index_in(vocabulary, query).tolist()
    assert vocabulary[direct[0]] == "u17" and direct[1] == -1 and direct[4] == -1


def test_a_matrix_of_many_columns_reads_whole_and_is_not_taken_for_rows(write):
    """A header line longer than the sniffer's 64 KB (and csv's 128 KB field limit): the
    matrix is recognised without --layout wide, and read whole with it."""
    rng = np.random.default_rng(0)
    values = rng.integers(1, 6, (4, 30_000))
    lines = ["user," + ",".join(f"item{j}" for j in range(values.shape[1]))]
    lines += [f"u{r}," + ",".join(map(str, row)) for r, row in enumerate(values)]
    path = write("wide.csv", "\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"line 1: looks like a matrix \(30000 item columns"):
        read_ratings(path)
    data = read_ratings(path, ReadOptions(layout="wide"))
    assert (data.n_users, data.n_items, data.n_ratings) == (4, 30_000, 120_000)
    u = int(np.flatnonzero(data.user_ids == "u3")[0])
    i = int(np.flatnonzero(data.item_ids == "item29999")[0])
    assert data.ratings[(data.users == u) & (data.items == i)][0] == values[3, -1]


def test_pandas_to_csv_of_a_matrix_reads_with_its_header(tmp_path):
    """DataFrame.to_csv writes an empty corner cell above the users and numeric item IDs: the
    header row was read as a user named '' whose ratings were the item IDs."""
    import pandas as pd

    frame = pd.DataFrame([[5, 0, 3], [4, 2, 0]], index=["ann", "bob"], columns=[101, 102, 103])
    frame.to_csv(tmp_path / "m.csv")
    with pytest.raises(DataError, match="looks like a matrix"):
        read_ratings(tmp_path / "m.csv")
    data = read_ratings(tmp_path / "m.csv", ReadOptions(layout="wide", missing_values=(0.0,)))
    assert sorted(data.user_ids) == ["ann", "bob"]
    assert sorted(data.item_ids) == ["101", "102", "103"]
    assert data.n_ratings == 4 and sorted(data.ratings) == [2, 3, 4, 5]


def test_an_id_with_a_nul_is_refused_not_merged(tmp_path):
    """numpy's strings drop trailing NULs: 'u1\\0' became a second user named 'u1'."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"user": ["u1", "u1\x00", "u2"], "item": ["a", "b", "a"],
                      "rating": [1.0, 2.0, 3.0]})  # fmt: skip
    pq.write_table(table, tmp_path / "r.parquet")
    with pytest.raises(DataError, match="row 2, column user: the ID holds a NUL"):
        read_ratings(tmp_path / "r.parquet")
    text = "user,item,rating\n" + "".join(f"u{k},i{k % 7},3\n" for k in range(1000))
    (tmp_path / "r.csv").write_text(text + "u1\x00,b,2\n")
    with pytest.raises(DataError, match="line 1002: holds a NUL byte"):
        read_ratings(tmp_path / "r.csv")


def test_windows_1252_text_reads_as_windows_1252_not_latin_1(tmp_path):
    """Bytes 0x80-0x9F are curly quotes and dashes in Windows-1252, control characters in
    Latin-1: a title file saved by Windows shows its quotes, not invisible characters."""
    from recfactor.io.pairs import read_item_names

    titles = tmp_path / "titles.csv"
    titles.write_bytes(b"item,title\n1,Caf\xe9 \x93Noir\x94 \x96 1995\n2,Na\xefve\n")
    assert read_item_names(titles) == {"1": "Café “Noir” – 1995", "2": "Naïve"}  # noqa: RUF001
    latin = tmp_path / "latin.csv"  # a byte Windows-1252 leaves undefined: Latin-1 then
    latin.write_bytes(b"item,title\n1,Caf\xe9\x81\n")
    assert read_item_names(latin) == {"1": "Café\x81"}


@pytest.mark.parametrize("seed", range(5))
def test_binary_bytes_without_a_nul_are_called_binary(tmp_path, seed):
    """Random bytes need not hold a NUL; their control characters tell them from text, which
    was refused as UTF-8 with a wrong byte 'though the file's other text is'."""
    rng = np.random.default_rng(seed)
    raw = bytes(rng.integers(1, 256, 300, dtype=np.uint8))  # no NUL
    path = tmp_path / "r.dat"
    path.write_bytes(raw)
    for read in (read_ratings, read_pairs):
        with pytest.raises(DataError, match="looks like a binary file"):
            read(path)


def test_a_stray_control_character_in_text_is_still_text(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(b"user,item,rating\nu1,i1,4\nu2,i\x07 2,3\nu1,i3,5\x0c\n")
    assert read_ratings(path).n_ratings == 3


@pytest.mark.parametrize(
    "text", ['[{"user": "a", "item": "x", "rating": 3}]', '\ufeff  [["a", "x", 3], ["b", "x", 4]]']
)
def test_json_is_named_as_json(tmp_path, text):
    """Read as CSV, JSON's fields were split on commas: "'rating: 3}' is not a number"."""
    path = tmp_path / "r.json"
    path.write_text(text, encoding="utf-8")
    for read in (read_ratings, read_pairs):
        with pytest.raises(DataError, match="looks like JSON, not delimited text"):
            read(path)


def test_json_lines_read_as_a_table_by_the_columns_names(tmp_path):
    """One JSON object a line (Yelp's and Amazon's review sets): columns by name, the rest
    left out, as a CSV file's header would give them."""
    path = tmp_path / "reviews.json"
    path.write_text(
        '{"review_id": "r1", "user_id": "u1", "business_id": "b1", "stars": 4, "text": "a, b"}\n'
        '{"review_id": "r2", "user_id": "u2", "business_id": "b1", "stars": 5, "text": "{"}\n'
    )
    assert as_triples(read_ratings(path)) == [("u1", "b1", 4.0), ("u2", "b1", 5.0)]
    assert [ids.tolist() for ids in read_pairs(path)] == [["u1", "u2"], ["b1", "b1"]]
    path.write_text('{"user": "a", "item": "x", "rating": 3}\n{"user": "b", "item": \n')
    with pytest.raises(DataError, match=r"reviews.json: not JSON lines \(JSON parse error"):
        read_ratings(path)
    path.write_text(
        '{"user": 1, "item": "x", "rating": 3}\n{"user": "b", "item": "x", "rating": 4}\n'
    )
    with pytest.raises(DataError, match="a column holds values of two types") as err:
        read_ratings(path)
    assert "every ID quoted" in err.value.hint


def test_an_id_in_brackets_is_not_json(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("[1],b,3\n[2],b,4\n")
    assert read_ratings(path).user_ids.tolist() == ["[1]", "[2]"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('<?xml version="1.0"?>\n<ratings><r u="1" i="2" v="3"/></ratings>\n', "XML or HTML"),
        ("<!DOCTYPE html>\n<html><body>1,2,3</body></html>\n", "XML or HTML"),
        ('<ratings>\n<r u="1"/>\n</ratings>\n', "XML or HTML"),
    ],
)
def test_markup_is_named_as_markup(tmp_path, text, said):
    path = tmp_path / "r.xml"
    path.write_text(text)
    with pytest.raises(DataError, match=f"looks like {said}, not delimited text"):
        read_ratings(path)


def test_an_id_in_angle_brackets_is_not_markup(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("<u1>,b,3\n<u2>,b,4\n")
    assert read_ratings(path).user_ids.tolist() == ["<u1>", "<u2>"]


def test_a_spreadsheet_workbook_is_named_as_one(tmp_path):
    path = tmp_path / "book.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    with pytest.raises(DataError, match="is a spreadsheet workbook, not delimited text"):
        read_ratings(path)


def test_a_zip_archive_of_several_files_names_them_and_an_empty_one_says_so(tmp_path):
    """MovieLens' archives hold several files: the message lists them; an empty archive was
    "a binary file"."""
    many = tmp_path / "ml.zip"
    with zipfile.ZipFile(many, "w") as archive:
        for member in ("ml/ratings.csv", "ml/movies.csv", "ml/README.txt"):
            archive.writestr(member, "user,item,rating\n1,2,3\n")
    with pytest.raises(DataError, match=r"holds 3 files, expected one \(ml/README.txt, "
                       r"ml/movies.csv, ml/ratings.csv\)") as info:  # fmt: skip
        read_ratings(many)
    assert "unzip -p" in info.value.hint
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(DataError, match=r"holds 0 files, expected one$"):
        read_ratings(empty)


def test_the_netflix_prize_layout_is_named_with_a_way_to_convert_it(tmp_path):
    """A movie's "1:" line, then its user,rating,date lines: it read "found a single column;
    hint: set the delimiter"."""
    path = tmp_path / "combined_data_1.txt"
    path.write_text("1:\n1488844,3,2005-09-06\n822109,5,2005-05-13\n2:\n2059652,4,2005-09-05\n")
    with pytest.raises(DataError, match="line 1: looks like the Netflix Prize layout") as info:
        read_ratings(path)
    assert "awk" in info.value.hint
    with pytest.raises(DataError, match="found a single column"):  # one column stays that
        read_ratings(tmp_path.joinpath("ids.txt").write_text("1\n2\n") and tmp_path / "ids.txt")


def test_a_decimal_comma_is_named_with_the_way_to_convert_it(write):
    """A European spreadsheet's ';'-separated export keeps its ratings' decimal commas."""
    with pytest.raises(DataError) as err:
        read_ratings(write("r.csv", "user;item;rating\n1;a;4,5\n2;b;3,0\n"))
    assert err.value.message.endswith("line 2, column 3 (rating): '4,5' is not a number")
    assert "decimal point, not a comma" in err.value.hint and "tr ',' '.'" in err.value.hint
    with pytest.raises(DataError) as err:  # a word is not a decimal comma
        read_ratings(write("r.csv", "user;item;rating\n1;a;good\n"))
    assert "decimal" not in err.value.hint


def test_excels_separator_line_is_skipped_and_the_lines_keep_their_numbers(write):
    """Excel writes "sep=;" before a CSV's header (and hides it when it reads one)."""
    d = read_ratings(write("r.csv", "sep=;\nuser;item;rating\n1;a;4\n2;b;3\n"))
    assert as_triples(d) == [("1", "a", 4.0), ("2", "b", 3.0)]
    with pytest.raises(DataError) as err:
        read_ratings(write("r.csv", "\ufeffsep=,\r\nuser,item,rating\r\n1,a,4\r\n2,b,x\r\n"))
    assert err.value.message.endswith("line 4, column 3 (rating): 'x' is not a number")


def test_a_header_repeated_inside_the_file_is_named_as_such(write):
    """Two CSV files joined with cat: the second's header stands among the ratings."""
    with pytest.raises(DataError) as err:
        read_ratings(write("r.csv", "user,item,rating\n1,a,4\nuser,item,rating\n2,b,3\n"))
    assert err.value.message.endswith("line 3, column 3 (rating): 'rating' is not a number")
    assert "header line appears again" in err.value.hint


@pytest.mark.parametrize("sliced", [False, True])
def test_a_header_repeated_among_pairs_is_refused_not_read_as_ids(write, sliced, monkeypatch):
    """Without a rating column nothing else would refuse the joined file's second header:
    it read as one more pair, user 'user' with item 'item'. Read whole or in slices."""
    from recfactor.io import stream

    if sliced:
        monkeypatch.setattr(stream, "STREAM_FROM", 0)
    implicit = ReadOptions(feedback="implicit")
    with pytest.raises(DataError) as err:
        read_ratings(write("r.csv", "user,item\n1,a\n\n2,b\nuser,item\n3,a\n"), implicit)
    assert err.value.message.endswith("line 5: repeats the header line ('user', 'item')")
    assert "keep only the first header line" in err.value.hint
    ids = read_ratings(write("r.csv", "user,item\n1,a\nuser,b\n3,item\n"), implicit)
    assert ids.n_ratings == 3  # the names as IDs, never in one row: read
