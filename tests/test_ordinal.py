"""bfm's ordered-probit likelihood: star ratings planted as the bands of a latent Gaussian with
uneven cutpoints, whose expected ratings the ordinal fit recovers better than the Gaussian
one; its link and draws against the normal distribution's own numbers; the saved scale; lists,
placed users, intervals and the day context read through the link."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest

import recfactor as rf
from recfactor import coldstart
from recfactor.errors import DataError, ModelFileError
from recfactor.models import ordinal
from tests.cli import run

LEVELS = np.arange(1.0, 6.0)
CUTS = np.array([-2.0, -1.2, 0.3, 1.0])  # the 3-star band widest
SMALL_FIT = {"epochs": 100, "burn_in": 30, "samples": 40, "seed": 0}


@pytest.fixture(scope="module")
def planted():
    """300 users x 200 items, latent ``f = item bias + U . V`` (rank 2) plus N(0, 1) noise,
    rated by the band it falls in; 30% observed, each with a day. Returns the training
    frame, the unseen pairs and their true expected ratings, and the latent values."""
    rng = np.random.default_rng(7)
    n_users, n_items = 300, 200
    users = rng.normal(0, 0.9, (n_users, 2))
    items = rng.normal(0, 0.9, (n_items, 2))
    latent = rng.normal(0, 0.5, n_items)[None, :] + users @ items.T
    seen = rng.random(latent.shape) < 0.3
    u, i = np.nonzero(seen)
    z = latent[u, i] + rng.standard_normal(len(u))
    frame = pd.DataFrame({"user": [f"u{x}" for x in u], "item": [f"i{x}" for x in i],
                          "rating": 1.0 + (z[:, None] > CUTS).sum(axis=1),
                          "time": 10**9 + 86_400 * rng.integers(0, 30, len(u))})  # fmt: skip
    tu, ti = np.nonzero(~seen)
    pairs = ([f"u{x}" for x in tu], [f"i{x}" for x in ti])
    return frame, pairs, ordinal.expected(latent[tu, ti], LEVELS, CUTS), latent[tu, ti]


@pytest.fixture(scope="module")
def fits(planted):
    data = rf.Dataset.from_frame(planted[0][["user", "item", "rating"]])
    return {name: rf.BFM(likelihood=name, **SMALL_FIT).fit(data)
            for name in ("auto", "gaussian")}  # fmt: skip


def _rmse(model, pairs, truth):
    return float(np.sqrt(np.mean((model.predict(*pairs).values - truth) ** 2)))


def test_the_link_is_the_normal_cdf_and_its_inverse_finds_the_latent_value():
    x = np.linspace(-9, 9, 3601)
    exact = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    assert np.abs(ordinal.phi(x) - exact).max() < 2e-7
    values = ordinal.expected(x, LEVELS, CUTS)
    assert (np.diff(values) >= 0).all() and (np.diff(values[900:2700]) > 0).all()
    assert values[0] == pytest.approx(1.0, abs=1e-6) and values[-1] == pytest.approx(5.0, abs=1e-6)
    middle = np.linspace(-3, 3, 61)
    back = ordinal.latent_of(ordinal.expected(middle, LEVELS, CUTS), LEVELS, CUTS)
    assert back == pytest.approx(middle, abs=1e-6)


@pytest.mark.parametrize(("lo", "hi"), [(-np.inf, -1.0), (0.5, 1.5), (6.0, np.inf),
                                        (-40.0, -39.0), (-0.2, 0.2)])  # fmt: skip
def test_latent_draws_fall_in_their_band_at_its_truncated_mean(lo, hi):
    rng = np.random.default_rng(0)
    n = 200_000
    low, high = np.full(n, lo), np.full(n, hi)
    draws = ordinal.truncated_draws(low, high, rng.uniform(size=n))
    assert np.isfinite(draws).all() and (draws >= lo).all() and (draws <= hi).all()
    mean = ordinal.truncated_means(low[:1], high[:1])[0]
    # Where the band's mass rounds to nothing (40 below the mean), each draw is its upper edge.
    assert draws.mean() == pytest.approx(mean, abs=0.01 if hi > -30 else 0.03)
    if np.isfinite(lo) and np.isfinite(hi) and hi - lo < 1.5 and lo > -5:
        # The mean by quadrature of the density over the band.
        grid = np.linspace(lo, hi, 20001)
        density = np.exp(-(grid**2) / 2)
        assert mean == pytest.approx((grid * density).sum() / density.sum(), abs=1e-4)


def test_star_ratings_are_fitted_ordinal_by_default_and_beat_the_gaussian(planted, fits):
    _, pairs, truth, _ = planted
    auto, gaussian = fits["auto"], fits["gaussian"]
    assert auto.levels_.tolist() == LEVELS.tolist() and gaussian.cutpoints_ is None
    ordinal_error, gaussian_error = _rmse(auto, pairs, truth), _rmse(gaussian, pairs, truth)
    assert ordinal_error < 0.29
    assert ordinal_error < gaussian_error - 0.04
    predicted = auto.predict(*pairs).values
    assert predicted.min() >= 1.0 and predicted.max() <= 5.0
    # The scale learned: increasing cutpoints, the 3-star band the widest as planted.
    gaps = np.diff(auto.cutpoints_)
    assert (gaps > 0).all() and int(np.argmax(gaps)) == 1
    assert gaps / gaps.sum() == pytest.approx(np.diff(CUTS) / np.diff(CUTS).sum(), abs=0.06)


def test_continuous_ratings_are_gaussian_and_refused_as_ordinal(tmp_path):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"user": [f"u{x}" for x in rng.integers(0, 40, 600)],
                          "item": [f"i{x}" for x in rng.integers(0, 30, 600)],
                          "rating": rng.uniform(1, 5, 600)})  # fmt: skip
    frame = frame.drop_duplicates(["user", "item"])
    data = rf.Dataset.from_frame(frame)
    assert rf.BFM(epochs=20, burn_in=5, samples=5).fit(data).cutpoints_ is None
    with pytest.raises(DataError, match="ordinal likelihood needs ratings on a scale"):
        rf.BFM(likelihood="ordinal", epochs=20, burn_in=5, samples=5).fit(data)
    path = tmp_path / "r.csv"
    frame.to_csv(path, index=False)
    result = run("train", str(path), "--algo", "bfm", "--likelihood", "ordinal", "-m",
                 str(tmp_path / "m.model"))  # fmt: skip
    assert result.exit_code == 1
    assert f"error: {path}: the ordinal likelihood needs ratings" in result.stderr
    assert "hint: use likelihood gaussian" in result.stderr
    assert not (tmp_path / "m.model").exists()


def test_a_list_s_scores_are_the_predicted_ratings(planted, fits):
    model = fits["auto"]
    listed = model.recommend("u3", n=15)
    items = [item for item, _ in listed]
    scores = np.array([score for _, score in listed])
    assert (np.diff(scores) <= 0).all()
    assert scores == pytest.approx(model.predict(["u3"] * len(items), items).values, abs=1e-9)
    assert scores.max() <= 5.0
    row = model.scores(model.user_index(["u3"]))[0]
    assert row[model.item_index(items)] == pytest.approx(scores, abs=1e-9)


def test_a_user_placed_by_attributes_alone_lists_by_rating_and_popularity(planted):
    """Such a list weighs each item's popularity beside its expected rating (models/bfm.py):
    the scores are the expected ratings plus the stars of popularity, not latent values."""
    from recfactor import popularity
    from recfactor.io.features import Side, features_from_frame

    frame = planted[0][["user", "item", "rating"]]
    users = pd.DataFrame({"user": [f"u{x}" for x in range(300)] + ["newcomer"],
                          "group": ["a", "b", "c"] * 100 + ["b"]})  # fmt: skip
    side = Side(features_from_frame(users, "user"), None)
    model = rf.BFM(**SMALL_FIT).fit(rf.Dataset.from_frame(frame).with_side(side))
    placed, paths = coldstart.place_users(model, ["newcomer"], side.user.rows_for(["newcomer"]))
    assert paths == {"newcomer": "attributes"}
    listed = placed.recommend("newcomer", n=10)
    items = [item for item, _ in listed]
    rating = placed.predict(["newcomer"] * 10, items).values
    counts = popularity.item_counts(placed)[placed.item_index(items)]
    stars = placed.POPULARITY_STARS * np.log1p(counts)
    assert [score for _, score in listed] == pytest.approx(rating + stars, abs=1e-9)
    assert rating.min() >= 1.0 and rating.max() <= 5.0


def test_a_saved_ordinal_model_predicts_alike_and_a_bad_scale_is_refused(planted, fits, tmp_path):
    from tests.corpus import npy, rezip

    pairs = planted[1]
    model = fits["auto"]
    rf.save(model, tmp_path / "good.model")
    loaded, _ = rf.load(tmp_path / "good.model")
    assert loaded.predict(*pairs).values == pytest.approx(model.predict(*pairs).values, abs=1e-9)
    assert loaded.cutpoints_.tolist() == model.cutpoints_.tolist()

    def edit(name, raw):  # cutpoints out of order
        if name == "cutpoints.npy":
            return name, npy(model.cutpoints_[::-1].copy())
        return name, raw

    (tmp_path / "bad.model").write_bytes(rezip((tmp_path / "good.model").read_bytes(), edit))
    with pytest.raises(ModelFileError, match="ordinal scale"):
        rf.load(tmp_path / "bad.model")

    def drop(name, raw):  # levels without cutpoints
        if name == "cutpoints.npy":
            return None
        if name == "manifest.npy":
            manifest = json.loads(np.load(io.BytesIO(raw)).tobytes())
            del manifest["arrays"]["cutpoints"]
            return name, npy(np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8))
        return name, raw

    (tmp_path / "half.model").write_bytes(rezip((tmp_path / "good.model").read_bytes(), drop))
    with pytest.raises(ModelFileError, match="ordinal scale"):
        rf.load(tmp_path / "half.model")


def test_a_history_moves_a_new_user_towards_its_ratings(planted, fits):
    model = fits["auto"]
    items = [f"i{x}" for x in range(0, 200, 5)]
    history = rf.Dataset.from_frame(pd.DataFrame({
        "user": ["fan"] * 40 + ["critic"] * 40, "item": items * 2,
        "rating": [5.0] * 40 + [1.0] * 40}))  # fmt: skip
    placed, paths = coldstart.place_users(model, ["fan", "critic"], None, history)
    assert paths == {"fan": "history", "critic": "history"}
    others = [f"i{x}" for x in range(1, 200, 5)]
    fan = placed.predict(["fan"] * 40, others).values.mean()
    critic = placed.predict(["critic"] * 40, others).values.mean()
    newcomer = model.predict(["nobody"] * 40, others).values.mean()
    assert fan > newcomer + 0.3 and critic < newcomer - 0.3


def test_intervals_are_levels_of_the_scale_that_cover_their_share(planted, fits):
    from recfactor.intervals import intervals

    _, pairs, _, latent = planted
    model = fits["auto"]
    rng = np.random.default_rng(3)
    rated = 1.0 + ((latent + rng.standard_normal(len(latent)))[:, None] > CUTS).sum(axis=1)
    u, i = model.user_index(pairs[0]), model.item_index(pairs[1])
    center = model.predict_index(u, i)
    widths = {}
    for level in (0.5, 0.8):
        low, high = intervals(model, u, i, center, level)
        assert set(np.unique(np.r_[low, high])) <= set(LEVELS)
        # The expected rating may lie outside them (1 star at 9%, 4 at 91%: 3.73, whose 10%
        # point is 4), so only their order is asked.
        assert (low <= high).all() and (low < high).any()
        # The fewest levels that hold the share: at least it, in lumps of a level's mass.
        covered = np.mean((rated >= low) & (rated <= high))
        assert level - 0.02 <= covered <= level + 0.2
        widths[level] = np.mean(high - low)
    assert widths[0.5] < widths[0.8] - 0.5


def test_an_ordinal_day_context_moves_a_prediction_on_the_latent_scale(planted):
    frame = planted[0]
    data = rf.Dataset.from_frame(frame[["user", "item", "rating"]]).with_times(frame["time"])
    model = rf.BFM(time=True, **SMALL_FIT).fit(data)
    users, items = frame.user.to_numpy(str)[:500], frame.item.to_numpy(str)[:500]
    at_days = model.predict_at(users, items, frame.time.to_numpy()[:500])
    plain = model.predict(users, items).values
    assert model.cutpoints_ is not None
    assert at_days.min() >= 1.0 and at_days.max() <= 5.0
    assert 0 < np.abs(at_days - plain).max() < 1.0
    # Moved through the link: the latent value plus the day's move, read as a rating.
    u, i = model.user_index(users), model.item_index(items)
    moves = model.day_moves(u, i, frame.time.to_numpy()[:500].astype(float))
    expected = ordinal.expected(model._latent_index(u, i) + moves, model.levels_, model.cutpoints_)
    assert at_days == pytest.approx(expected, abs=1e-9)


def test_export_says_how_to_read_an_ordinal_model_and_nothing_of_a_gaussian_one(fits, tmp_path):
    for name, model in fits.items():
        rf.save(model, tmp_path / f"{name}.model")
        result = run("export", "-m", str(tmp_path / f"{name}.model"), "-o",
                     str(tmp_path / f"{name}.csv"))  # fmt: skip
        assert result.exit_code == 0
        if model.cutpoints_ is None:  # it printed an empty line
            assert result.stderr == ""
        else:
            cuts = ", ".join(f"{c:.6g}" for c in model.cutpoints_)
            assert result.stderr == (
                "note: this model is ordinal: the mean, biases and factors give a rating's "
                "latent value f; its expected rating is 1 + the sum over the cutpoints c_j "
                f"({cuts}) of (the next level - the one below) * Phi(f - c_j)\n"
            )
