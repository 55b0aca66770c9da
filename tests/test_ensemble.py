"""Seed ensembles: the average of N seeded fits as one model (its predictions the members'
mean, its lists steadier than one seed's), saved and used as any model; and each listed
item's share of the fits whose own list holds it (``--stability``)."""

from __future__ import annotations

import numpy as np
import pytest

from recfactor import persist
from recfactor.errors import ModelFileError, ParameterError
from recfactor.models import model_class
from recfactor.models.ensemble import list_support, spaced_seed
from tests.cli import rows, run
from tests.conftest import planted_ratings, random_ratings_csv

SVD = model_class("svd")


@pytest.fixture(scope="module")
def planted():
    """Rank 4 around 3.5 with noise 0.5, 150 users x 100 items, 25% observed: the other
    cells are the test set."""
    return planted_ratings(3, 150, 100, 4, 0.6, 3.5, 0.25, 0.5)[:4]


def _svd(**kw):
    return SVD(factors=8, epochs=30, **kw)


def test_an_ensemble_predicts_the_mean_of_its_members(planted):
    data = planted[0]
    whole = _svd(seed=3, ensemble=3).fit(data)
    members = [_svd(seed=s).fit(data) for s in (3, 4, 5)]
    users = np.arange(data.n_users)
    mean = np.mean([m.scores(users) for m in members], axis=0)
    np.testing.assert_allclose(whole.scores(users), mean, atol=1e-5)
    assert whole.user_factors_.shape == (data.n_users, 24)
    # One fit's factors to read (inspect, stability): the last member's.
    np.testing.assert_allclose(whole.latent_factors()[1], members[-1].item_factors_, atol=1e-6)


def test_an_ensemble_is_more_accurate_and_its_lists_steadier(planted):
    data, tu, ti, truth = planted

    def error(model):
        return np.sqrt(np.mean((model.predict(tu, ti).values - truth) ** 2))

    def overlap(a, b):
        users = np.arange(data.n_users)
        x, y = a.recommend_index(users, 10)[0], b.recommend_index(users, 10)[0]
        return np.mean([len(set(r) & set(s)) / 10 for r, s in zip(x, y)])

    single = [_svd(seed=s).fit(data) for s in (0, 1)]
    pair = [_svd(seed=s, ensemble=5).fit(data) for s in (0, 5)]  # disjoint members
    assert error(pair[0]) < min(error(m) for m in single)
    assert overlap(*pair) > overlap(*single) + 0.1


def test_an_ensemble_file_round_trips_and_is_checked(planted, tmp_path):
    model = _svd(ensemble=2).fit(planted[0])
    path = tmp_path / "e.model"
    persist.save(model, path)
    loaded, _ = persist.load(path)
    assert loaded.params.ensemble == 2
    users = np.arange(5)
    np.testing.assert_array_equal(loaded.scores(users), model.scores(users))
    arrays = model.to_arrays()
    arrays["member_item_bias"] = arrays["member_item_bias"][:, :1]
    model.to_arrays = lambda: arrays
    with pytest.raises(ModelFileError, match=r"not load again.*not 2 columns"):
        persist.save(model, tmp_path / "bad.model")  # the check that load makes


def test_what_an_ensemble_refuses(planted):
    data = planted[0]
    with pytest.raises(ParameterError, match="cannot start from a model"):
        _svd(ensemble=2).fit(data, warm_start=_svd().fit(data))
    with pytest.raises(ParameterError, match="no ensemble"):
        model_class("bfm")(epochs=4, burn_in=1, ensemble=2).fit(data)
    with pytest.raises(ParameterError, match="ensemble must be at least 1"):
        SVD(ensemble=0)


def test_runs_under_several_seeds_share_no_member():
    assert [spaced_seed(s, {"ensemble": 5}) for s in (0, 1, 2)] == [0, 5, 10]
    assert spaced_seed(7, {}) == 7


def test_stability_is_the_share_of_members_whose_list_holds_the_item(planted):
    data = planted[0]
    model = _svd(ensemble=4).fit(data)
    users = np.arange(20)
    top = model.recommend_index(users, 5)[0]
    held = list_support(model, users, top, True, None)
    assert set(np.unique(held)) <= {0.0, 0.25, 0.5, 0.75, 1.0}
    members = [_svd(seed=s).fit(data) for s in range(4)]
    own = [m.recommend_index(users, 5)[0] for m in members]
    expected = np.mean([[[j in o[r] for j in top[r]] for r in range(20)] for o in own], axis=0)
    np.testing.assert_allclose(held, expected)
    with pytest.raises(ParameterError, match="one fit"):
        list_support(_svd().fit(data), users, top, True, None)


def test_the_command_line_trains_recommends_and_updates_an_ensemble(write, tmp_path):
    data = write("r.csv", random_ratings_csv(40, 30, 0.4, seed=0))
    model = tmp_path / "m.model"
    done = run("train", data, "--ensemble", 3, "-k", 4, "-m", model, "-q")
    assert done.exit_code == 0, done.output
    listed = rows(run("recommend", "-m", model, "--user", "u1", "-n", 4, "--stability").output)
    assert [r["rank"] for r in listed] == ["1", "2", "3", "4"]
    assert {float(r["stability"]) for r in listed} <= {0.0, 1 / 3, 2 / 3, 1.0} | {
        0.333333,
        0.666667,
    }
    near = rows(run("similar", "-m", model, "--item", "i1", "-n", 3, "--stability").output)
    assert len(near) == 3 and all(0 <= float(r["stability"]) <= 1 for r in near)
    single = tmp_path / "one.model"
    assert run("train", data, "-k", 4, "-m", single, "-q").exit_code == 0
    refused = run("recommend", "-m", single, "--user", "u1", "--stability")
    assert refused.exit_code == 2 and "--ensemble 5" in refused.output
    new = write("new.csv", "user,item,rating\nu1,i2,5\nu99,i3,4\n")
    updated = run("update", "-m", model, new, "--save-as", tmp_path / "up.model")
    assert updated.exit_code == 0 and "refitted (an ensemble)" in updated.output
    spark = run("train", data, "--algo", "als", "--engine", "spark", "--ensemble", 2)
    assert spark.exit_code == 2 and "one model" in spark.output


@pytest.mark.parametrize("algo", ["svd", "svdpp"])
def test_members_fitted_in_worker_processes_give_the_same_model(planted, monkeypatch, algo):
    """Members side by side in processes of one thread each, or one after another with the
    fit's threads: the same bytes."""
    from recfactor.models import ensemble

    data = planted[0]
    cls = model_class(algo)
    here = cls(factors=4, epochs=10, ensemble=3, seed=2).fit(data)
    monkeypatch.setattr(ensemble, "_in_parallel", lambda dataset, n: True)
    seen = []
    there = cls(factors=4, epochs=10, ensemble=3, seed=2).fit(data, on_epoch=lambda d, t:
                                                                  seen.append((d, t)))  # fmt: skip
    assert seen[-1] == (3, 3)
    for name in ("user_factors_", "item_factors_", "user_bias_", "member_item_bias_"):
        assert getattr(here, name).tobytes() == getattr(there, name).tobytes(), name
