"""Time-ordered holdouts: the latest ratings (of all, or of each user) held out, in `split` and
`evaluate` (issue 16)."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from recfactor import read_ratings
from recfactor.evaluation import latest_first, plan_splits
from recfactor.io.ratings import ReadOptions
from recfactor.io.times import read_times
from tests.cli import run


@pytest.fixture
def log():
    """12 users rating 8 items each at shuffled times (the file is not in time order)."""
    rng = np.random.default_rng(2)
    rows = [(f"u{u}", f"i{i}", int(rng.integers(1, 6)))
            for u in range(12) for i in rng.choice(20, 8, replace=False)]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["user", "item", "rating"])
    frame["timestamp"] = 880_000_000 + rng.permutation(len(frame)) * 60
    return frame


def latest_per_user(frame: pd.DataFrame, n: int) -> set[tuple[str, str]]:
    top = frame.sort_values("timestamp").groupby("user").tail(n)
    return set(zip(top["user"], top["item"]))


def test_split_holds_out_each_users_latest_ratings(log, tmp_path):
    data = tmp_path / "log.csv"
    log.to_csv(data, index=False)
    result = run("split", data, "--holdout-per-user", "2", "--time-ordered", "-o", tmp_path,
                 "--format", "csv")  # fmt: skip
    assert result.exit_code == 0, result.output
    test = pd.read_csv(tmp_path / "log.test.csv", dtype={"user": str, "item": str})
    train = pd.read_csv(tmp_path / "log.train.csv", dtype={"user": str, "item": str})
    assert set(zip(test["user"], test["item"])) == latest_per_user(log, 2)
    assert len(train) + len(test) == len(log)
    assert (test.groupby("user")["timestamp"].min()
            > train.groupby("user")["timestamp"].max()).all()  # fmt: skip


def test_headerless_files_dates_and_parquet_give_the_same_order(log, tmp_path):
    """u.data's layout (the fourth column is the time), ISO dates, and a Parquet timestamp
    column all order the ratings as the Unix seconds do; dates and timestamps are read as
    those seconds."""
    expected = log["timestamp"].to_numpy(float)
    headerless = tmp_path / "u.data"
    log.to_csv(headerless, sep="\t", header=False, index=False)
    dataset = read_ratings(headerless)
    np.testing.assert_array_equal(read_times(headerless, ReadOptions(), dataset), expected)
    dated = tmp_path / "dated.csv"
    dates = pd.to_datetime(log["timestamp"], unit="s").dt.strftime("%Y-%m-%dT%H:%M:%S")
    log.drop(columns="timestamp").assign(date=dates).to_csv(dated, index=False)
    times = read_times(dated, ReadOptions(), read_ratings(dated))
    np.testing.assert_array_equal(times, expected)
    table = tmp_path / "log.parquet"
    log.assign(timestamp=pd.to_datetime(log["timestamp"], unit="s")).to_parquet(table)
    times = read_times(table, ReadOptions(), read_ratings(table))
    np.testing.assert_array_equal(times, expected)


def test_a_global_time_ordered_holdout_takes_the_latest_fraction(log, tmp_path):
    data = tmp_path / "log.csv"
    log.to_csv(data, index=False)
    dataset = read_ratings(data)
    times = read_times(data, ReadOptions(), dataset)
    splits, info = plan_splits(dataset, test_fraction=0.25, times=times)
    latest = set(np.argsort(-log["timestamp"].to_numpy())[: round(len(log) * 0.25)])
    assert set(splits[0].test) == latest and info["description"].endswith("latest held out")
    result = run("evaluate", data, "--algo", "baseline", "--test-fraction", "0.25",
                 "--time-ordered", "--seeds", "1", "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert '"time_ordered": true' in result.stdout


def test_ties_in_time_go_by_line():
    dataset = read_ratings_from_rows([("a", "x", 1), ("a", "y", 2), ("a", "z", 3)])
    order = latest_first(dataset, np.array([5.0, 5.0, 1.0]))
    assert order.tolist() == [1, 0, 2]  # the later line of the two at time 5 first


def read_ratings_from_rows(rows):
    from recfactor.dataset import Dataset

    users, items, values = zip(*rows)
    return Dataset.from_arrays(list(users), list(items), list(values))


def test_time_options_refuse_what_they_cannot_do(log, tmp_path):
    data = tmp_path / "log.csv"
    log.drop(columns="timestamp").to_csv(data, index=False)
    no_holdout = run("evaluate", data, "--time-ordered")
    assert no_holdout.exit_code == 2 and "needs a holdout" in no_holdout.stderr
    no_column = run("split", data, "--time-ordered", "-o", tmp_path)
    assert no_column.exit_code == 1 and "no time column" in no_column.stderr
    assert "--time-col" in no_column.stderr
    bad = tmp_path / "bad.csv"
    log.assign(timestamp="soon").to_csv(bad, index=False)
    result = run("split", bad, "--time-ordered", "-o", tmp_path)
    assert result.exit_code == 1 and "'soon' is neither a number nor a date" in result.stderr
    alone = run("split", data, "--time-col", "3", "-o", tmp_path)
    assert alone.exit_code == 2 and "--time-col needs --time-ordered" in alone.stderr
    rows = list(csv.reader(io.StringIO(run("split", data, "-o", tmp_path).stdout)))
    assert rows[0] == ["fold", "part", "path", "ratings"]  # a random holdout still works


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("soon", "line 5: time 'soon' is not a number, as the others are"),
        ("", "line 5: a rating has no time"),
        ("  ", "line 5: a rating has no time"),
    ],
)
def test_a_bad_time_among_unix_seconds_is_named_by_its_line(log, tmp_path, value, said):
    """One bad value in a column of numbers is that value: not the column's first, read as
    a date it is not (the message named '880000000' as neither a number nor a date)."""
    times = log["timestamp"].astype(str).tolist()
    times[3] = value
    data = tmp_path / "log.csv"
    log.assign(timestamp=times).to_csv(data, index=False)
    result = run("split", data, "--time-ordered", "-o", tmp_path)
    assert result.exit_code == 1 and result.stdout == "", result.output
    assert result.stderr.splitlines()[0] == f"error: {data}, {said}", result.stderr


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("sometime", "time 'sometime' is neither a number nor a date"),
        # a number among dates was "neither a number nor a date" too
        ("880000000", "time '880000000' is a number, where most of the others are dates"),
    ],
)
def test_a_bad_date_among_dates_is_named_by_its_line(log, tmp_path, value, said):
    dates = pd.to_datetime(log["timestamp"], unit="s").dt.strftime("%d %b %Y %H:%M").tolist()
    dates[6] = value
    data = tmp_path / "log.csv"
    log.assign(timestamp=dates).to_csv(data, index=False)
    result = run("split", data, "--time-ordered", "-o", tmp_path)
    assert result.exit_code == 1, result.output
    assert f"{data}, line 8: {said}" in result.stderr
