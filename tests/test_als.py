from __future__ import annotations

import numpy as np
import pytest

from recfactor.errors import ParameterError
from recfactor.io.ratings import Dataset
from recfactor.models.als import ALS, explicit_objective, rating_spread
from tests.conftest import on_threads


def ratings(seed=0, n_users=120, n_items=80, rank=3, density=0.3, noise=0.2):
    rng = np.random.default_rng(seed)
    truth = 3 + rng.normal(0, 1, (n_users, rank)) @ rng.normal(0, 1, (rank, n_items)) / 2
    users, items = np.nonzero(rng.random((n_users, n_items)) < density)
    values = truth[users, items] + rng.normal(0, noise, len(users))
    return Dataset.from_arrays(users, items, values), truth


@pytest.mark.parametrize("kwargs", [{"bias": False}, {"bias": True}, {"nonnegative": True}])
def test_objective_never_increases_at_any_half_step(kwargs):
    from recfactor.kernels.als import explicit_rows
    from recfactor.kernels.linalg import csr_layout

    data, _ = ratings(1)
    model = ALS(factors=4, reg=0.05, epochs=1, **kwargs).fit(data)
    by_user = csr_layout(data.users, data.items, data.ratings, data.n_users)
    by_item = csr_layout(data.items, data.users, data.ratings, data.n_items)
    mu = model.global_mean_ if model.params.bias else 0.0
    ub = model.user_bias_ if model.params.bias else np.zeros(data.n_users)
    ib = model.item_bias_ if model.params.bias else np.zeros(data.n_items)
    model.user_bias_, model.item_bias_ = ub, ib
    values = [explicit_objective(model, data)]
    factor_reg = 0.05 * rating_spread(data.ratings)  # the factors' penalty, as the fit's
    for _ in range(6):
        for layout, other_bias, other, own, own_bias in (
            (by_item, ub, model.user_factors_, model.item_factors_, ib),
            (by_user, ib, model.item_factors_, model.user_factors_, ub),
        ):
            explicit_rows(*layout, mu, other_bias, other, own, own_bias, factor_reg, 0.05,
                          model.params.bias, model.params.nonnegative, 50, 0,
                          len(own))  # fmt: skip
            values.append(explicit_objective(model, data))
    steps = np.diff(values)
    assert (steps <= 1e-9 * values[0]).all(), steps


def test_explicit_als_recovers_low_rank_truth():
    data, truth = ratings(2, noise=0.1, density=0.5)
    model = ALS(factors=3, reg=0.01, epochs=15, bias=True).fit(data, rating_scale=(-100, 100))
    users, items = np.nonzero(np.ones_like(truth, dtype=bool))
    estimate = model.predict(users.astype(str), items.astype(str)).values
    assert np.sqrt(np.mean((estimate - truth[users, items]) ** 2)) < 0.15


def test_nonnegative_gives_non_negative_factors():
    data, _ = ratings(3)
    model = ALS(factors=5, nonnegative=True).fit(data)
    assert (model.user_factors_ >= 0).all() and (model.item_factors_ >= 0).all()
    assert model.train_metrics_["rmse"] < 1.0


@pytest.mark.parametrize("feedback", ["explicit", "implicit"])
def test_identical_for_one_and_two_threads(feedback, threaded_small_fits):
    data, _ = ratings(4)
    if feedback == "implicit":
        data = Dataset.from_arrays(data.user_ids[data.users], data.item_ids[data.items],
                                   np.abs(data.ratings), feedback="implicit")  # fmt: skip

    def fit():
        model = ALS(factors=6, seed=5).fit(data)
        return model.user_factors_.tobytes() + model.item_factors_.tobytes()

    arrays = on_threads(fit)
    assert arrays[0] == arrays[1]


def test_implicit_cg_approaches_the_exact_solve():
    rng = np.random.default_rng(6)
    users = rng.integers(0, 100, 3000)
    items = (users % 10) * 5 + rng.integers(0, 5, 3000)  # ten taste groups of five items
    data = Dataset.from_arrays(users, items, rng.integers(1, 5, 3000), feedback="implicit",
                               duplicates="sum")  # fmt: skip
    exact = ALS(factors=8, seed=0).fit(data)
    cg = ALS(factors=8, seed=0, solver="cg", cg_steps=8).fit(data)
    a = exact.user_factors_ @ exact.item_factors_.T
    b = cg.user_factors_ @ cg.item_factors_.T
    assert np.abs(a - b).max() < 0.05 * np.abs(a).max()
    # Each user's top items are those of their taste group.
    top = exact.recommend(str(data.user_ids[0]), n=3, exclude_seen=False)
    group = int(data.user_ids[0]) % 10
    assert all(int(item) // 5 == group for item, _ in top)


def test_implicit_rejects_negative_values_and_explicit_only_flags():
    data = Dataset.from_arrays(["1", "2"], ["a", "b"], [1.0, -1.0], feedback="implicit")
    with pytest.raises(Exception, match="negative"):
        ALS().fit(data)
    ok = Dataset.from_arrays(["1", "2"], ["a", "b"], [1.0, 2.0], feedback="implicit")
    with pytest.raises(ParameterError, match="explicit ALS only"):
        ALS(nonnegative=True).fit(ok)
    with pytest.raises(ParameterError, match="implicit ALS only"):
        ALS(solver="cg").fit(Dataset.from_arrays(["1"], ["a"], [3.0]))


@pytest.mark.parametrize("feedback", ["explicit", "implicit"])
def test_half_steps_cut_into_row_spans_give_the_same_factors(monkeypatch, feedback):
    """Long half-steps run as several kernel calls (so Ctrl-C is seen between them); the rows
    are independent, so the factors must not change by a bit."""
    from recfactor.kernels import als as kernels

    rng = np.random.default_rng(3)
    users = rng.integers(0, 300, 6000).astype(str)
    items = rng.integers(0, 120, 6000).astype(str)
    data = Dataset.from_arrays(users, items, rng.integers(1, 6, 6000).astype(float),
                               feedback=feedback, duplicates="last")  # fmt: skip
    whole = ALS(factors=8, seed=1).fit(data)
    monkeypatch.setattr(kernels, "ROW_WORK", 5_000)
    assert len(kernels.row_spans(np.r_[0, np.cumsum(np.full(300, 20))], 8)) > 50
    spans = ALS(factors=8, seed=1).fit(data)
    np.testing.assert_array_equal(whole.user_factors_, spans.user_factors_)
    np.testing.assert_array_equal(whole.item_factors_, spans.item_factors_)


def test_the_starts_are_unit_rows_from_the_orthant_or_the_sphere_or_small_normals():
    data = Dataset.from_arrays([str(u % 40) for u in range(400)],
                               [str(u % 37) for u in range(400)], np.ones(400) * 3)  # fmt: skip
    for init, signs in (("orthant", False), ("sphere", True)):
        model = ALS(factors=6, init=init)
        users, items = model._start(data, np.random.default_rng(0), 6)
        for rows in (users, items):
            np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0)
            assert (rows < 0).any() == signs
    users, _ = ALS(factors=6, init="normal", init_std=0.01)._start(
        data, np.random.default_rng(0), 6)  # fmt: skip
    assert 0.005 < users.std() < 0.015
    with pytest.raises(ParameterError, match="init_std applies to init normal"):
        ALS(init="sphere", init_std=0.1).fit(data)


@pytest.mark.parametrize("feedback", ["explicit", "implicit"])
def test_one_half_step_solves_each_rows_penalised_least_squares(feedback):
    """The kernels against numpy's solve, row by row, with the penalty weighted by the row's
    count (weighted lambda) and without: the same sums, so they agree to rounding."""
    from recfactor.kernels.als import explicit_rows, implicit_rows
    from recfactor.kernels.linalg import csr_layout, gram

    rng = np.random.default_rng(5)
    users = rng.integers(0, 30, 300).astype(np.int32)
    items = rng.integers(0, 20, 300).astype(np.int32)
    keep = np.unique(users.astype(np.int64) * 20 + items, return_index=True)[1]
    users, items = users[keep], items[keep]
    values = rng.integers(1, 6, len(users)).astype(np.float64)
    layout = csr_layout(users, items, values, 30)
    other = rng.normal(size=(20, 4))
    for weighted in (True, False):
        own = np.zeros((30, 4))
        if feedback == "explicit":
            zeros = np.zeros(30)
            explicit_rows(*layout, 0.0, np.zeros(20), other, own, zeros, 0.3, 0.3, False, False,
                          50, 0, 30, weighted)  # fmt: skip
        else:
            implicit_rows(*layout, other, gram(other), own, 0.3, 2.0, 0, 0, 30, weighted)
        indptr, cols, vals = layout
        for r in range(30):
            q, v = other[cols[indptr[r] : indptr[r + 1]]], vals[indptr[r] : indptr[r + 1]]
            reg = 0.3 * (len(v) if weighted else 1)
            if feedback == "explicit":
                expected = np.linalg.solve(q.T @ q + reg * np.eye(4), q.T @ v)
            else:
                c = 1 + 2.0 * v
                system = other.T @ other + (q.T * (c - 1)) @ q + reg * np.eye(4)
                expected = np.linalg.solve(system, q.T @ c)
            np.testing.assert_allclose(own[r], expected, rtol=1e-8, atol=1e-10)
