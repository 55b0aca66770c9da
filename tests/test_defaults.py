"""Defaults that beat the bias baseline: svd's and explicit ALS's, on every kind of rating set
here (five folds: on the mean, and on at least four folds of five), and presets that restore
the peers' defaults for one-to-one comparisons."""

from __future__ import annotations

import numpy as np
import pytest

import recfactor as rf
from recfactor.evaluation import AlgoSpec, EvalConfig, evaluate
from tests.conftest import SAMPLE


def _sparse_half_stars(scale=lambda r: r, seed=5):
    """A MovieLens-like sparse set: lognormal user activity, Zipf item popularity (most items
    have a few ratings), biases plus a weak rank-5 taste, rounded to half stars."""
    rng = np.random.default_rng(seed)
    users, items, n = 300, 3000, 15_000
    activity = rng.lognormal(0, 1, users)
    popularity = 1 / np.arange(1, items + 1) ** 0.9
    u = rng.choice(users, n, p=activity / activity.sum())
    i = rng.choice(items, n, p=popularity / popularity.sum())
    keys = np.unique(u * items + i)
    u, i = keys // items, keys % items
    taste, profile = rng.normal(0, 0.3, (users, 5)), rng.normal(0, 0.7, (items, 5))
    affinity = np.einsum("ij,ij->i", taste[u], profile[i])
    score = (3.5 + rng.normal(0, 0.4, users)[u] + rng.normal(0, 0.5, items)[i] + affinity
             + rng.normal(0, 0.5, len(u)))  # fmt: skip
    ratings = np.clip(np.rint(score * 2) / 2, 0.5, 5.0)
    return rf.Dataset.from_arrays(u.astype(str), i.astype(str), scale(ratings))


SETS = {
    "sparse half stars": lambda: _sparse_half_stars(),
    "sparse, 1-10": lambda: _sparse_half_stars(lambda r: r * 2),
    "sparse, -10..10": lambda: _sparse_half_stars(lambda r: (r - 2.75) * 4),
    "sample ratings": lambda: rf.read_ratings(SAMPLE / "ratings.csv"),
}


def _fold_rmse(data, spec):
    report = evaluate(data, EvalConfig(algos=[spec], seeds=1, folds=5, metrics=["rmse"]))
    return np.array([run["metrics"]["rmse"] for run in report.runs])


@pytest.mark.parametrize("name", list(SETS))
def test_default_svd_and_als_beat_the_baseline(name):
    data = SETS[name]()
    baseline = _fold_rmse(data, AlgoSpec("baseline"))
    for algo in ("svd", "als"):
        rmse = _fold_rmse(data, AlgoSpec(algo))
        assert rmse.mean() < baseline.mean(), (algo, rmse.mean(), baseline.mean())
        assert (rmse < baseline).sum() >= 4, (algo, rmse, baseline)


def test_the_peers_defaults_lose_where_recfactors_win():
    """Why the defaults changed: on the sparse half-star set Spark's ALS (no biases) scores
    worse than the biases alone, and Surprise's svd (20 epochs, reg 0.02) barely better."""
    data = SETS["sparse half stars"]()
    baseline = _fold_rmse(data, AlgoSpec("baseline")).mean()
    spark = _fold_rmse(data, AlgoSpec("als", rf.ALS.params_class.preset("spark"))).mean()
    surprise = _fold_rmse(data, AlgoSpec("svd", rf.SVD.params_class.preset("surprise"))).mean()
    ours = _fold_rmse(data, AlgoSpec("svd")).mean()
    assert spark > baseline and ours < surprise - 0.005 < baseline, (spark, surprise, ours)


def test_a_preset_sets_what_it_declares_and_flags_still_win():
    model = rf.SVD(preset="surprise", factors=8)
    assert (model.params.epochs, model.params.lr, model.params.reg) == (20, 0.005, 0.02)
    assert model.params.factors == 8
    assert rf.ALS(preset="spark").params.bias is False and rf.ALS().params.bias is None
    libmf = rf.SVD(preset="libmf").params
    assert (libmf.factors, libmf.epochs, libmf.reg, libmf.bias, libmf.standardize) == (
        8, 20, 0.1, False, False)  # fmt: skip
    with pytest.raises(rf.ParameterError, match="unknown preset 'lightfm'"):
        rf.SVD(preset="lightfm")


def test_svd_reads_lr_and_reg_in_the_ratings_spread_so_any_scale_gives_one_model():
    """The sparse set on half stars and on -10..10 (x4): with ``standardize`` the two fits are
    one model in two units (predictions 4x apart, the same penalty chosen); in the ratings' own
    units the wider scale gets a step 4x too large for its factors and fits worse."""
    stars, wide = SETS["sparse half stars"](), SETS["sparse, -10..10"]()
    pairs = (stars.user_ids[stars.users[:500]], stars.item_ids[stars.items[:500]])
    one, other = rf.SVD(factors=8, seed=0).fit(stars), rf.SVD(factors=8, seed=0).fit(wide)
    assert one.params.reg == other.params.reg
    expected = (one.predict(*pairs).values - 2.75) * 4
    assert np.abs(other.predict(*pairs).values - expected).max() < 1e-3
    stars_rmse = _fold_rmse(stars, AlgoSpec("svd", {"reg": 0.07}))
    raw = _fold_rmse(wide, AlgoSpec("svd", {"reg": 0.07, "standardize": False})) / 4
    assert raw.mean() > stars_rmse.mean() + 0.01, (raw.mean(), stars_rmse.mean())


def test_svd_chooses_a_smaller_penalty_where_the_ratings_are_less_noisy():
    from recfactor.models.holdout import LADDER
    from tests.conftest import planted_ratings

    chosen = {}
    for noise in (0.05, 1.0):
        data = planted_ratings(3, 300, 200, 4, 0.6, 3.0, 0.2, noise)[0]
        model = rf.SVD(factors=8, seed=0).fit(data)
        chosen[noise] = model.params.reg
        assert 0.9 * min(LADDER) < model.params.reg < max(LADDER)
        # the penalty the fit used, recorded: a refit with it gives the same model
        again = rf.SVD(factors=8, seed=0, reg=model.params.reg).fit(data)
        assert again.params == model.params
    assert chosen[0.05] < chosen[1.0], chosen


def test_the_ladder_walk_stops_at_the_best_rung_and_draws_once(monkeypatch):
    """The best rung, scaled to the whole set by the square root of the share fitted (all
    but the held-out tenth, or a sample of large data: a penalty found on a ninth of the
    ratings is a third of it on all of them)."""
    from recfactor.models import holdout
    from recfactor.models.holdout import LADDER, START, chosen_on_holdout
    from tests.conftest import planted_ratings

    data = planted_ratings(1, 60, 40, 2, 0.5, 3.0, 0.5, 0.3)[0]
    for target, cap in [(t, data.n_ratings) for t in range(len(LADDER))] + [(3, 200)]:
        monkeypatch.setattr(holdout, "MAX_RATINGS", cap)
        tried, fitted = [], set()

        def score(fit, held, value, target=target, tried=tried, fitted=fitted, cap=cap):
            tried.append(value)
            fitted.add(fit.n_ratings)
            assert fit.n_ratings + held.n_ratings <= min(cap, data.n_ratings)
            assert held.n_ratings > 0
            return abs(np.log(value / LADDER[target]))

        rng = np.random.default_rng(9)
        chosen = chosen_on_holdout(data, rng, score)
        (n_fit,) = fitted
        assert chosen == pytest.approx(LADDER[target] * np.sqrt(n_fit / data.n_ratings), 5e-3)
        assert len(tried) == len(set(tried)) <= 2 + abs(target - START - 0.5) + 0.5
        twin = np.random.default_rng(9)
        twin.integers(0, 2**63 - 1)
        assert rng.integers(1 << 30) == twin.integers(1 << 30)


@pytest.mark.parametrize(("n", "size"), [(5000, 400), (1001, 1000), (64, 64)])
def test_the_penalty_sample_is_the_first_distinct_draws(n, size):
    """The first ``size`` distinct values drawn, sorted, however close ``size`` is to ``n``
    (a million of just over a million ratings took 15 s when each round's draws were
    sorted)."""
    from recfactor.models.holdout import _sample

    taken = _sample(np.random.default_rng(3), n, size)
    draws, first = np.random.default_rng(3), []
    seen: set[int] = set()
    while len(first) < size:
        for v in draws.integers(0, n, size - len(first) + size // 16 + 64).tolist():
            if v not in seen and len(first) < size:
                seen.add(v)
                first.append(v)
    assert taken.tolist() == sorted(first)


def test_the_penalty_rungs_draw_their_common_start_once(monkeypatch):
    """Every rung starts from the same seed: its factors are filled once and copied for the
    next rungs, and the model is the one drawing them each time gives."""
    import recfactor.kernels.sgd as kernels
    import recfactor.models.svd as svd
    from tests.conftest import planted_ratings

    data = planted_ratings(2, 200, 150, 3, 0.5, 3.0, 0.3, 0.5)[0]
    svd.SVD()._prepare()  # the kernels loaded before one is watched, and not again
    monkeypatch.setattr(svd.SVD, "_prepare", lambda self: None)
    fills: list[tuple] = []
    real_fill = kernels.fill_normal
    monkeypatch.setattr(kernels, "fill_normal", lambda out, *a: fills.append(out.shape)
                        or real_fill(out, *a))  # fmt: skip
    rungs: list[float] = []
    real_sgd = svd._sgd
    monkeypatch.setattr(svd, "_sgd", lambda data, rng, p, reg, *a, **k: rungs.append(reg)
                        or real_sgd(data, rng, p, reg, *a, **k))  # fmt: skip
    model = svd.SVD(factors=8, seed=0).fit(data)
    fits = len(rungs)
    assert fits >= 4  # three rungs at least, then the final fit
    assert len(fills) == 4  # the rungs' users and items once, then the final fit's
    real_later = svd._normal_later
    monkeypatch.setattr(svd, "_normal_later", lambda rng, mean, std, shape, drawn=None:
                        real_later(rng, mean, std, shape))  # fmt: skip
    again = svd.SVD(factors=8, seed=0).fit(data)
    assert len(fills) == 4 + 2 * fits
    assert again.params.reg == model.params.reg
    assert again.user_factors_.tobytes() == model.user_factors_.tobytes()


@pytest.mark.parametrize("stops", [False, True])
def test_the_penalty_rungs_arrange_one_grid(monkeypatch, stops):
    """Every rung fits the same ratings from the same draws: the grid is built and arranged
    once and kept for the next rungs (each rung's own, built again, gives the same model),
    with the rungs' stop on their held-out ratings or without it, and the ratings fitted
    are given back as they came."""
    import recfactor.models.svd as svd
    from tests.conftest import planted_ratings

    data = planted_ratings(4, 300, 200, 3, 0.5, 3.0, 0.3, 0.5)[0]
    if stops:  # the rungs' stop, which a million ratings turn on
        monkeypatch.setattr(svd, "STOP_MIN_RATINGS", 1000)
    before = [a.copy() for a in (data.users, data.items, data.ratings)]
    built: list[int] = []
    real_init = svd._Grid.__init__

    def counted(self, dataset, *a, **k):
        built.append(dataset.n_ratings)
        real_init(self, dataset, *a, **k)

    monkeypatch.setattr(svd._Grid, "__init__", counted)
    model = svd.SVD(factors=8, seed=0).fit(data)
    rungs = [n for n in built if n < data.n_ratings]
    assert len(rungs) == 1 and len(built) == 2  # the rungs' grid, then the final fit's
    assert all(np.array_equal(a, b) for a, b in zip(before, (data.users, data.items, data.ratings)))
    real_sgd = svd._sgd
    monkeypatch.setattr(svd, "_sgd", lambda *a, grids=None, **k: real_sgd(*a, **k))
    again = svd.SVD(factors=8, seed=0).fit(data)
    assert len(built) > 4  # each rung built its own grid
    assert again.params.reg == model.params.reg
    assert again.user_factors_.tobytes() == model.user_factors_.tobytes()
    assert again.item_factors_.tobytes() == model.item_factors_.tobytes()
