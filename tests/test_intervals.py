"""Prediction intervals from the Bayesian models' draws: the mixture's quantiles, coverage on
planted data at the level asked, and the command line's columns and refusals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from recfactor.errors import ParameterError
from recfactor.intervals import _mixture_quantile, intervals
from recfactor.models import model_class
from tests.cli import rows, run
from tests.conftest import planted_ratings, random_ratings_csv


def test_the_mixture_quantiles_are_a_normals_for_one_draw_and_widen_with_spread():
    one = np.array([[3.0]])
    assert _mixture_quantile(one, 0.5, 0.95)[0] == pytest.approx(3 + 0.5 * norm.ppf(0.95))
    spread = np.array([[2.0, 4.0]])  # an even mixture of N(2, 0.1^2) and N(4, 0.1^2)
    assert _mixture_quantile(spread, 0.1, 0.25)[0] == pytest.approx(2.0, abs=1e-6)
    assert _mixture_quantile(spread, 0.1, 0.75)[0] == pytest.approx(4.0, abs=1e-6)
    wide = _mixture_quantile(spread, 0.1, 0.95)[0]  # the upper draw's 0.9 quantile
    assert wide == pytest.approx(4 + 0.1 * norm.ppf(0.9), abs=1e-6)


@pytest.fixture(scope="module")
def planted():
    """Rank 3 around 3 with noise 0.4, 150 users x 100 items, 30% observed; a fresh noisy
    rating of every other cell is the test set."""
    data, tu, ti, truth, rng = planted_ratings(8, 150, 100, 3, 0.6, 3.0, 0.3, 0.4)
    return data, tu, ti, truth + rng.normal(0, 0.4, len(tu))


def test_bpmf_intervals_cover_their_level_of_new_ratings(planted):
    data, tu, ti, fresh = planted
    model = model_class("bpmf")(factors=3, epochs=60, burn_in=15, samples=30).fit(data)
    assert model.noise_sd_ == pytest.approx(0.4, abs=0.06)  # measured, where alpha says 0.8
    u, i = model.user_index(tu), model.item_index(ti)
    center = model.predict_index(u, i)
    for level in (0.5, 0.8, 0.9):
        low, high = intervals(model, u, i, center, level)
        assert (low <= center).all() and (center <= high).all()
        inside = ((fresh >= low) & (fresh <= high)).mean()
        assert abs(inside - level) < 0.04, (level, inside)  # u1..u5: BENCHMARKS.md


def test_point_estimates_and_bad_levels_are_refused(planted):
    data = planted[0]
    svd = model_class("svd")(factors=3, epochs=5).fit(data)
    with pytest.raises(ParameterError, match="no interval"):
        intervals(svd, np.array([0]), np.array([0]), np.array([3.0]), 0.9)
    bpmf = model_class("bpmf")(factors=2, epochs=6, burn_in=2, samples=3).fit(data)
    for level in (0.0, 1.0, 1.5):
        with pytest.raises(ParameterError, match="above 0 and below 1"):
            intervals(bpmf, np.array([0]), np.array([0]), np.array([3.0]), level)


def test_predict_adds_low_and_high(write, tmp_path):
    data = write("r.csv", random_ratings_csv(30, 20, 0.5, seed=1))
    model = tmp_path / "b.model"
    done = run("train", data, "--algo", "bpmf", "-k", 2, "--epochs", 20, "--burn-in", 5, "-m",
               model, "-q")  # fmt: skip
    assert done.exit_code == 0, done.output
    one = rows(
        run("predict", "-m", model, "--user", "u1", "--item", "i2", "--interval", 0.8).output
    )
    assert list(one[0]) == ["user", "item", "prediction", "low", "high", "cold"]
    assert 1 <= float(one[0]["low"]) < float(one[0]["prediction"]) < float(one[0]["high"]) <= 5
    pairs = write("p.csv", "user,item\nu1,i2\nu2,i3\nnew,i3\n")
    batch = rows(run("predict", "-m", model, pairs, "--interval", 0.5, "-q").output)
    assert [r["cold"] for r in batch] == ["false", "false", "baseline"]
    assert all(float(r["low"]) <= float(r["prediction"]) <= float(r["high"]) for r in batch)
    svd = tmp_path / "s.model"
    assert run("train", data, "-k", 2, "-m", svd, "-q").exit_code == 0
    refused = run("predict", "-m", svd, "--user", "u1", "--item", "i2", "--interval", 0.9)
    assert refused.exit_code == 2 and "no interval" in refused.output
    assert "--algo bpmf or bfm" in refused.output


def test_the_api_gives_the_command_lines_interval(tmp_path):
    """README's API lines: bpmf on the sample ratings, u1 and m002 at 0.9, as `predict`."""
    import recfactor as rf

    data = rf.read_ratings("sample_data/ratings.csv")
    model = rf.BPMF().fit(data)
    u, i = model.user_index(["u1"]), model.item_index(["m002"])
    low, high = intervals(model, u, i, model.predict_index(u, i), 0.9)
    rf.save(model, tmp_path / "b.model")
    (row,) = rows(run("predict", "-m", tmp_path / "b.model", "--user", "u1", "--item", "m002",
                      "--interval", 0.9).output)  # fmt: skip
    assert float(row["low"]) == pytest.approx(low[0], abs=1e-5)
    assert float(row["high"]) == pytest.approx(high[0], abs=1e-5)
    assert (round(low[0], 4), high[0]) == (2.5378, 5.0)
