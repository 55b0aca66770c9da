"""Top-N selection: `top_n` against a full sort, and lists screened in float32 against the
exact float64 ranking of every item."""

from __future__ import annotations

import numpy as np
import pytest

import recfactor as rf
from recfactor.models import screening
from recfactor.models.scoring import top_n
from tests.conftest import planted_ratings


def _by_sort(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference: each row sorted by (score descending, index ascending), finite only."""
    idx = np.full((len(scores), n), -1)
    vals = np.full((len(scores), n), np.nan)
    for r, row in enumerate(scores):
        keep = [j for j in np.lexsort((np.arange(len(row)), -row)) if np.isfinite(row[j])][:n]
        idx[r, : len(keep)] = keep
        vals[r, : len(keep)] = row[keep]
    return idx, vals


@pytest.mark.parametrize("n", [1, 3, 7, 12])
def test_top_n_equals_a_full_sort_with_ties_and_non_finite_entries(n):
    rng = np.random.default_rng(n)
    scores = rng.integers(0, 5, (40, 12)).astype(float)  # many ties, across the n-th place
    scores[rng.random(scores.shape) < 0.15] = -np.inf
    scores[rng.random(scores.shape) < 0.05] = np.nan
    scores[rng.random(scores.shape) < 0.05] = np.inf
    scores[3] = -np.inf  # a row with nothing to list
    idx, vals = top_n(scores, n)
    want_idx, want_vals = _by_sort(scores, n)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(vals, want_vals)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 3, 12, 64])
def test_the_compiled_pass_equals_a_full_sort(n, dtype, monkeypatch):
    """Large blocks are ranked by one compiled pass (kernels/ranking.py): the same lists, ties
    by lower index across the n-th place, nothing that is not finite, short rows padded."""
    from recfactor.models import scoring

    rng = np.random.default_rng(100 + n)
    scores = rng.integers(0, 6, (60, 90)).astype(dtype)
    scores[rng.random(scores.shape) < 0.2] = -np.inf
    scores[rng.random(scores.shape) < 0.05] = np.nan
    scores[rng.random(scores.shape) < 0.05] = np.inf
    scores[5] = -np.inf  # nothing to list
    scores[9, 80:] = 1.0  # a row with fewer finite entries than n
    scores[9, :80] = np.nan
    monkeypatch.setattr(scoring, "COMPILED_TOP_CELLS", 0)
    idx, vals = top_n(scores, n)
    want_idx, want_vals = _by_sort(scores, n)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(vals, want_vals)
    assert vals.dtype == np.float64


def test_a_large_block_takes_the_compiled_pass_and_lists_as_numpy_does(monkeypatch):
    from recfactor.kernels import ranking
    from recfactor.models import scoring

    rng = np.random.default_rng(7)
    scores = np.round(rng.normal(size=(300, 8000)), 2)  # 2.4M scores, ties at two decimals
    scores[rng.random(scores.shape) < 0.01] = -np.inf
    calls = []
    original = ranking.top_rows
    ranking.warm_up()
    monkeypatch.setattr(ranking, "warm_up", lambda dtype: None)
    monkeypatch.setattr(ranking, "top_rows", lambda *a: calls.append(1) or original(*a))
    compiled = top_n(scores, 10)
    assert calls == [1]
    monkeypatch.setattr(scoring, "COMPILED_TOP_CELLS", 1 << 40)
    by_numpy = top_n(scores, 10)
    assert calls == [1]
    np.testing.assert_array_equal(compiled[0], by_numpy[0])
    np.testing.assert_array_equal(compiled[1], by_numpy[1])


def _exact_lists(model, users, n, exclude_seen):
    s = model.scores(users)
    if exclude_seen:
        rows, cols = model._seen_cells(users)
        s[rows, cols] = -np.inf
    return top_n(s, n)


@pytest.mark.parametrize("blocks", ["numpy", "compiled"])
@pytest.mark.parametrize("ensemble", [1, 3])
def test_lists_screened_in_float32_are_the_exact_lists(ensemble, blocks, monkeypatch):
    """A few users are screened by numpy, a block of many in one compiled pass (forced here
    for 300 users): the exact lists either way."""
    from recfactor.models import scoring

    if blocks == "compiled":
        monkeypatch.setattr(scoring, "COMPILED_TOP_CELLS", 0)
    data, *_ = planted_ratings(seed=4, n_users=300, n_items=2000, rank=8, spread=0.8,
                               centre=3.0, density=0.05, noise=0.3)  # fmt: skip
    model = rf.SVD(factors=16, seed=0, reg=0.05, ensemble=ensemble).fit(data)
    # Items with equal factors tie exactly: the lower index must win, as in the exact path.
    model.item_factors_[7] = model.item_factors_[3]
    model.item_bias_[7] = model.item_bias_[3]
    assert screening.applies(model)
    users = np.arange(len(model.user_ids_))
    for n, exclude_seen in [(1, True), (10, True), (50, False), (2000, True)]:
        got = model.recommend_index(users, n, exclude_seen=exclude_seen)
        want = _exact_lists(model, users, n, exclude_seen)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-12)
    one = model.recommend_index(users[5:6], 10)  # one user: the matrix-vector path
    np.testing.assert_array_equal(one[0], _exact_lists(model, users[5:6], 10, True)[0])


def test_screened_lists_follow_the_model_when_its_factors_are_replaced():
    data, *_ = planted_ratings(seed=5, n_users=50, n_items=300, rank=4, spread=0.8,
                               centre=3.0, density=0.1, noise=0.3)  # fmt: skip
    model = rf.SVD(factors=8, seed=0, reg=0.1).fit(data)
    model.keep_ready()
    before = model.recommend_index(np.arange(5), 5)[0]
    model.item_factors_ = -model.item_factors_  # a new array: what was kept is made anew
    after = model.recommend_index(np.arange(5), 5)[0]
    np.testing.assert_array_equal(after, _exact_lists(model, np.arange(5), 5, True)[0])
    assert not np.array_equal(before, after)


def _first_allowed(top, scores, allowed, n):
    """The reference: each row's first ``n`` allowed items of a wider list, in its order."""
    idx = np.full((len(top), n), -1)
    vals = np.full((len(top), n), np.nan)
    for r in range(len(top)):
        keep = [k for k, j in enumerate(top[r]) if j >= 0 and allowed[j]][:n]
        idx[r, : len(keep)] = top[r, keep]
        vals[r, : len(keep)] = scores[r, keep]
    return idx, vals


@pytest.mark.parametrize("compiled", [False, True])
def test_items_not_allowed_are_ranked_out_as_the_widened_lists_cut(compiled, monkeypatch):
    """recommend_index(allowed=) lists what the n + hidden best cut to the allowed ones list:
    for a few users (screened in float32) and for a block of users (their scores set to -inf
    where hidden, no list widened by thousands of hidden items)."""
    from recfactor.models import scoring

    monkeypatch.setattr(scoring, "COMPILED_TOP_CELLS", 0 if compiled else 1 << 40)
    data, *_ = planted_ratings(seed=6, n_users=200, n_items=600, rank=6, spread=0.8,
                               centre=3.0, density=0.08, noise=0.3)  # fmt: skip
    model = rf.SVD(factors=8, seed=0, reg=0.05).fit(data)
    allowed = np.random.default_rng(0).random(len(model.item_ids_)) < 0.4
    hidden = int((~allowed).sum())
    for users in (np.arange(3), np.arange(200)):  # screened, and in a block
        for n in (1, 10, 50):
            got = model.recommend_index(users, n, allowed=allowed)
            wide = model.recommend_index(users, n + hidden)
            want = _first_allowed(*wide, allowed, n)
            np.testing.assert_array_equal(got[0], want[0])
            listed = got[0] >= 0
            np.testing.assert_array_equal(got[1][listed], want[1][listed])
            assert allowed[got[0][listed]].all()


def test_similar_items_in_blocks_are_the_whole_matrix_lists(monkeypatch):
    """Neighbours come a block of items at a time (every item of 25M ratings at once was a
    28 GB matrix): the same lists as one product of every item against every item."""
    from recfactor.models import scoring

    data, *_ = planted_ratings(seed=8, n_users=150, n_items=400, rank=5, spread=0.8,
                               centre=3.0, density=0.1, noise=0.3)  # fmt: skip
    model = rf.SVD(factors=6, seed=0, reg=0.05).fit(data)
    items = np.arange(len(model.item_ids_))
    unit = model._unit_items()
    sims = unit @ unit.T
    sims[items, items] = -np.inf
    allowed = np.random.default_rng(1).random(len(items)) < 0.7
    monkeypatch.setattr(scoring, "BLOCK_BYTES", 8 * len(items) * 64)  # blocks of 64 items
    for mask in (None, allowed):
        want = sims.copy()
        if mask is not None:
            want[:, ~mask] = -np.inf
        got = model.similar_index(items, 12, allowed=mask)
        np.testing.assert_array_equal(got[0], _by_sort(want, 12)[0])
        np.testing.assert_allclose(got[1], _by_sort(want, 12)[1], rtol=1e-12)


def test_lists_in_blocks_report_their_progress(monkeypatch):
    """recommend --all-users and similar on a file say how far they are, a block at a time."""
    from recfactor.models import scoring

    data, *_ = planted_ratings(seed=9, n_users=300, n_items=200, rank=4, spread=0.8,
                               centre=3.0, density=0.1, noise=0.3)  # fmt: skip
    model = rf.SVD(factors=4, seed=0, reg=0.05).fit(data)
    monkeypatch.setattr(scoring, "BLOCK_BYTES", 8 * 200 * 64)  # blocks of 64 rows
    heard = []
    model.recommend_index(
        np.arange(300), 5, on_block=lambda done, total: heard.append((done, total))
    )
    assert heard == [(64, 300), (128, 300), (192, 300), (256, 300), (300, 300)]
    heard.clear()
    model.similar_index(np.arange(100), 5, on_block=lambda done, total: heard.append((done, total)))
    assert heard == [(64, 100), (100, 100)]
