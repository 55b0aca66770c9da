"""svd's early stop on large data: a held-out share of the ratings, never fitted, ends the fit
at the first epoch that gains too little on them; and each row's step by its ratings."""

from __future__ import annotations

import numpy as np
import pytest

import recfactor as rf
import recfactor.models.svd as svd
from recfactor.kernels.sgd import held_sse, hold_out
from recfactor.models.svd import SVD
from tests.conftest import on_threads


@pytest.fixture(scope="module")
def planted():
    """600 users x 400 items of rank 3 plus biases, noise 0.3, a quarter observed (about
    60,000 ratings: rows of 100-150); the truth of every pair for scoring."""
    rng = np.random.default_rng(11)
    p, q = rng.normal(0, 0.8, (600, 3)), rng.normal(0, 0.8, (400, 3))
    truth = 3.0 + rng.normal(0, 0.4, 600)[:, None] + rng.normal(0, 0.4, 400) + p @ q.T
    seen = rng.random(truth.shape) < 0.25
    u, i = np.nonzero(seen)
    data = rf.Dataset.from_arrays(u, i, truth[u, i] + rng.normal(0, 0.3, len(u)))
    return data, truth


@pytest.fixture
def small_is_large(monkeypatch):
    """The planted set counts as large: the stop applies to it (its 1% held out, 600, enough
    to judge by)."""
    monkeypatch.setattr(svd, "STOP_MIN_RATINGS", 10_000)
    monkeypatch.setattr(svd, "STOP_MIN_HELD", 100)


def _truth_rmse(model, data, truth) -> float:
    users = data.user_ids.astype(int)
    items = data.item_ids.astype(int)
    rows, columns = np.meshgrid(np.arange(len(users)), np.arange(len(items)), indexing="ij")
    guess = model.predict_index(rows.ravel(), columns.ravel()).reshape(rows.shape)
    return float(np.sqrt(np.mean((guess - truth[np.ix_(users, items)]) ** 2)))


def test_a_large_fit_stops_when_its_held_out_ratings_stop_gaining(planted, small_is_large):
    data, truth = planted
    stopped = SVD(factors=8, epochs=60, seed=1).fit(data)
    whole = SVD(factors=8, epochs=60, seed=1, early_stop=False, reg=stopped.params.reg).fit(data)
    assert svd.STOP_FROM <= stopped.epochs_run_ < 60 and whole.epochs_run_ == 60
    # within 0.01 of all 60 epochs' distance from the planted truth, a third of the noise's
    # 0.3 (a rating's error: 0.317 against 0.315)
    near, nearest = _truth_rmse(stopped, data, truth), _truth_rmse(whole, data, truth)
    assert near < nearest + 0.01 and near < 0.11


def test_small_data_and_the_presets_run_every_epoch(planted):
    data, _ = planted
    assert SVD(factors=8, epochs=30, seed=1).fit(data).epochs_run_ == 30  # under a million
    libmf = SVD(preset="libmf", epochs=30)
    assert not libmf.params.early_stop and libmf.params.dense_rows == 0


def test_the_stop_and_the_model_are_the_same_on_any_thread_count(
    planted, small_is_large, threaded_small_fits
):
    data, _ = planted

    def fit():
        model = SVD(factors=8, epochs=60, seed=4).fit(data)
        return model.epochs_run_, model.user_factors_.tobytes(), model.item_factors_.tobytes()

    fits = on_threads(fit)
    assert fits[0] == fits[1] and fits[0][0] < 60


def test_the_dataset_is_given_back_as_it_was(planted, small_is_large):
    """The held-out ratings move to their blocks' ends with the rest of the grid, and are
    put back with it, bit for bit."""
    data, _ = planted
    before = [a.copy() for a in (data.users, data.items, data.ratings)]
    SVD(factors=8, epochs=40, seed=2).fit(data)
    for now, then in zip((data.users, data.items, data.ratings), before):
        assert now.tobytes() == then.tobytes()


def test_hold_out_moves_a_share_to_each_block_s_end_stably_with_the_slots():
    rng = np.random.default_rng(3)
    n = 20_000
    starts = np.array([0, 0, 7, 9000, n], dtype=np.int64)
    users = rng.integers(0, 50, n).astype(np.int32)
    items = rng.integers(0, 40, n).astype(np.int32)
    ratings = np.arange(n, dtype=np.float32)  # a rating names its first slot
    origin = np.arange(n, dtype=np.int32)
    user_counts = np.bincount(users, minlength=50)
    item_counts = np.bincount(items, minlength=40)
    user_counts[7] = 3  # user 7 has "few" ratings: none of them held out
    ends = starts[1:].copy()
    before = users.copy(), items.copy()
    held = hold_out(users, items, ratings, origin, starts, ends, 99, 0.1, user_counts,
                    item_counts, 5)  # fmt: skip
    assert 0.08 * n < held < 0.12 * n and held == int((starts[1:] - ends).sum())
    assert origin.tolist() == ratings.astype(np.int64).tolist()  # slots moved with ratings
    for b, (lo, hi) in enumerate(zip(starts[:-1].tolist(), starts[1:].tolist())):
        came = ratings[lo:hi].astype(np.int64)
        assert sorted(came.tolist()) == list(range(lo, hi))  # nothing crosses a block
        kept, out = came[: ends[b] - lo], came[ends[b] - lo :]
        assert (np.diff(kept) > 0).all() and (np.diff(out) > 0).all()  # stable
        assert 7 not in before[0][out]
    again = before[0].copy(), before[1].copy(), np.arange(n, dtype=np.float32)
    ends_again = starts[1:].copy()
    hold_out(*again, np.empty(0, np.int32), starts, ends_again, 99, 0.1, user_counts,
             item_counts, 5)  # fmt: skip
    assert again[2].tolist() == ratings.tolist() and ends_again.tolist() == ends.tolist()


def test_held_sse_is_the_held_out_ratings_squared_errors():
    rng = np.random.default_rng(5)
    n, k = 3000, 4
    starts = np.array([0, 1000, 3000], dtype=np.int64)
    ends = np.array([600, 2500], dtype=np.int64)
    users = rng.integers(0, 30, n).astype(np.int32)
    items = rng.integers(0, 20, n).astype(np.int32)
    ratings = rng.uniform(1, 5, n).astype(np.float32)
    p = rng.normal(0, 1, (30, k)).astype(np.float32)
    q = rng.normal(0, 1, (20, k)).astype(np.float32)
    bu = rng.normal(0, 1, 30).astype(np.float32)
    bi = rng.normal(0, 1, 20).astype(np.float32)
    held = np.r_[600:1000, 2500:3000]
    u, i = users[held], items[held]
    guess = 3.0 + bu[u].astype(float) + bi[i] + np.einsum("ij,ij->i", p[u].astype(float), q[i])
    expected = float(np.sum((ratings[held] - guess) ** 2))
    got = held_sse(users, items, ratings, starts, ends, np.float32(3.0), bu, bi, p, q, True)
    assert got == pytest.approx(expected, rel=1e-6)


def test_the_epochs_run_are_saved_and_shown(planted, small_is_large, tmp_path):
    from recfactor import persist
    from tests.cli import run

    data, _ = planted
    model = SVD(factors=8, epochs=60, seed=1).fit(data)
    path = persist.save(model, tmp_path / "m.model")
    assert persist.load(path)[0].epochs_run_ == model.epochs_run_ < 60
    shown = run("inspect", "-m", path, "--format", "json")
    assert f'"epochs_run": {model.epochs_run_}' in shown.stdout


def test_a_dense_row_takes_smaller_steps(planted):
    """dense_rows below the rows' ratings changes the model; above all of them it leaves it
    bit for bit as every row's same step does."""
    data, _ = planted
    same = SVD(factors=8, epochs=5, seed=1, reg=0.05, dense_rows=0).fit(data)
    above = SVD(factors=8, epochs=5, seed=1, reg=0.05, dense_rows=10_000).fit(data)
    below = SVD(factors=8, epochs=5, seed=1, reg=0.05, dense_rows=50).fit(data)
    assert same.user_factors_.tobytes() == above.user_factors_.tobytes()
    assert same.user_factors_.tobytes() != below.user_factors_.tobytes()


def test_thin_rows_leave_too_few_to_judge_by_and_every_epoch_runs(planted, small_is_large,
                                                                  monkeypatch):  # fmt: skip
    """Where few ratings can be held out (rows of a few ratings each), an epoch's gain on them
    is noise: they are fitted with the rest, and every epoch runs."""
    data, truth = planted
    monkeypatch.setattr(svd, "STOP_FEWEST", 120)  # only the densest rows: 8 held out
    model = SVD(factors=8, epochs=40, seed=1).fit(data)
    assert model.epochs_run_ == 40
    every = SVD(factors=8, epochs=40, seed=1, early_stop=False, reg=model.params.reg).fit(data)
    near, nearest = _truth_rmse(model, data, truth), _truth_rmse(every, data, truth)
    assert abs(near - nearest) < 0.005


def test_where_the_fit_stops_early_its_penalty_rungs_stop_as_it_would(planted, small_is_large,
                                                                     monkeypatch):  # fmt: skip
    """Each rung stops on the ratings it is scored on, at the first epoch from STOP_FROM that
    gains less than STOP_GAIN on them; the score is theirs at that epoch. Without the early
    stop, or on data below STOP_MIN_RATINGS, every rung runs every epoch."""
    data, _ = planted
    runs: list[tuple[float, int, bool]] = []
    real = svd._sgd

    def watched(fit, rng, p, reg, *args, **kw):
        found = real(fit, rng, p, reg, *args, **kw)
        runs.append((reg, found.epochs, kw.get("stop_on") is not None))
        return found

    monkeypatch.setattr(svd, "_sgd", watched)
    model = SVD(factors=8, epochs=60, seed=1).fit(data)
    *rungs, final = runs
    assert len(rungs) >= 3 and all(stopped for _, _, stopped in rungs) and not final[2]
    assert all(svd.STOP_FROM <= epochs < 60 for _, epochs, _ in rungs), rungs
    assert final[0] == pytest.approx(model.params.reg)
    runs.clear()
    SVD(factors=8, epochs=60, seed=1, early_stop=False).fit(data)
    assert all(epochs == 60 and not stopped for _, epochs, stopped in runs)
    runs.clear()
    monkeypatch.setattr(svd, "STOP_MIN_RATINGS", 10**9)
    SVD(factors=8, epochs=60, seed=1).fit(data)
    assert all(epochs == 60 and not stopped for _, epochs, stopped in runs)


def test_a_watched_set_scores_as_the_fitted_model_predicts(planted, monkeypatch):
    """The error a fit stops on, from factors in the grid's order, is the RMSE of the fitted
    model's own clipped predictions on those ratings."""
    data, _ = planted
    fit, held = (
        data.subset(np.arange(0, data.n_ratings, 2)),
        data.subset(np.arange(1, data.n_ratings, 2)),
    )
    p = SVD(factors=8, epochs=12, seed=2).params
    errors: list[float] = []
    real = svd._Grid.held_error

    def seen(grid, *a):
        errors.append(real(grid, *a))
        return errors[-1]

    monkeypatch.setattr(svd._Grid, "held_error", seen)
    found = svd._sgd(fit, np.random.default_rng(0), p, 0.05, 1.0, stop_on=(held, (1.0, 5.0)))
    # measured from the epoch the first stop compares with, STOP_FROM - 1, on
    assert errors and len(errors) == found.epochs - (svd.STOP_FROM - 2)
    assert errors[-1] == pytest.approx(svd._rmse(found, held, (1.0, 5.0)), rel=1e-9)


def test_a_watched_set_is_read_in_its_users_order(planted):
    """The watched ratings stand in the order of their users' rows in the grid (read in
    sequence, not one row from memory a rating), each with its own item and rating; watching
    the same set again, as the rungs' kept grid does, keeps them."""
    data, _ = planted
    fit, held = (
        data.subset(np.arange(0, data.n_ratings, 2)),
        data.subset(np.arange(1, data.n_ratings, 2)),
    )
    grid = svd._Grid(fit, 4, np.random.default_rng(0))
    grid.watch(held, (1.0, 5.0))
    users, items, ratings, _, _ = grid.watched
    assert np.all(np.diff(users) >= 0) and len(users) == held.n_ratings
    mine = sorted(zip(users.tolist(), items.tolist(), ratings.tolist()))
    given = zip(grid.user_pos[held.users].tolist(), grid.item_pos[held.items].tolist(),
                held.ratings.tolist())  # fmt: skip
    assert mine == sorted(given)
    kept = grid.watched
    grid.watch(held, (1.0, 5.0))
    assert grid.watched is kept
    grid.release()
