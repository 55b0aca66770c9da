"""Every output can go to a file (-o, format from the suffix, written atomically), batch predict
keeps the input's other columns, and Parquet input works wherever CSV does (issue 16)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from tests.cli import rows, run


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """40 users and 20 items with zero-padded item IDs ("007" must stay text), the ratings
    as CSV and as Parquet, a model trained on them, and titles as Parquet."""
    folder = tmp_path_factory.mktemp("outputs")
    rng = np.random.default_rng(8)
    pairs = [(f"u{u}", f"{i:03d}") for u in range(40) for i in rng.choice(20, 8, replace=False)]
    frame = pd.DataFrame(pairs, columns=["user", "item"])
    frame["rating"] = rng.integers(1, 6, len(frame))
    frame["timestamp"] = np.arange(len(frame)) + 880000000
    frame.to_csv(folder / "ratings.csv", index=False)
    frame.to_parquet(folder / "ratings.parquet", index=False)
    names = pd.DataFrame({"item": [f"{i:03d}" for i in range(20)],
                          "title": [f"Film {i}" for i in range(20)]})  # fmt: skip
    names.to_parquet(folder / "titles.parquet", index=False)
    model = folder / "shop.model"
    trained = run("train", folder / "ratings.parquet", "--algo", "als", "-k", "3", "-m", model,
                  "-q")  # fmt: skip
    assert trained.exit_code == 0, trained.output
    return folder, model, frame


def test_batch_predict_keeps_the_inputs_other_columns(shop):
    folder, model, frame = shop
    result = run("predict", folder / "ratings.csv", "-m", model, "--format", "csv")
    assert result.exit_code == 0, result.output
    got = rows(result.stdout)
    assert list(got[0]) == ["user", "item", "rating", "timestamp", "prediction", "cold"]
    assert [r["rating"] for r in got] == [str(v) for v in frame["rating"]]  # as written: 3
    assert [r["item"] for r in got[:3]] == list(frame["item"][:3])  # "007", not 7
    from_parquet = rows(run("predict", folder / "ratings.parquet", "-m", model).stdout)
    assert [r["prediction"] for r in from_parquet] == [r["prediction"] for r in got]
    as_json = json.loads(run("predict", folder / "ratings.csv", "-m", model, "--format",
                             "json").stdout)  # fmt: skip
    assert as_json[0]["rating"] == int(frame["rating"][0])
    assert as_json[0]["item"] == frame["item"][0]


def test_a_headerless_file_keeps_its_columns_with_the_readers_names(shop, tmp_path):
    _, model, _ = shop
    pairs = tmp_path / "u.test"
    pairs.write_text("u1\t003\t4\t881250949\nu2\t015\t2\t891717742\n")
    got = rows(run("predict", pairs, "-m", model, "--format", "csv").stdout)
    assert list(got[0]) == ["user", "item", "rating", "column4", "prediction", "cold"]
    assert [(r["rating"], r["column4"]) for r in got] == [("4", "881250949"), ("2", "891717742")]


def test_an_input_column_named_like_an_output_column_is_kept_apart(shop, tmp_path):
    _, model, _ = shop
    pairs = tmp_path / "p.csv"
    pairs.write_text("user_id,item_id,prediction\nu1,003,old\n")
    got = rows(run("predict", pairs, "-m", model, "--format", "csv").stdout)
    assert got[0]["input_prediction"] == "old" and float(got[0]["prediction"]) > 0
    twice = tmp_path / "twice.csv"
    twice.write_text("user,item,note,note\nu1,003,a,b\n")
    got = rows(run("predict", twice, "-m", model, "--format", "csv").stdout)
    assert (got[0]["note"], got[0]["note_4"]) == ("a", "b")  # neither column lost


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet"])
def test_dash_o_writes_what_stdout_would_in_the_suffixs_format(shop, tmp_path, suffix):
    folder, model, _ = shop
    target = tmp_path / f"recs{suffix}"
    args = ("recommend", "--all-users", "-n", "3", "--items", folder / "titles.parquet",
            "-m", model)  # fmt: skip
    result = run(*args, "-o", target)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    expected = pd.read_csv(io.StringIO(run(*args, "--format", "csv").stdout),
                           dtype={"item": str})  # fmt: skip
    if suffix == ".csv":
        got = pd.read_csv(target, dtype={"item": str})
    elif suffix == ".json":
        got = pd.DataFrame(json.loads(target.read_text()))
    else:
        got = pd.read_parquet(target)
        assert got["item"].dtype != np.int64  # "007" stayed text
    assert len(got) == 40 * 3
    assert list(got["item"]) == list(expected["item"])
    assert list(got["title"]) == [f"Film {int(i)}" for i in expected["item"]]
    np.testing.assert_allclose(got["score"], expected["score"], rtol=1e-5)


def test_dash_o_on_each_command_that_writes_data(shop, tmp_path):
    folder, model, _ = shop
    data = folder / "ratings.parquet"
    commands = {
        "predict": ("predict", folder / "ratings.csv", "-m", model),
        "similar": ("similar", "--item", "003", "-m", model),
        "evaluate": ("evaluate", data, "--algo", "baseline", "--folds", "2", "-q"),
        "tune": ("tune", data, "--algo", "baseline", "--trials", "2", "-q"),
        "describe": ("describe", data),
        "inspect": ("inspect", "-m", model),
        "stability": ("stability", data, "--algo", "nmf", "--ranks", "2", "--seeds", "2", "-q"),
    }
    for name, args in commands.items():
        target = tmp_path / f"{name}.parquet"
        result = run(*args, "-o", target)
        assert result.exit_code == 0, (name, result.output)
        assert pd.read_parquet(target).shape[0] > 0, name


def test_codes_with_leading_zeros_stay_text_in_json_and_parquet(shop, tmp_path):
    _, model, _ = shop
    pairs = tmp_path / "p.csv"
    pairs.write_text("user,item,rating,zip\nu1,003,4.0,02134\nu2,005,3.5,10001\n")
    out = tmp_path / "p.parquet"
    assert run("predict", pairs, "-m", model, "-o", out).exit_code == 0
    back = pd.read_parquet(out)
    assert list(back["zip"]) == ["02134", "10001"] and list(back["item"]) == ["003", "005"]
    assert list(back["rating"]) == [4.0, 3.5]
    as_json = json.loads(run("predict", pairs, "-m", model, "--format", "json").stdout)
    assert as_json[0]["zip"] == "02134" and as_json[0]["rating"] == 4.0


def test_dash_o_dash_is_stdout(shop):
    _, model, _ = shop
    plain = run("recommend", "--user", "u1", "-m", model, "--format", "csv")
    dashed = run("recommend", "--user", "u1", "-m", model, "--format", "csv", "-o", "-")
    assert dashed.exit_code == 0 and dashed.stdout == plain.stdout != ""


def test_dash_o_refuses_what_it_cannot_write_before_any_work(shop, tmp_path):
    _, model, _ = shop
    before = model.read_bytes()
    result = run("recommend", "--user", "u1", "-m", model, "--format", "csv", "-o", model)
    assert result.exit_code == 1 and "is a recfactor model" in result.output
    assert model.read_bytes() == before
    result = run("recommend", "--user", "u1", "-m", model, "-o", tmp_path / "recs.txt")
    assert result.exit_code == 2 and "cannot tell the format" in result.output
    result = run("recommend", "--user", "u1", "-m", model, "--format", "json",
                 "-o", tmp_path / "recs.csv")  # fmt: skip
    assert result.exit_code == 2 and "does not match" in result.output
    result = run("recommend", "--user", "u1", "-m", model, "-o", tmp_path / "no" / "r.csv")
    assert result.exit_code == 1 and "does not exist" in result.output


def test_a_failed_command_leaves_the_old_output_whole(shop, tmp_path):
    _, model, _ = shop
    target = tmp_path / "recs.csv"
    target.write_text("precious\n")
    result = run("predict", "--user", "nobody", "--item", "i1", "--strict", "-m", model, "-o",
                 target)  # fmt: skip
    assert result.exit_code == 1 and "unknown user" in result.output
    assert target.read_text() == "precious\n"
    assert [p.name for p in tmp_path.iterdir()] == ["recs.csv"]  # no temporary file left


def test_parquet_inputs_round_trip_everywhere(shop, tmp_path):
    _, model, frame = shop
    users = tmp_path / "users.parquet"
    pd.DataFrame({"user": ["u3", "u5"]}).to_parquet(users, index=False)
    recs = rows(run("recommend", users, "-n", "2", "-m", model, "--format", "csv").stdout)
    assert [r["user"] for r in recs] == ["u3", "u3", "u5", "u5"]
    history = tmp_path / "history.parquet"
    frame[frame.user == "u1"].assign(user="newcomer").to_parquet(history, index=False)
    folded = rows(run("recommend", "--history", history, "-n", "2", "-m", model,
                      "--format", "csv").stdout)  # fmt: skip
    assert [r["user"] for r in folded] == ["newcomer", "newcomer"]
    held = tmp_path / "held.parquet"
    frame.iloc[:30].to_parquet(held, index=False)
    scored = rows(run("evaluate", "-m", model, "--test", held, "--format", "csv", "-q").stdout)
    assert {r["metric"] for r in scored} == {"rmse", "mae"}
    out = tmp_path / "preds.parquet"
    assert run("predict", held, "-m", model, "-o", out).exit_code == 0
    back = pd.read_parquet(out)
    assert list(back.columns) == ["user", "item", "rating", "timestamp", "prediction", "cold"]
    assert list(back["rating"]) == list(frame["rating"][:30])
    again = tmp_path / "again.parquet"
    assert run("predict", out, "-m", model, "-o", again).exit_code == 0  # Parquet in, out
    np.testing.assert_array_equal(pd.read_parquet(again)["prediction"], back["prediction"])


def test_a_table_too_wide_for_the_terminal_shows_every_number_whole(monkeypatch, capsys):
    """Thirteen columns on 80: a few records turn on their side (a field a row); many fold
    their cells. No number is cut to '0.…'."""
    from recfactor import report

    monkeypatch.setenv("COLUMNS", "80")
    columns = [f"measure_{k}" for k in range(13)]
    few = [{c: 0.123456 + k for c in columns} for k in range(2)]
    report.write_records(few, columns, "table")
    text = capsys.readouterr().out
    assert "…" not in text and text.count("0.123456") == 13 and "measure_12" in text
    many = [{c: 0.123456 + k for c in columns} for k in range(20)]
    report.write_records(many, columns, "table")
    assert "…" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "from_arrays"),
    [
        ([], True),
        (["--include-seen", "-n", "25"], True),
        (["--titles", "{titles}"], True),
        (["--titles", "{commas}"], False),  # titles that need quotes: the records' way
        (["--min-ratings", "13"], True),
    ],
)
def test_lists_written_from_their_arrays_are_the_records_csv(shop, tmp_path, monkeypatch, extra,
                                                             from_arrays):  # fmt: skip
    """recommend's CSV comes from the lists' arrays by Arrow's writer (no dict per entry):
    byte for byte what the records' way writes, with unknown users' popular lists after the
    known ones' and "007" kept as written."""
    from recfactor.io import listsout

    folder, model, _ = shop
    users = tmp_path / "users.txt"
    users.write_text("u3\nstranger\nu7\nu3\nnobody\n")
    commas = tmp_path / "commas.csv"
    commas.write_text("item,title\n" + "".join(f'{i:03d},"Film, {i}"\n' for i in range(20)))
    args = [a.replace("{titles}", str(folder / "titles.parquet")).replace("{commas}", str(commas))
            for a in extra]  # fmt: skip
    line = ["recommend", users, "-m", model, "--format", "csv", "-q", *args]
    monkeypatch.setattr(listsout, "ARRAYS_FROM", 0)  # these lists are short
    used = []
    original = listsout.write_lists_csv
    monkeypatch.setattr(
        listsout, "write_lists_csv", lambda *a: used.append(original(*a)) or used[-1]
    )
    arrays = run(*line)
    monkeypatch.setattr(listsout, "ARRAYS_FROM", 1 << 40)
    records = run(*line)
    assert arrays.exit_code == 0 and records.exit_code == 0, (arrays.output, records.output)
    assert used == [from_arrays]
    assert arrays.stdout == records.stdout
    assert "stranger" in arrays.stdout and "\nu3,1,0" in arrays.stdout
