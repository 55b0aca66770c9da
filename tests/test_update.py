"""`recfactor update`: a day of new ratings added to a saved model by a warm-started fit
(issue 16)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfactor import persist
from recfactor.dataset import Dataset
from recfactor.models import model_class
from recfactor.update import combine, update
from tests.cli import rows, run


def planted(seed: int = 3, users: int = 150, items: int = 80) -> pd.DataFrame:
    """Ratings of rank 3 plus noise of 0.1, half the cells rated, in time order."""
    rng = np.random.default_rng(seed)
    p, q = rng.normal(0, 0.7, (users, 3)), rng.normal(0, 0.7, (items, 3))
    cells = np.argwhere(rng.random((users, items)) < 0.5)
    values = 3 + np.sum(p[cells[:, 0]] * q[cells[:, 1]], axis=1)
    values += rng.normal(0, 0.1, len(cells))
    frame = pd.DataFrame(
        {
            "user": [f"u{u}" for u in cells[:, 0]],
            "item": [f"i{i}" for i in cells[:, 1]],
            "rating": values.round(3),
        }
    )
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # fmt: skip


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    """The ratings before the last day (users u140.. and items i75.. held back), the day's
    ratings (theirs, and 200 more), and a model trained before the day."""
    folder = tmp_path_factory.mktemp("update")
    frame = planted()
    late = frame["user"].str[1:].astype(int).ge(140) | frame["item"].str[1:].astype(int).ge(75)
    late |= frame.index.isin(frame[~late].index[:200])
    frame[~late].to_csv(folder / "before.csv", index=False)
    frame[late].to_csv(folder / "day.csv", index=False)
    frame.to_csv(folder / "all.csv", index=False)
    return folder, frame, late


@pytest.mark.parametrize("algo", ["als", "svd"])
def test_an_update_matches_a_fit_on_everything(days, tmp_path, algo):
    """The day's new users and items get factors from the update: its predictions of the
    day's ratings are within 0.05 RMSE of a model trained on all ratings from scratch, and
    both within 0.25 of the planted truth with its noise of 0.1 (the same settings and epochs
    from a start nearer the answer: the tolerance is what different starts leave)."""
    folder, frame, late = days
    model, updated, scratch = tmp_path / "m", tmp_path / "m2", tmp_path / "full"
    flags = ("--algo", algo, "-k", "3", "-q")
    assert run("train", folder / "before.csv", *flags, "-m", model).exit_code == 0
    result = run("update", folder / "day.csv", "-m", model, "--save-as", updated, "--format", "csv")
    assert result.exit_code == 0, result.output
    summary = rows(result.stdout)[0]
    assert (summary["new_users"], summary["new_items"]) == ("10", "5")
    assert summary["warm_start"] == "true" and int(summary["ratings"]) == len(frame)
    assert run("train", folder / "all.csv", *flags, "-m", scratch).exit_code == 0
    day = frame[late]
    errors = {}
    for name, path in (("update", updated), ("scratch", scratch)):
        fitted, _ = persist.load(path)
        predicted = fitted.predict(day["user"], day["item"])
        assert not predicted.cold.any()
        errors[name] = float(np.sqrt(np.mean((predicted.values - day["rating"]) ** 2)))
    assert errors["update"] < 0.25 and errors["scratch"] < 0.25, errors
    assert abs(errors["update"] - errors["scratch"]) < 0.05, errors
    recs = rows(run("recommend", "--user", "u145", "-n", "3", "-m", updated).stdout)
    assert len(recs) == 3  # a user the first model never saw


def test_a_new_rating_of_a_known_pair_replaces_the_old_one():
    base = Dataset.from_arrays(["a", "a", "b"], ["x", "y", "x"], [1.0, 2.0, 3.0])
    extra = Dataset.from_arrays(["a", "c"], ["y", "z"], [5.0, 4.0])
    both = combine(base, extra)
    got = {(str(both.user_ids[u]), str(both.item_ids[i])): r
           for u, i, r in zip(both.users, both.items, both.ratings)}  # fmt: skip
    assert got == {("a", "x"): 1.0, ("a", "y"): 5.0, ("b", "x"): 3.0, ("c", "z"): 4.0}
    assert list(both.user_ids[:2]) == ["a", "b"]  # known IDs keep their codes
    implicit = combine(
        Dataset.from_arrays(["a"], ["x"], [2.0], feedback="implicit"),
        Dataset.from_arrays(["a"], ["x"], [3.0], feedback="implicit"),
    )
    assert implicit.ratings.tolist() == [5.0]  # counts add up


def test_the_warm_start_is_where_the_update_begins(days):
    """One pass of ALS from the saved factors stays near the saved model's predictions of the
    ratings it knew; one pass from a cold start does not."""
    _, frame, late = days
    base = Dataset.from_frame(frame[~late])
    extra = Dataset.from_frame(frame[late])
    als = model_class("als")
    before = als(als.params_class(factors=3, seed=0)).fit(base)
    done = update(before, base, extra, {"epochs": 1})
    cold = als(als.params_class(factors=3, seed=0, epochs=1)).fit(combine(base, extra))
    known = frame[~late].iloc[:500]
    start = before.predict(known["user"], known["item"]).values
    warm_moved = np.abs(done.model.predict(known["user"], known["item"]).values - start).mean()
    cold_moved = np.abs(cold.predict(known["user"], known["item"]).values - start).mean()
    assert warm_moved < 0.05 < cold_moved, (warm_moved, cold_moved)


def test_update_reads_the_recorded_ratings_and_refuses_changed_ones(days, tmp_path):
    folder, _, _ = days
    data = tmp_path / "before.csv"
    data.write_bytes((folder / "before.csv").read_bytes())
    model = tmp_path / "m"
    assert run("train", data, "--algo", "als", "-k", "3", "-q", "-m", model).exit_code == 0
    first = run("update", folder / "day.csv", "-m", model, "-q")  # in place
    assert first.exit_code == 0, first.output
    manifest = persist.read_manifest(model)
    assert [u["path"] for u in manifest["updates"]] == [str((folder / "day.csv").resolve())]
    again = run("update", folder / "day.csv", "-m", model, "--format", "csv", "-q")
    assert rows(again.stdout)[0]["replaced"] == str(len(pd.read_csv(folder / "day.csv")))
    with data.open("a") as fh:
        fh.write("u0,i1,3\n")
    refused = run("update", folder / "day.csv", "-m", model, "-q")
    assert refused.exit_code == 1
    assert "changed since" in refused.output and "--base" in refused.output
    given = run("update", folder / "day.csv", "-m", model, "--base", folder / "all.csv", "-q")
    assert given.exit_code == 0, given.output
    again = run("evaluate", "-m", model, "-q")  # re-evaluating its data: there is no one file
    assert again.exit_code == 1 and "was updated with 1 more file" in again.stderr


def test_a_model_whose_solver_cannot_start_from_factors_is_refitted_and_says_so(days, tmp_path):
    folder, _, _ = days
    model = tmp_path / "lanczos.model"
    assert run("train", folder / "before.csv", "--algo", "svd", "--solver", "lanczos", "-k", "3",
               "-q", "-m", model).exit_code == 0  # fmt: skip
    refused = run("update", folder / "day.csv", "-m", model, "--epochs", "3")
    assert refused.exit_code == 2 and "--epochs does not apply" in refused.output
    result = run("update", folder / "day.csv", "-m", model, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert rows(result.stdout)[0]["warm_start"] == "false"
    assert "refitted" in result.stderr


IMPLICIT = ["--feedback", "implicit"]


@pytest.mark.parametrize(
    "algo, flags", [("nmf", []), ("als", IMPLICIT), ("svd", [*IMPLICIT, "-k", "2"])]
)
def test_a_bad_new_rating_is_named_by_its_own_file_and_line(tmp_path, algo, flags):
    """An update's new ratings are checked alone first: a value the model cannot take (NMF's
    or implicit ALS's negative one) is named by the new file's line, not by its place among
    the ratings combined; the model is left as it was. A check of the whole data (the rank a
    truncated SVD allows) is not applied to the new ratings alone."""
    old = tmp_path / "old.csv"
    old.write_text("user,item,rating\n" + "".join(
        f"u{u},i{i},{1 + (u + i) % 5}\n" for u in range(6) for i in range(5)))  # fmt: skip
    model = tmp_path / "m"
    assert run("train", old, "--algo", algo, *flags, "-q", "-m", model).exit_code == 0
    before = model.read_bytes()
    bad = tmp_path / "new.csv"
    bad.write_text("user,item,rating\nu1,i1,2\nnew,i2,-1\n")
    refused = run("update", bad, "-m", model, "-q")
    if algo == "svd":  # negative values are PureSVD's to take; three new ratings are too few
        assert refused.exit_code == 0, refused.output  # for a rank-2 SVD alone, not with the rest
        return
    assert refused.exit_code == 1, refused.output
    assert f"{bad}, line 3, column 3 (rating): -1 is negative" in refused.stderr, refused.stderr
    assert model.read_bytes() == before
