from __future__ import annotations

import numpy as np
import pytest

from recfactor.errors import ColdStartError, DataError, FitError, ParameterError
from recfactor.evaluation import kfold
from recfactor.io.ratings import Dataset, read_ratings
from recfactor.models import model_class
from recfactor.models.baseline import Baseline
from recfactor.models.biases import fit_biases
from recfactor.models.svd import SVD

GRADIENT_EXAMPLE = [[5, 3, 0, 1], [4, 0, 0, 1], [1, 1, 0, 5], [1, 0, 0, 4], [0, 1, 5, 4]]


def low_rank(seed: int, n_users=300, n_items=200, rank=3, noise=0.1, observed=0.3):
    rng = np.random.default_rng(seed)
    p = rng.normal(0, 1, (n_users, rank))
    q = rng.normal(0, 1, (n_items, rank))
    truth = 3.0 + p @ q.T / np.sqrt(rank)
    mask = rng.random(truth.shape) < observed
    users, items = np.nonzero(mask)
    ratings = truth[users, items] + rng.normal(0, noise, len(users))
    order = rng.permutation(len(users))
    users, items, ratings = users[order], items[order], ratings[order]
    cut = int(0.8 * len(users))
    train = Dataset.from_arrays(users[:cut], items[:cut], ratings[:cut])
    return train, users[cut:], items[cut:], truth[users[cut:], items[cut:]], ratings[cut:]


def test_sgd_recovers_held_out_entries_of_low_rank_data():
    train, users, items, truth, noisy = low_rank(0)
    # A constant step in the ratings' own units: plain SGD as the textbook runs it.
    textbook = {"lr_decay": 1.0, "standardize": False}
    model = SVD(factors=3, epochs=150, lr=0.01, reg=0.01, init_std=0.1, seed=1, **textbook)
    model.fit(train, rating_scale=(-100, 100))
    estimate = model.predict(users.astype(str), items.astype(str)).values
    error_vs_truth = np.sqrt(np.mean((estimate - truth) ** 2))
    assert error_vs_truth < 0.1, error_vs_truth  # the noise level is 0.1
    baseline = Baseline().fit(train).predict(users.astype(str), items.astype(str)).values
    assert np.sqrt(np.mean((baseline - noisy) ** 2)) > 5 * error_vs_truth


def test_plain_mf_reconstructs_the_gradient_descent_example():
    data = Dataset.from_matrix(GRADIENT_EXAMPLE, missing_value=0)
    textbook = {"lr_decay": 1.0, "standardize": False}
    model = SVD(factors=2, epochs=3000, lr=0.01, reg=0.0, bias=False, init_std=0.5, seed=0,
                **textbook)  # fmt: skip
    model.fit(data)
    estimate = model.predict_index(data.users, data.items)
    assert model.uses_bias_ is False
    assert np.max(np.abs(estimate - data.ratings)) < 0.1


def test_baseline_biases_are_the_regularised_least_squares_solution():
    rng = np.random.default_rng(3)
    users = rng.integers(0, 20, 300)
    items = rng.integers(0, 15, 300)
    ratings = rng.integers(1, 6, 300).astype(float)
    data = Dataset.from_arrays(users, items, ratings, duplicates="mean")
    mu, b_u, b_i = fit_biases(
        data.users, data.items, data.ratings, data.n_users, data.n_items, 200, 5.0, 3.0
    )
    # Gradient of sum (r - mu - b_u - b_i)^2 + 5 |b_u|^2 + 3 |b_i|^2 vanishes at the optimum.
    residual = data.ratings - mu - b_u[data.users] - b_i[data.items]
    grad_u = -np.bincount(data.users, residual, data.n_users) + 5.0 * b_u
    grad_i = -np.bincount(data.items, residual, data.n_items) + 3.0 * b_i
    assert np.abs(grad_u).max() < 1e-8
    assert np.abs(grad_i).max() < 1e-8


@pytest.mark.parametrize("algo", ["baseline", "svd"])
def test_same_seed_gives_identical_arrays_and_other_seed_differs(algo):
    train = low_rank(1)[0]
    cls = model_class(algo)
    a = cls(seed=7).fit(train).to_arrays()
    b = cls(seed=7).fit(train).to_arrays()
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].tobytes() == b[name].tobytes(), name
    if algo == "svd":
        c = cls(seed=8).fit(train).to_arrays()
        assert a["item_factors"].tobytes() != c["item_factors"].tobytes()


def test_predictions_clipped_and_cold_flagged():
    data = Dataset.from_arrays(["1", "2", "1", "3"], ["A", "B", "C", "A"], [4.5, 3.0, 5.0, 2.5])
    model = SVD(factors=2, seed=0).fit(data)
    result = model.predict(["1", "1", "9", "9"], ["B", "Z", "A", "Z"])
    assert result.cold.tolist() == [False, True, True, True]
    assert (result.values >= 2.5).all() and (result.values <= 5.0).all()
    mu = model.global_mean_
    assert result.values[3] == pytest.approx(np.clip(mu, 2.5, 5.0))
    a = model.item_index(["A"])[0]
    assert result.values[2] == pytest.approx(np.clip(mu + model.item_bias_[a], 2.5, 5.0))
    with pytest.raises(ColdStartError, match="unknown user '9'"):
        model.predict(["9"], ["A"], strict=True)


def test_divergence_is_a_clear_error():
    train = low_rank(2)[0]
    with pytest.raises(FitError, match="diverged") as err:
        SVD(factors=5, lr=50.0, epochs=5).fit(train)
    # The engine names its parameter; the command line shows it as the flag.
    assert err.value.hint == "use a smaller lr (now 50) or a larger reg"
    assert err.value.for_command_line()[1] == "use a smaller --lr (now 50) or a larger --reg"


def test_parameters_are_validated():
    with pytest.raises(ParameterError, match="factors must be at least 1"):
        SVD(factors=0)
    with pytest.raises(ParameterError, match="lr must be above 0"):
        SVD(lr=0.0)
    with pytest.raises(ParameterError, match="solver must be one of"):
        SVD(solver="magic")
    with pytest.raises(ParameterError, match="seed must be at least 0"):
        SVD(seed=-1)
    with pytest.raises(ParameterError, match="split_seed must be at least 0"):
        kfold(10, 2, -1)


def test_lanczos_solver_and_its_rank_limit():
    train, users, items, truth, _ = low_rank(4, noise=0.0, observed=0.9)
    model = SVD(factors=3, solver="lanczos").fit(train, rating_scale=(-100, 100))
    estimate = model.predict(users.astype(str), items.astype(str)).values
    base = Baseline().fit(train).predict(users.astype(str), items.astype(str)).values
    assert np.sqrt(np.mean((estimate - truth) ** 2)) < 0.5 * np.sqrt(np.mean((base - truth) ** 2))
    with pytest.raises(DataError, match="more than a truncated SVD"):
        SVD(factors=500, solver="lanczos").fit(train)


def test_recommend_excludes_seen_and_ranks_by_score():
    train = low_rank(5)[0]
    model = SVD(factors=3, epochs=30, seed=0).fit(train)
    user = str(train.user_ids[0])
    top = model.recommend(user, n=5)
    seen = set(train.item_ids[train.items[train.users == 0]])
    assert len(top) == 5 and not seen & {item for item, _ in top}
    scores = [s for _, s in top]
    assert scores == sorted(scores, reverse=True)
    everything = model.scores(np.array([0]))[0]
    unseen = [j for j in range(train.n_items) if train.item_ids[j] not in seen]
    best = max(unseen, key=lambda j: everything[j])
    assert top[0][0] == train.item_ids[best]


def test_similar_items_by_cosine():
    train = low_rank(6)[0]
    model = SVD(factors=3, epochs=30, seed=0).fit(train)
    q = model.item_factors_.astype(float)
    unit = q / np.linalg.norm(q, axis=1, keepdims=True)
    cos = unit @ unit[0]
    cos[0] = -np.inf
    result = model.similar_items(str(train.item_ids[0]), n=3)
    assert [name for name, _ in result] == list(train.item_ids[np.argsort(-cos)[:3]])
    assert result[0][1] == pytest.approx(cos.max(), rel=1e-6)
    with pytest.raises(Exception, match="no item factors"):
        Baseline().fit(train).similar_items(str(train.item_ids[0]))


def test_implicit_baseline_is_popularity_and_pure_svd_ranks():
    users = ["a", "a", "b", "b", "c", "c", "d"]
    items = ["x", "y", "x", "y", "x", "z", "x"]
    data = Dataset.from_arrays(users, items, feedback="implicit")
    pop = Baseline().fit(data)
    assert pop.recommend("d", n=2) == [("y", 0.5), ("z", 0.25)]
    pure = SVD(factors=2).fit(data)
    assert pure.recommend("c", n=1)[0][0] == "y"  # c's neighbours a and b all took y


@pytest.mark.parametrize("algo", ["baseline", "svd", "nmf", "als"])
def test_implicit_data_with_no_positive_value_is_a_clear_error(algo):
    # Zero means "no interaction": PureSVD's Lanczos start and ALS's scaled confidence
    # divided by it.
    data = Dataset.from_arrays(["a", "b", "c"], ["x", "y", "x"], [0, 0, 0], feedback="implicit")
    with pytest.raises(DataError, match="every interaction value is 0 or less"):
        model_class(algo)().fit(data)


def test_truncated_svd_is_the_same_whatever_the_blas_thread_count():
    """ARPACK's products ran on every BLAS thread: 1 and 2 threads gave factors 3e-17 apart."""
    from recfactor.running import blas

    rng = np.random.default_rng(0)
    keys = rng.choice(943 * 1682, size=100_000, replace=False)
    users, items = (keys // 1682).astype(str), (keys % 1682).astype(str)
    data = Dataset.from_arrays(users, items, rng.integers(1, 6, len(keys)).astype(float))
    fits = []
    for n in (1, 2):
        with blas.threads(n):
            fits.append(SVD(factors=50, solver="lanczos").fit(data).item_factors_)
    np.testing.assert_array_equal(fits[0], fits[1])


def _stars(seed: int, n: int = 3000) -> Dataset:
    rng = np.random.default_rng(seed)
    users, items = rng.integers(0, 90, n), rng.integers(0, 70, n)
    keep = np.unique(users * 70 + items, return_index=True)[1]
    return Dataset.from_arrays(users[keep], items[keep], rng.integers(1, 11, keep.size) / 2)


def test_svd_fits_in_the_datasets_own_arrays_and_puts_them_back():
    """The grid's order is made in the dataset's arrays (no copy of the ratings) and undone
    bit for bit, after a fit and after a fit that diverged; read-only arrays are copied and
    give the same model."""
    data = _stars(5)
    assert data.ratings.dtype == np.float32  # halves are float32 exactly
    before = [a.tobytes() for a in (data.users, data.items, data.ratings)]
    model = SVD(factors=6, epochs=4, reg=0.05, seed=2).fit(data)
    assert [a.tobytes() for a in (data.users, data.items, data.ratings)] == before
    with pytest.raises(FitError, match="diverged"):
        SVD(factors=6, epochs=4, reg=0.0, lr=1e4, seed=2).fit(data)
    assert [a.tobytes() for a in (data.users, data.items, data.ratings)] == before
    frozen = _stars(5)
    for array in (frozen.users, frozen.items, frozen.ratings):
        array.flags.writeable = False
    again = SVD(factors=6, epochs=4, reg=0.05, seed=2).fit(frozen)
    assert again.user_factors_.tobytes() == model.user_factors_.tobytes()
    assert again.item_bias_.tobytes() == model.item_bias_.tobytes()


def test_svd_s_factor_rows_start_at_a_cache_line():
    """SGD's factors (updated in place, then the model's) start at a 64-byte line, so a row of
    32 float32 factors spans two lines, not three; large arrays from malloc start 16 bytes
    past one."""
    rng = np.random.default_rng(0)
    n = 60_000
    data = Dataset.from_arrays(rng.integers(0, 3000, n), rng.integers(0, 900, n),
                               rng.integers(1, 6, n).astype(float), duplicates="last")  # fmt: skip
    model = SVD(factors=32, epochs=2, reg=0.05).fit(data)
    assert model.user_factors_.ctypes.data % 64 == 0
    assert model.item_factors_.ctypes.data % 64 == 0
    from recfactor.models.svd import _normal

    for rows in (1, 1000, 70_000, 400_000):  # from the heap and from mmap alike
        drawn = _normal(rng, 0.0, 0.1, (rows, 32))
        assert drawn.ctypes.data % 64 == 0 and drawn.shape == (rows, 32)


def test_svd_that_need_not_keep_the_order_fits_the_same_model(monkeypatch, tmp_path):
    """``keep_order=False`` (train on large data): the grid is made without an index of its
    slots and the ratings are left in its order, holding the same ratings; the model is the
    same bit for bit, its penalty chosen on the same held-out tenth. The train command takes
    that way above the size where its neighbour check refits the data."""
    from recfactor import persist
    from recfactor.workflows import training

    for bias in (False, True):  # plain MF's fallback biases too
        kept, moved = _stars(5), _stars(5)
        first = kept.users.tobytes()
        a = SVD(factors=6, epochs=4, bias=bias, seed=2).fit(kept)
        b = SVD(factors=6, epochs=4, bias=bias, seed=2).fit(moved, keep_order=False)
        for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_", "seen_items_"):
            assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), (bias, name)
        assert a.params.reg == b.params.reg and a.global_mean_ == b.global_mean_
        assert b.train_metrics_ == pytest.approx(a.train_metrics_, rel=1e-12)
    assert kept.users.tobytes() == first != moved.users.tobytes()

    def triples(d: Dataset) -> list:
        return sorted(zip(d.users.tolist(), d.items.tolist(), d.ratings.tolist()))

    assert triples(moved) == triples(kept)
    path = tmp_path / "r.csv"
    path.write_text("u,i,r\n" + "".join(f"{u},{i},{r}\n" for u, i, r in triples(kept)))
    monkeypatch.setattr(training, "NEIGHBOURS_CHECK_RATINGS", 0)
    training.train_file(path, "svd", {"factors": 6, "epochs": 4}, seed=2,
                        model_path=tmp_path / "m.model")  # fmt: skip
    saved = persist.load(tmp_path / "m.model")[0]
    again = SVD(factors=6, epochs=4, seed=2).fit(read_ratings(path))
    assert saved.user_factors_.tobytes() == again.user_factors_.tobytes()
    assert saved.seen_items_.tobytes() == again.seen_items_.tobytes()


def test_ratings_are_float32_where_exact_and_float64_otherwise():
    assert _stars(1).ratings.dtype == np.float32
    assert Dataset.from_arrays([0, 1], [0, 1], [1.0, 0.1]).ratings.dtype == np.float64
    assert Dataset.from_arrays([0, 1], [0, 1], [3, 2**25 + 1]).ratings.dtype == np.float64


@pytest.mark.parametrize(
    ("algo", "feedback", "params"),
    [
        ("baseline", "explicit", {}),
        ("svd", "explicit", {"factors": 4, "epochs": 5}),
        ("svd", "explicit", {"factors": 4, "solver": "lanczos"}),
        ("svdpp", "explicit", {"factors": 4, "epochs": 3}),
        ("als", "explicit", {"factors": 4, "epochs": 3}),
        ("nmf", "explicit", {"factors": 4, "epochs": 5}),
        ("bpmf", "explicit", {"factors": 4, "epochs": 12, "burn_in": 4, "samples": 4}),
        ("bfm", "explicit", {"factors": 4, "epochs": 12, "burn_in": 4, "samples": 4}),
        ("svd", "implicit", {"factors": 4}),
        ("als", "implicit", {"factors": 4, "epochs": 3}),
        ("nmf", "implicit", {"factors": 4, "epochs": 5}),
    ],
)
def test_float32_ratings_fit_the_model_float64_ratings_fit(algo, feedback, params):
    """Ratings kept as float32 (exactly) change no model: each fit computes in float64 as it
    did, rather than in float32 where a rating meets a Python number."""
    import dataclasses

    narrow = dataclasses.replace(_stars(7), feedback=feedback)
    wide = dataclasses.replace(narrow, ratings=narrow.ratings.astype(np.float64))
    models = [model_class(algo)(seed=3, **params).fit(data) for data in (narrow, wide)]
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        one, other = (getattr(m, name) for m in models)
        assert (one is None and other is None) or one.tobytes() == other.tobytes(), name
