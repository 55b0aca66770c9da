"""Bayesian PMF by Gibbs sampling: planted low-rank ratings recovered near the noise, the
average over kept sweeps, determinism whatever the threads, and the command line."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from recfactor.cli import app
from recfactor.dataset import Dataset
from recfactor.errors import ParameterError
from recfactor.models import model_class
from recfactor.models.bpmf import _wishart, kept_sweeps
from tests.conftest import planted_ratings

BPMF = model_class("bpmf")


@pytest.fixture(scope="module")
def planted():
    """Rank 3 around 3.5 with noise 0.3, 200 users x 120 items, 30% observed; the other
    cells are the test set."""
    return planted_ratings(11, 200, 120, 3, 0.7, 3.5, 0.3, 0.3)[:4]


def test_planted_ratings_are_recovered_near_the_noise(planted):
    data, tu, ti, truth = planted
    model = BPMF(factors=3, epochs=60, burn_in=15, samples=20, seed=0).fit(data)
    error = np.sqrt(np.mean((model.predict(tu, ti).values - truth) ** 2))
    assert error < 0.3  # of the truth itself, not of noisy ratings
    one = BPMF(factors=3, epochs=60, burn_in=15, samples=1, seed=0).fit(data)
    single = np.sqrt(np.mean((one.predict(tu, ti).values - truth) ** 2))
    assert error < single  # the average over sweeps beats the last sweep alone
    assert model.user_factors_.shape == (data.n_users, 3 * 20)


def test_the_same_seed_gives_the_same_model_whatever_the_threads(planted, threaded_small_fits):
    import numba

    data = planted[0]
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = BPMF(factors=3, epochs=8, burn_in=2, samples=3, seed=4).fit(data)
        numba.set_num_threads(max(2, before))
        two = BPMF(factors=3, epochs=8, burn_in=2, samples=3, seed=4).fit(data)
    finally:
        numba.set_num_threads(before)
    assert one.user_factors_.tobytes() == two.user_factors_.tobytes()
    assert one.item_factors_.tobytes() == two.item_factors_.tobytes()


def testkept_sweeps_are_evenly_spaced_and_end_at_the_last():
    assert kept_sweeps(20, 150, 50)[149] == 49 and len(kept_sweeps(20, 150, 50)) == 50
    assert list(kept_sweeps(2, 6, 10)) == [2, 3, 4, 5]  # fewer sweeps than asked: all
    with pytest.raises(ParameterError, match="burn_in"):
        BPMF(epochs=10, burn_in=10).fit(Dataset.from_arrays(["a", "b"], ["x", "y"], [1, 2]))


def test_wishart_draws_have_the_scale_times_the_degrees_as_their_mean():
    rng = np.random.default_rng(0)
    scale = np.array([[2.0, 0.5], [0.5, 1.0]])
    mean = np.mean([_wishart(scale, 7, rng) for _ in range(4000)], axis=0)
    np.testing.assert_allclose(mean, 7 * scale, rtol=0.05)


def test_the_command_line_trains_and_evaluates_bpmf(tmp_path):
    from tests.conftest import SAMPLE

    runner = CliRunner()
    data = str(SAMPLE / "ratings.csv")
    model = str(tmp_path / "b.model")
    flags = ["-k", "4", "--epochs", "30", "--burn-in", "10", "--samples", "5"]
    trained = runner.invoke(app, ["train", data, "--algo", "bpmf", *flags, "-m", model, "-q"])
    assert trained.exit_code == 0, trained.output
    one = runner.invoke(app, ["predict", "--user", "u1", "--item", "m002", "-m", model])
    assert one.exit_code == 0 and one.stdout.strip().endswith(",false")
    shown = runner.invoke(app, ["inspect", "-m", model, "--format", "json"])
    import json

    info = json.loads(shown.stdout)  # the last draw's 4 factors, not 5 draws x 4 columns
    assert info["factors"] == 4 and len(info["latent_factors"]) == 4
    bad = runner.invoke(app, ["train", data, "--algo", "bpmf", "--epochs", "5", "--burn-in", "5"])
    assert bad.exit_code == 2 and "burn_in" in bad.stderr.replace("-", "_")


def test_the_model_is_the_same_on_any_rating_scale(planted):
    """Sampled in units of the ratings' spread: ratings times 1000 (or plus 50) give the same
    predictions times 1000 (plus 50), to float32 rounding; constant ratings predict the
    constant instead of diverging."""
    data, tu, ti, _ = planted
    settings = dict(factors=3, epochs=10, burn_in=3, samples=4, seed=1)
    wide = (-1e9, 1e9)  # no clipping, which would differ by scale
    base = BPMF(**settings).fit(data, rating_scale=wide).predict(tu, ti).values
    for scale, shift in ((1000.0, 0.0), (1.0, 50.0)):
        moved = Dataset.from_arrays(data.user_ids[data.users], data.item_ids[data.items],
                                    data.ratings * scale + shift)  # fmt: skip
        again = BPMF(**settings).fit(moved, rating_scale=wide).predict(tu, ti).values
        np.testing.assert_allclose(again, base * scale + shift, rtol=1e-5, atol=1e-4 * scale)
    flat = Dataset.from_arrays(["a", "b", "a"], ["x", "y", "y"], [3.0, 3.0, 3.0])
    assert BPMF(**settings).fit(flat).predict(["b"], ["x"]).values.tolist() == [3.0]


def test_a_pair_with_one_unknown_side_takes_the_known_sides_lean(planted):
    """A new item for a known user: mu + p_u . (the items' mean factors), the posterior's
    guess for a new row; two unknowns: mu."""
    data = planted[0]
    model = BPMF(factors=3, epochs=20, burn_in=5, samples=5, seed=0).fit(data)
    users = ["0", "1", "2", "nobody"]
    got = model.predict(users, ["new item"] * 4)
    assert got.cold.all()
    p = model.user_factors_[model.user_index(users[:3])].astype(np.float64)
    lean = model.global_mean_ + p @ model.item_factors_.astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(got.values[:3], np.clip(lean, *model.rating_scale_), rtol=1e-6)
    assert len(set(np.round(got.values[:3], 6))) == 3 and got.values[3] == model.global_mean_


def test_a_file_whose_factors_disagree_with_its_columns_is_refused(tmp_path):
    """The saved columns are the kept draws side by side: a manifest that says factors=5 over
    a file of 10-factor draws would read as other draws (zero weights in inspect)."""
    import io
    import json

    from recfactor import persist
    from recfactor.errors import ModelFileError
    from tests.corpus import npy, rezip

    rng = np.random.default_rng(0)
    stars = rng.integers(1, 6, 300).astype(float)
    data = Dataset.from_arrays(rng.integers(0, 20, 300), rng.integers(0, 15, 300), stars,
                               duplicates="last")  # fmt: skip
    model = model_class("bpmf")(factors=4, epochs=12, burn_in=4, samples=5).fit(data)
    persist.save(model, tmp_path / "good")
    assert persist.load(tmp_path / "good")[0].item_factors_.shape[1] == 4 * 5
    for key, value in (("factors", 2), ("samples", 3), ("burn_in", 10)):

        def edit(name, raw, key=key, value=value):
            if name != "manifest.npy":
                return name, raw
            manifest = json.loads(np.load(io.BytesIO(raw)).tobytes())
            manifest["params"][key] = value
            return name, npy(np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8))

        (tmp_path / "bad").write_bytes(rezip((tmp_path / "good").read_bytes(), edit))
        with pytest.raises(ModelFileError, match="factor columns"):
            persist.load(tmp_path / "bad")
