from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment

from recfactor import persist
from recfactor.errors import DataError, ParameterError
from recfactor.io.ratings import Dataset, ReadOptions, read_ratings
from recfactor.models.nmf import NMF, initialise, objective
from tests.conftest import SAMPLE, on_threads

FOOD_ITEMS = ["pizza", "chicken", "burger", "fries"]


def food() -> Dataset:
    return read_ratings(SAMPLE / "food.csv", ReadOptions(feedback="implicit"))


def dish_components(model: NMF) -> list[frozenset[str]]:
    """Each component's items: those above half of the component's largest weight."""
    h = model.item_factors_.T
    items = model.item_ids_
    return [frozenset(items[row >= 0.5 * row.max()]) for row in h]


def test_food_matrix_gives_one_component_per_dish_for_every_seed():
    data = food()
    assert data.item_ids.tolist() == FOOD_ITEMS
    expected = {frozenset({"pizza"}), frozenset({"chicken"}), frozenset({"burger", "fries"})}
    for seed in range(10):
        model = NMF(factors=3, seed=seed).fit(data)
        assert set(dish_components(model)) == expected, seed
        h = model.item_factors_.T
        burger_fries = h[:, 2:].max(axis=0)
        assert burger_fries[0] == pytest.approx(burger_fries[1], rel=1e-3)


def test_food_components_agree_across_seeds_up_to_permutation_and_scale():
    """Matching rule: scale every component (row of H) to unit length, then pair the
    components of each seed with seed 0's by the Hungarian method on cosine similarity;
    every matched pair must have cosine above 0.99."""
    data = food()
    reference = NMF(factors=3, seed=0).fit(data).item_factors_.T
    reference = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    for seed in range(1, 10):
        h = NMF(factors=3, seed=seed).fit(data).item_factors_.T
        h = h / np.linalg.norm(h, axis=1, keepdims=True)
        cosine = reference @ h.T
        rows, cols = linear_sum_assignment(-cosine)
        assert cosine[rows, cols].min() > 0.99, seed


def test_movie_ratings_of_article_001_predicted_inside_the_scale():
    data = Dataset.from_matrix([[5, 3, 0], [4, 0, 0], [1, 1, 0]], missing_value=0)
    model = NMF(factors=2, seed=0).fit(data)
    missing = model.predict(["1", "2", "2", "3"], ["3", "2", "3", "3"])
    # Movie 3 has no ratings at all: it is unknown, so the baseline answers and flags it.
    assert missing.cold.tolist() == [True, False, True, True]
    assert ((missing.values >= 1) & (missing.values <= 5)).all()
    assert (model.user_factors_ >= 0).all() and (model.item_factors_ >= 0).all()


@pytest.mark.parametrize(("solver", "bound"), [("cd", 1e-3), ("mu", 1e-2)])
def test_exact_low_rank_matrix_is_recovered(solver, bound):
    rng = np.random.default_rng(0)
    w, h = rng.random((200, 5)), rng.random((5, 120))
    x = w @ h
    data = Dataset.from_matrix(x, feedback="implicit")
    model = NMF(factors=5, solver=solver, epochs=5000, tol=1e-6, seed=0).fit(data)
    dense = np.zeros_like(x)
    dense[data.users, data.items] = data.ratings
    approx = model.user_factors_ @ model.item_factors_.T
    assert np.linalg.norm(dense - approx) / np.linalg.norm(dense) < bound


@pytest.mark.parametrize("penalty", ["l1_w", "l1_h", "l2_w", "l2_h"])
def test_raising_a_penalty_lowers_its_norm(penalty):
    rng = np.random.default_rng(1)
    x = rng.random((60, 4)) @ rng.random((4, 40)) + 0.1 * rng.random((60, 40))
    data = Dataset.from_matrix(x, feedback="implicit")
    side = "user_factors_" if penalty.endswith("w") else "item_factors_"
    order = 1 if penalty.startswith("l1") else 2
    norms = []
    for value in (0.0, 1.0, 10.0):
        model = NMF(factors=4, seed=0, epochs=500, tol=1e-6, **{penalty: value}).fit(data)
        norms.append(np.linalg.norm(getattr(model, side).ravel(), ord=order))
    assert norms[0] > norms[1] > norms[2]


def test_objective_is_article_000s_and_reported():
    rng = np.random.default_rng(2)
    x = sp.csr_matrix(rng.random((30, 20)))
    w, h = rng.random((30, 3)), rng.random((3, 20))
    dense = x.toarray()
    expected = (
        0.5 * np.sum((dense - w @ h) ** 2)
        + 0.1 * w.sum()
        + 0.2 * h.sum()
        + 0.5 * 0.3 * np.sum(w**2)
        + 0.5 * 0.4 * np.sum(h**2)
    )
    assert objective(x, w, h, 0.1, 0.2, 0.3, 0.4) == pytest.approx(expected, rel=1e-10)
    data = Dataset.from_matrix(dense, feedback="implicit")
    model = NMF(factors=3, seed=0).fit(data)
    fitted = objective(x, model.user_factors_, model.item_factors_.T)
    assert model.objective_ == pytest.approx(fitted, rel=1e-9)


def test_stop_rule_tolerance_and_iteration_cap():
    rng = np.random.default_rng(3)
    x = rng.random((80, 5)) @ rng.random((5, 50)) + 0.05 * rng.random((80, 50))
    data = Dataset.from_matrix(x, feedback="implicit")
    loose = NMF(factors=5, seed=0, tol=1e-2).fit(data)
    tight = NMF(factors=5, seed=0, tol=1e-5, epochs=10_000).fit(data)
    capped = NMF(factors=5, seed=0, tol=0.0, epochs=7).fit(data)
    assert loose.n_iter_ < tight.n_iter_ < 10_000
    assert tight.objective_ < loose.objective_
    assert capped.n_iter_ == 7


def test_nndsvd_is_non_negative_and_nndsvda_has_no_zeros():
    rng = np.random.default_rng(4)
    x = sp.csr_matrix(rng.random((30, 25)))
    rng2 = np.random.default_rng(0)
    w, h = initialise(x, 4, "nndsvd", rng2)
    assert (w >= 0).all() and (h >= 0).all() and (w == 0).any()
    wa, ha = initialise(x, 4, "nndsvda", np.random.default_rng(0))
    assert (wa > 0).all() and (ha > 0).all()
    # NNDSVD's first component is the leading singular pair: close to the best rank-1 fit.
    u, s, vt = np.linalg.svd(x.toarray())
    np.testing.assert_allclose(
        np.outer(w[:, 0], h[0]), s[0] * np.outer(u[:, 0], vt[0]), rtol=1e-6, atol=1e-9
    )


def test_negative_values_are_an_error_naming_the_line(write):
    data = read_ratings(write("neg.csv", "u,i,r\n1,a,3\n2,b,-2\n"))
    with pytest.raises(DataError) as err:
        NMF().fit(data)
    assert err.value.message.startswith(str(write("neg.csv", "")) + ", line 3")
    assert "negative" in err.value.message and "--algo svd" in err.value.for_command_line()[1]


def test_biased_nmf_converges_and_factors_stay_non_negative(tmp_path):
    rng = np.random.default_rng(5)
    p, q = rng.random((150, 3)), rng.random((100, 3))
    truth = 1.0 + p @ q.T + rng.normal(0, 0.3, 150)[:, None]
    users, items = np.nonzero(rng.random(truth.shape) < 0.3)
    data = Dataset.from_arrays(users, items, truth[users, items])
    rmses = []
    for seed in range(5):
        model = NMF(factors=3, bias=True, seed=seed).fit(data, rating_scale=(-100, 100))
        rmses.append(model.train_metrics_["rmse"])
        assert (model.user_factors_ >= 0).all() and (model.item_factors_ >= 0).all()
    assert max(rmses) - min(rmses) < 0.02
    baseline_rmse = (
        NMF(factors=1, bias=True, epochs=1, reg_pu=1e6, reg_qi=1e6)
        .fit(data, rating_scale=(-100, 100))
        .train_metrics_["rmse"]
    )
    assert max(rmses) < baseline_rmse
    path = persist.save(model, tmp_path / "nmf.model")
    loaded, _ = persist.load(path)
    assert (loaded.user_factors_ >= 0).all() and (loaded.item_factors_ >= 0).all()
    assert loaded.user_factors_.tobytes() == model.user_factors_.tobytes()


def test_same_seed_identical_and_solver_checked():
    data = food()
    a = NMF(factors=3, seed=4).fit(data)
    b = NMF(factors=3, seed=4).fit(data)
    assert a.user_factors_.tobytes() == b.user_factors_.tobytes()
    assert a.item_factors_.tobytes() == b.item_factors_.tobytes()
    ratings = Dataset.from_arrays(["1", "2"], ["a", "b"], [3.0, 4.0])
    with pytest.raises(ParameterError, match="multiplicative solver only"):
        NMF(solver="cd").fit(ratings)
    with pytest.raises(ParameterError, match="solver must be one of"):
        NMF(solver="als")


@pytest.mark.parametrize("feedback", ["explicit", "implicit"])
def test_identical_for_one_and_two_threads(feedback, threaded_small_fits):

    rng = np.random.default_rng(8)
    data = Dataset.from_arrays(rng.integers(0, 200, 5000), rng.integers(0, 100, 5000),
                               rng.integers(1, 6, 5000), feedback=feedback,
                               duplicates="last")  # fmt: skip

    def fit():
        model = NMF(factors=4, seed=2, epochs=20, bias=feedback == "explicit").fit(data)
        return model.user_factors_.tobytes() + model.item_factors_.tobytes()

    arrays = on_threads(fit)
    assert arrays[0] == arrays[1]
