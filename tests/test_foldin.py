"""New users folded in against a saved model's items, without retraining."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import recfactor as rf
from recfactor.cli import app
from recfactor.errors import ParameterError
from recfactor.foldin import fold_in


@pytest.fixture(scope="module")
def planted():
    """Biases plus rank 3 plus noise 0.2; 300 users, 80 items, half observed."""
    rng = np.random.default_rng(9)
    p, q = rng.normal(0, 0.6, (300, 3)), rng.normal(0, 0.6, (80, 3))
    value = 3.3 + rng.normal(0, 0.4, (300, 1)) + rng.normal(0, 0.4, (1, 80)) + p @ q.T
    u, i = np.nonzero(rng.random(value.shape) < 0.5)
    return pd.DataFrame({"user": [f"u{x}" for x in u], "item": [f"i{x}" for x in i],
                         "rating": value[u, i] + rng.normal(0, 0.2, len(u))})  # fmt: skip


@pytest.mark.parametrize("make", [lambda: rf.SVD(factors=8, seed=0),
                                  lambda: rf.ALS(factors=3, seed=0)])  # fmt: skip
def test_a_held_out_user_folded_in_predicts_as_if_trained_with(planted, make):
    """Twenty users' ratings are held out of one fit and folded in afterwards. Their
    predictions on items they did not rate stay within 0.1 (RMS) of a model trained with
    them: the items' factors hardly move for 7% more users (the noise is 0.2); from the
    baseline alone they would be 0.6 off."""
    held = {f"u{k}" for k in range(20)}
    train_all = rf.Dataset.from_frame(planted)
    rest = rf.Dataset.from_frame(planted[~planted.user.isin(held)])
    history = rf.Dataset.from_frame(planted[planted.user.isin(held)])
    trained, without = make().fit(train_all), make().fit(rest)
    folded, users, unknown = fold_in(without, history)
    assert sorted(users) == sorted(held) and unknown == 0
    pairs = [(u, f"i{i}") for u in sorted(held) for i in range(80)]
    rated = set(zip(planted.user, planted.item))
    unrated = [pair for pair in pairs if pair not in rated]
    u, i = map(list, zip(*unrated))
    gap = folded.predict(u, i).values - trained.predict(u, i).values
    cold = without.predict(u, i).values - trained.predict(u, i).values
    assert not folded.predict(u, i).cold.any()
    assert np.sqrt(np.mean(gap**2)) < 0.1 < 0.5 < np.sqrt(np.mean(cold**2))


def test_implicit_als_folds_users_in_and_ranks_their_taste_first():
    """Two groups of users, each interacting with its own half of the items: a new user who
    took three items of the first half gets the rest of the first half recommended."""
    rows = [(f"u{u}", f"i{i}") for u in range(40) for i in range(20)
            if (i < 10) == (u < 20) and (u + i) % 3]  # fmt: skip
    data = rf.Dataset.from_arrays(*map(list, zip(*rows)), np.ones(len(rows)),
                                  feedback="implicit")  # fmt: skip
    model = rf.ALS(factors=4, reg=1.0, seed=0).fit(data)
    history = rf.Dataset.from_arrays(["new"] * 3, ["i0", "i1", "i2"], np.ones(3),
                                     feedback="implicit")  # fmt: skip
    folded, _, _ = fold_in(model, history)
    top = [item for item, _ in folded.recommend("new", n=5)]
    assert all(int(item[1:]) < 10 for item in top) and not {"i0", "i1", "i2"} & set(top)


def test_recommend_and_predict_take_a_history_file(planted, tmp_path):
    path, model = tmp_path / "ratings.csv", tmp_path / "m.model"
    planted[planted.user != "u1"].to_csv(path, index=False)
    trained = CliRunner().invoke(app, ["train", str(path), "--algo", "als", "-k", "3", "-m",
                                       str(model), "-q"])  # fmt: skip
    assert trained.exit_code == 0, trained.output
    history = tmp_path / "history.csv"
    planted[planted.user == "u1"].to_csv(history, index=False)
    with history.open("a") as fh:
        fh.write("u1,never-seen,4\n")
    result = CliRunner().invoke(app, ["recommend", "--history", str(history), "-n", "3", "-m",
                                      str(model)])  # fmt: skip
    assert result.exit_code == 0, result.output
    top = list(csv.DictReader(io.StringIO(result.stdout)))
    rated = set(planted[planted.user == "u1"].item)
    assert [r["user"] for r in top] == ["u1"] * 3 and not rated & {r["item"] for r in top}
    assert "1 history row(s) name items the model does not know" in result.stderr
    one = CliRunner().invoke(app, ["predict", "--user", "u1", "--item", "i5", "--history",
                                   str(history), "-m", str(model)])  # fmt: skip
    # Folded in from its history: the cold column says which path answered.
    assert one.exit_code == 0 and one.stdout.strip().endswith(",history")


def test_models_that_cannot_fold_in_say_so(planted):
    data = rf.Dataset.from_frame(planted.assign(rating=planted.rating.clip(lower=0)))
    implicit = rf.Dataset.from_frame(planted.assign(rating=1.0), feedback="implicit")
    for model in (rf.NMF(factors=3).fit(implicit), rf.SVD(factors=3, solver="lanczos").fit(data)):
        with pytest.raises(ParameterError, match="cannot fold new users in"):
            fold_in(model, data)


@pytest.mark.parametrize("bias", [False, True])
def test_nmf_folds_users_in_by_non_negative_least_squares(planted, bias):
    """A user already in an NMF model, folded in again from their own ratings, gets back
    (nearly) the row the fit gave them: the fit's multiplicative updates stop at the same
    penalised non-negative least squares. Their factors stay non-negative; a bias may be
    negative."""
    ratings = planted.assign(rating=planted.rating.clip(lower=0))
    model = rf.NMF(factors=3, epochs=400, bias=bias, seed=0).fit(rf.Dataset.from_frame(ratings))
    users = [f"u{k}" for k in range(10)]
    history = rf.Dataset.from_frame(ratings[ratings.user.isin(users)])
    folded, _, _ = fold_in(model, history)
    pairs = [(u, f"i{i}") for u in users for i in range(80)]
    u, i = map(list, zip(*pairs))
    gap = folded.predict(u, i).values - model.predict(u, i).values
    assert np.sqrt(np.mean(gap**2)) < 0.03
    assert (folded.user_factors_ >= 0).all()
    if bias:
        assert (folded.user_bias_[folded.user_index(users)] < 0).any()


@pytest.mark.parametrize("weighted", [False, True])
def test_implicit_fold_in_uses_the_fits_penalty(planted, weighted):
    """At convergence a user's row is the solve against the items; folded in again from the
    user's own interactions it comes back, with the penalty weighted by the count or not as
    the fit's was."""
    data = rf.Dataset.from_frame(planted.assign(rating=1.0), feedback="implicit")
    model = rf.ALS(factors=3, reg=2.0, epochs=500, weighted_reg=weighted, seed=0).fit(data)
    users = [f"u{k}" for k in range(10)]
    mine = planted[planted.user.isin(users)].assign(rating=1.0)
    folded, _, _ = fold_in(model, rf.Dataset.from_frame(mine, feedback="implicit"))
    rows = folded.user_index(users)
    before = model.user_factors_[model.user_index(users)]
    np.testing.assert_allclose(folded.user_factors_[rows], before, atol=2e-3)
