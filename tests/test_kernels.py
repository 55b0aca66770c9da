"""The compiled stratified SGD epoch against a slow pure-Python twin."""

from __future__ import annotations

import numpy as np
import pytest

from recfactor.kernels.sgd import sgd_epochs
from tests.conftest import on_threads


def sgd_epoch_reference(users, items, ratings, order, mu, bu, bi, p, q, lr, reg, lr_b, reg_b, bias,
                        user_steps=None, item_steps=None):  # fmt: skip
    """Plain SGD over ``order``; each row's factor step ``lr`` times its entry of
    ``user_steps``/``item_steps`` (1 where None)."""
    sse = 0.0
    for j in order:
        u, i = users[j], items[j]
        dot = float(p[u] @ q[i])
        if bias:
            err = ratings[j] - (mu + bu[u] + bi[i] + dot)
            bu[u] += lr_b * (err - reg_b * bu[u])
            bi[i] += lr_b * (err - reg_b * bi[i])
        else:
            err = ratings[j] - dot
        sse += err * err
        pu = p[u].copy()
        lr_u = lr * (1.0 if user_steps is None else user_steps[u])
        lr_i = lr * (1.0 if item_steps is None else item_steps[i])
        p[u] += lr_u * (err * q[i] - reg * pu)
        q[i] += lr_i * (err * pu - reg * q[i])
    return sse


MASK = (1 << 64) - 1


def mix(x):
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def lcg_permutation(n, seed, lo):
    """Fisher-Yates over range(n) with the kernel's stream for the block starting at ``lo``."""
    order = list(range(n))
    state = mix(seed ^ ((lo * 0x9E3779B97F4A7C15) & MASK))
    for t in range(n - 1, 0, -1):
        state = (state * 6364136223846793005 + 1442695040888963407) & MASK
        j = ((state >> 32) * (t + 1)) >> 32
        order[t], order[j] = order[j], order[t]
    return order


def stratified_reference(users, items, ratings, order, starts, n_blocks, diagonals, seed, chunk,
                         *rest):  # fmt: skip
    """The stratified epoch, one block after another: its chunks in the order drawn from the
    epoch's seed, plain SGD within each, the chunk's two halves taken in turns."""
    sse = 0.0
    for shift in diagonals:
        for a in range(n_blocks):
            block = a * n_blocks + (a + shift) % n_blocks
            lo, hi = int(starts[block]), int(starts[block + 1])
            for c in lcg_permutation((hi - lo + chunk - 1) // chunk, seed, lo):
                part = order[lo + c * chunk : min(lo + (c + 1) * chunk, hi)]
                sse += sgd_epoch_reference(users, items, ratings, in_turns(part), *rest)
    return sse


def in_turns(part):
    """``part``'s first half and second half interleaved, an odd one out last."""
    half = len(part) // 2
    turns = np.empty(2 * half, dtype=part.dtype)
    turns[0::2], turns[1::2] = part[:half], part[half : 2 * half]
    return np.concatenate([turns, part[2 * half :]])


def test_each_block_is_shuffled_once_as_fisher_yates_with_its_own_stream():
    from recfactor.kernels.sgd import shuffle_blocks

    starts = np.array([0, 40, 41, 100], dtype=np.int64)
    users = np.arange(100, dtype=np.int32)
    shuffle_blocks(users, starts, 99)
    for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist()):
        # Fisher-Yates from the top: the LCG's draws, as the permutation of range(hi - lo)
        expected = list(range(lo, hi))
        state = mix(99 ^ ((int(lo) * 0x9E3779B97F4A7C15) & MASK))
        for t in range(hi - 1, lo, -1):
            state = (state * 6364136223846793005 + 1442695040888963407) & MASK
            j = lo + (((state >> 32) * (t - lo + 1)) >> 32)
            expected[t - lo], expected[j - lo] = expected[j - lo], expected[t - lo]
        assert users[lo:hi].tolist() == expected


def _grid_case(rng: np.random.Generator, n: int) -> tuple:
    """``n`` random ratings of 40 users and 30 items, and a random renumbering of each side:
    (users, items, ratings), (user_perm, item_perm), (user_pos, item_pos)."""
    ratings = (rng.integers(0, 40, n).astype(np.int32), rng.integers(0, 30, n).astype(np.int32),
               rng.uniform(1, 5, n).astype(np.float32))  # fmt: skip
    perms = rng.permutation(40).astype(np.int32), rng.permutation(30).astype(np.int32)
    return ratings, perms, tuple(np.argsort(p).astype(np.int32) for p in perms)


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 1000])
def test_ratings_go_to_their_grid_slots_in_place_and_back_exactly(n):
    """to_grid moves rating origin[t] to slot t, renumbered; from_grid undoes it bit for bit
    (a permutation with long and short cycles and fixed points)."""
    from recfactor.kernels.sgd import from_grid, to_grid

    rng = np.random.default_rng(n)
    (users, items, ratings), (user_perm, item_perm), (user_pos, item_pos) = _grid_case(rng, n)
    origin = rng.permutation(n).astype(np.int32)
    origin[: n // 4] = np.sort(origin[: n // 4])  # some slots keep their rating
    before = users.copy(), items.copy(), ratings.copy()
    to_grid(origin, users, items, ratings, user_pos, item_pos)
    assert users.tolist() == user_pos[before[0][origin]].tolist()
    assert items.tolist() == item_pos[before[1][origin]].tolist()
    assert ratings.tolist() == before[2][origin].tolist()
    from_grid(origin, users, items, ratings, user_perm, item_perm)
    for now, then in zip((users, items, ratings), before):
        assert now.tobytes() == then.tobytes()


@pytest.mark.parametrize(("n", "n_blocks"), [(0, 3), (1, 3), (2000, 3), (2000, 17)])
def test_ratings_grouped_in_place_land_in_the_slots_the_index_gives(n, n_blocks):
    """group_owned and shuffle_owned (no index of the slots kept) put every rating where
    block_origin, shuffle_blocks and to_grid put it: the same grid, with 1-byte block keys
    (9 blocks) and 2-byte ones (289)."""
    from recfactor.kernels.sgd import (
        block_origin,
        group_owned,
        shuffle_blocks,
        shuffle_owned,
        to_grid,
        to_numbers,
    )

    rng = np.random.default_rng(n + n_blocks)
    (users, items, ratings), (user_perm, item_perm), (user_pos, item_pos) = _grid_case(rng, n)
    user_block = rng.integers(0, n_blocks, 40).astype(np.int32)
    item_block = rng.integers(0, n_blocks, 30).astype(np.int32)
    indexed = users.copy(), items.copy(), ratings.copy()
    origin = np.empty(n, dtype=np.int32)
    starts = block_origin(*indexed[:2], user_block, item_block, n_blocks, origin)
    shuffle_blocks(origin, starts, 7)
    to_grid(origin, *indexed, user_pos, item_pos)
    key = np.uint8 if n_blocks**2 <= 256 else np.uint16
    owned = users.copy(), items.copy(), ratings.copy()
    keys = np.empty(n, dtype=key)
    found = group_owned(*owned, keys, user_block, item_block, n_blocks, user_pos, item_pos)
    shuffle_owned(*owned, found, 7)
    assert found.tolist() == starts.tolist()
    for one, other in zip(owned, indexed):
        assert one.tobytes() == other.tobytes()
    to_numbers(owned[0], owned[1], user_perm, item_perm)
    assert owned[0].tolist() == users[origin].tolist()
    assert owned[1].tolist() == items[origin].tolist()


@pytest.mark.parametrize("by_users", [True, False])
def test_blocks_are_sorted_by_one_side_stably_with_their_slots(by_users):
    """sort_blocks orders each block by user (or item), keeping the order a row's ratings
    had among themselves, moves each rating whole and its slot with it; nothing crosses a
    block's bounds (blocks of 0, 1 and many ratings)."""
    from recfactor.kernels.sgd import sort_blocks

    rng = np.random.default_rng(4 + by_users)
    starts = np.array([0, 0, 1, 300, 301, 1000], dtype=np.int64)
    users = rng.integers(0, 50, 1000).astype(np.int32)
    items = rng.integers(0, 40, 1000).astype(np.int32)
    ratings = np.arange(1000, dtype=np.float32)  # a rating names its first slot
    origin = rng.permutation(1000).astype(np.int32)
    before = users.copy(), items.copy(), origin.copy()
    sort_blocks(users, items, ratings, origin, starts, by_users)
    key = users if by_users else items
    for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist()):
        came_from = ratings[lo:hi].astype(np.int64)
        assert sorted(came_from.tolist()) == list(range(lo, hi))
        first_key = (before[0] if by_users else before[1])[lo:hi]
        assert came_from.tolist() == (lo + np.argsort(first_key, kind="stable")).tolist()
        assert key[lo:hi].tolist() == sorted(key[lo:hi].tolist())
    slots = ratings.astype(np.int64)
    for now, then in zip((users, items, origin), before):
        assert now.tolist() == then[slots].tolist()
    no_slots = users.copy(), items.copy(), ratings.copy()
    sort_blocks(*no_slots, np.empty(0, dtype=np.int32), starts, by_users)  # already sorted
    assert all(a.tolist() == b.tolist() for a, b in zip(no_slots, (users, items, ratings)))


@pytest.mark.parametrize(("row_steps", "ahead"), [(False, 0), (True, 0), (True, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_kernel_matches_reference(bias, row_steps, ahead):
    """The compiled epoch is the reference's, with every row's step the same or each row's
    own (``dense_rows``), asking for rows ahead or not (a hint that changes nothing)."""
    rng = np.random.default_rng(0)
    n, n_users, n_items, k, n_blocks = 600, 30, 20, 7, 3
    users = rng.integers(0, n_users, n).astype(np.int32)
    items = rng.integers(0, n_items, n).astype(np.int32)
    ratings = rng.uniform(1, 5, n)
    block = (users * n_blocks // n_users) * n_blocks + items * n_blocks // n_items
    order = np.argsort(block, kind="stable").astype(np.int32)
    starts = np.r_[0, np.cumsum(np.bincount(block, minlength=n_blocks**2))].astype(np.int64)
    diagonals = np.array([2, 0, 1], dtype=np.int64)
    seed = 123456789
    state = [
        rng.normal(0, 0.1, n_users),
        rng.normal(0, 0.1, n_items),
        rng.normal(0, 0.1, (n_users, k)),
        rng.normal(0, 0.1, (n_items, k)),
    ]
    fast = [a.copy() for a in state]
    slow = [a.copy() for a in state]
    slow_order = order.copy()
    row = (rng.uniform(0.2, 1.0, n_users), rng.uniform(0.2, 1.0, n_items)) if row_steps else (
        np.ones(n_users), np.ones(n_items))  # fmt: skip
    # the epoch's steps, penalties, biases or not, each row's step multiplier
    args = (0.01, 0.05, 0.02, 0.03, bias, *row)
    steps = (np.array([0.01]), 0.05, np.array([0.02]), 0.03, bias, *row)
    # The kernel takes the ratings grouped by block (shuffled once before: shuffle_blocks)
    # and visits each block's chunks in the order the epoch's seed draws.
    grouped = [users[order].copy(), items[order].copy(), ratings[order].copy()]
    before = [a.copy() for a in grouped]
    sse = np.zeros(1)
    epoch = (diagonals[None], np.array([seed]))
    chunk = 16  # blocks of 60-70 ratings: several chunks each, visited in a drawn order
    ran = sgd_epochs(*grouped, starts, starts[1:].copy(), n_blocks, *epoch, 3.0, *fast, *steps, sse,
                     chunk, ahead)  # fmt: skip
    assert ran == 1
    sse_fast = sse[0]
    sse_slow = stratified_reference(users, items, ratings, slow_order, starts, n_blocks,
                                    diagonals, seed, chunk, 3.0, *slow, *args)  # fmt: skip
    for moved, column in zip(grouped, before):
        assert moved.tolist() == column.tolist()  # the epoch moves no rating
    assert sse_fast == pytest.approx(sse_slow, rel=1e-10)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("row_bytes", "shape"), [(None, (300, 200)), (4096, (300, 200)),
                                                  (None, (200, 300))])  # fmt: skip
def test_result_does_not_depend_on_thread_count(threaded_small_fits, row_bytes, shape,
                                                monkeypatch):  # fmt: skip
    """On the default 8 x 8 grid, and on the finer grid of large data (forced here); blocks
    sorted by user (more users than items) and by item."""

    from recfactor.io.ratings import Dataset
    from recfactor.models.svd import SVD

    rng = np.random.default_rng(5)
    data = Dataset.from_arrays(
        rng.integers(0, shape[0], 20_000),
        rng.integers(0, shape[1], 20_000),
        rng.integers(1, 6, 20_000),
        duplicates="last",
    )
    if row_bytes is not None:
        monkeypatch.setattr("recfactor.models.svd.BLOCK_ROW_BYTES", row_bytes)

    def fit():
        model = SVD(factors=16, epochs=5, seed=3).fit(data)
        return model.user_factors_.tobytes(), model.item_bias_.tobytes()

    factors = on_threads(fit)
    assert factors[0] == factors[1]


def test_asking_for_rows_ahead_leaves_the_model_as_it_was(monkeypatch):
    """Short runs of a row's ratings in a block (sparse data, and the penalty's samples) make
    the kernel ask for rows ahead; long runs do not. Either way, the same model bit for
    bit."""
    import recfactor.models.svd as svd
    from recfactor.io.ratings import Dataset

    monkeypatch.setattr(svd, "core_cache_bytes", lambda: 1 << 20)
    assert svd.prefetch_distance(20_000, 8, 3000, 500, 64) == svd.PREFETCH_AHEAD  # under 1 a run
    assert svd.prefetch_distance(9_000_000, 8, 70_000, 10_000, 400) == 0  # 16 a run, 0.5 MB
    # 9 a run, but a block's item rows (1.4 MB) outgrow the cache: the 25M set
    assert svd.prefetch_distance(23_750_000, 16, 162_541, 59_047, 400) == svd.PREFETCH_AHEAD
    monkeypatch.setattr(svd, "core_cache_bytes", lambda: 256 << 10)  # a smaller core's
    assert svd.prefetch_distance(9_000_000, 8, 70_000, 10_000, 400) == svd.PREFETCH_AHEAD
    rng = np.random.default_rng(4)
    data = Dataset.from_arrays(rng.integers(0, 3000, 20_000), rng.integers(0, 500, 20_000),
                               rng.integers(1, 6, 20_000), duplicates="last")  # fmt: skip
    asked: list[int] = []
    real = svd.prefetch_distance
    monkeypatch.setattr(svd, "prefetch_distance", lambda *a: asked.append(real(*a)) or asked[-1])

    def fit() -> bytes:
        model = svd.SVD(factors=16, epochs=4, reg=0.05, seed=1).fit(data)
        return model.user_factors_.tobytes() + model.item_factors_.tobytes()

    ahead = fit()
    monkeypatch.setattr(svd, "SHORT_RUN", 0)
    assert fit() == ahead
    assert asked == [svd.PREFETCH_AHEAD, 0]


def test_the_core_s_cache_is_read_from_its_level_2(tmp_path, monkeypatch):
    """Linux describes each cache of a core in a folder (level, size); the level 2's size is
    the core's own cache, and without a description the default stands."""
    import recfactor.models.svd as svd

    caches = (("index0", "1", "48K"), ("index2", "2", "512K"), ("index3", "3", "32M"))
    for name, level, size in caches:
        (tmp_path / name).mkdir()
        (tmp_path / name / "level").write_text(level + "\n")
        (tmp_path / name / "size").write_text(size + "\n")
    monkeypatch.setattr(svd, "CACHE_INFO", str(tmp_path))
    svd.core_cache_bytes.cache_clear()
    assert svd.core_cache_bytes() == 512 << 10
    monkeypatch.setattr(svd, "CACHE_INFO", str(tmp_path / "none"))
    svd.core_cache_bytes.cache_clear()
    assert svd.core_cache_bytes() == svd.CORE_CACHE_BYTES
    svd.core_cache_bytes.cache_clear()


def test_sgd_step_follows_the_gradient():
    """One rating, one step: the update equals -lr times the finite-difference gradient of
    0.5 * err^2 + 0.5 * reg * (|p|^2 + |q|^2) (both rows updated from the old values)."""
    rng = np.random.default_rng(1)
    p = rng.normal(0, 1, (1, 4))
    q = rng.normal(0, 1, (1, 4))
    r, lr, reg = 4.0, 1e-3, 0.1

    def loss(pv, qv):
        return 0.5 * (r - pv @ qv) ** 2 + 0.5 * reg * (pv @ pv + qv @ qv)

    eps = 1e-6
    grad_p = np.array(
        [(loss(p[0] + eps * e, q[0]) - loss(p[0] - eps * e, q[0])) / (2 * eps) for e in np.eye(4)]
    )
    grad_q = np.array(
        [(loss(p[0], q[0] + eps * e) - loss(p[0], q[0] - eps * e)) / (2 * eps) for e in np.eye(4)]
    )
    p_new, q_new = p.copy(), q.copy()
    zero = np.zeros(1)
    one = np.zeros(1, np.int32)
    args = (0.0, zero.copy(), zero.copy(), p_new, q_new, np.array([lr]), reg, zero.copy(), 0.0,
            False, np.ones(1), np.ones(1))  # fmt: skip
    # chunk and ahead given as test_kernel_matches_reference gives them: the same compiled
    # kernel, not one more (5 s of a fresh run's compiling)
    sgd_epochs(
        one, one, np.array([r]), np.array([0, 1]), np.array([1]), 1, np.zeros((1, 1), np.int64),
        np.zeros(1, np.int64), *args, np.zeros(1), 16, 0,
    )  # fmt: skip
    np.testing.assert_allclose(p_new[0] - p[0], -lr * grad_p, rtol=1e-6)
    np.testing.assert_allclose(q_new[0] - q[0], -lr * grad_q, rtol=1e-6)


def test_grouping_epochs_into_kernel_calls_does_not_change_the_model(monkeypatch):
    """Small data runs every epoch in one kernel call, large data one call per few epochs:
    the draws are made up front, so both give the same bytes."""
    import recfactor.models.svd as svd
    from recfactor.io.ratings import Dataset

    rng = np.random.default_rng(8)
    data = Dataset.from_arrays(
        rng.integers(0, 100, 3000), rng.integers(0, 80, 3000), rng.integers(1, 6, 3000),
        duplicates="last",
    )  # fmt: skip
    models = []
    for work in (10**9, 3000 * 2, 1):  # all epochs in one call, two per call, one per call
        monkeypatch.setattr(svd, "EPOCH_WORK", work)
        seen: list[tuple[int, int]] = []
        model = svd.SVD(factors=8, epochs=5, seed=2)
        model.fit(data, on_epoch=lambda done, total, seen=seen: seen.append((done, total)))
        assert seen == [(e, 5) for e in range(1, 6)]
        models.append((model.user_factors_.tobytes(), model.item_factors_.tobytes()))
    assert models[0] == models[1] == models[2]


def test_random_start_is_normal_with_the_asked_mean_and_spread():
    """The counter-based Box-Muller fill: the moments and tails of N(mean, std), a fixed
    result for a seed, different results for different seeds."""
    from recfactor.kernels.sgd import fill_normal

    out = np.empty((400, 251), dtype=np.float32)  # an odd count: the last pair is half used
    fill_normal(out, 12345, 0.5, 0.1)
    z = (out.astype(np.float64).ravel() - 0.5) / 0.1
    n = z.size
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.std() - 1) < 4 * np.sqrt(0.5 / n)
    assert abs(np.mean(z**3)) < 4 * np.sqrt(15 / n)  # skewness of a normal: 0
    assert abs(np.mean(z**4) - 3) < 4 * np.sqrt(96 / n)  # kurtosis: 3
    assert abs(np.mean(np.abs(z) > 2) - 0.0455) < 0.004  # two-sided tail beyond 2 sd
    again = np.empty_like(out)
    fill_normal(again, 12345, 0.5, 0.1)
    assert again.tobytes() == out.tobytes()
    fill_normal(again, 54321, 0.5, 0.1)
    assert np.mean(again == out) < 0.01


LOAD_THEN_DOT = """
import sys
import numba
import numpy as np
from recfactor.models.biases import warm_up
warm_up()
print("scipy.linalg" in sys.modules)
@numba.njit
def dot(a, b):
    return np.dot(a, b)
print(dot(np.arange(3.0), np.arange(3.0)), "scipy.linalg" in sys.modules)
"""


def test_loading_kernels_skips_scipy_linalg_yet_np_dot_still_compiles_later():
    # In a new process: numba's first compilation is what imports scipy.linalg.
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", LOAD_THEN_DOT], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "5.0", "True"]


def test_larger_data_gets_a_finer_grid_and_learns_as_well(monkeypatch):
    """The grid follows the factor rows' size, never the machine: 8 x 8 for ml-100k's shape or
    a 9M-rating set at k=32, 16 x 16 for 25M ratings at k=100; a finer grid fits a planted
    low-rank matrix as closely as the default one."""
    from recfactor.dataset import Dataset
    from recfactor.models.svd import SVD, grid_blocks

    assert grid_blocks(943, 1682, 100) == 8
    assert grid_blocks(70_000, 10_000, 32) == 8
    assert grid_blocks(162_541, 59_047, 100) == 16
    rng = np.random.default_rng(2)
    p, q = rng.normal(0, 1, (400, 3)), rng.normal(0, 1, (300, 3))
    users, items = np.nonzero(rng.random((400, 300)) < 0.3)
    ratings = np.einsum("ij,ij->i", p[users], q[items]) + rng.normal(0, 0.1, len(users))
    data = Dataset.from_arrays(users, items, ratings)
    rmse = {}
    for row_bytes in (8 << 20, 256):  # 8 x 8, then the finest grid
        monkeypatch.setattr("recfactor.models.svd.BLOCK_ROW_BYTES", row_bytes)
        blocks = grid_blocks(data.n_users, data.n_items, 8)
        model = SVD(factors=8, epochs=60, lr=0.02, reg=0.01, bias=False, seed=1).fit(data)
        rmse[blocks] = model.train_metrics_["rmse"]
    assert sorted(rmse) == [8, 64]
    assert all(value < 0.15 for value in rmse.values()), rmse
    assert abs(rmse[8] - rmse[64]) < 0.02, rmse


def test_each_epoch_takes_its_own_step():
    """The steps decay by lr_decay an epoch: the kernel's epoch e runs at lr * decay^e, so a
    fit of three epochs at (0.05, 0.5) equals three one-epoch calls at 0.05, 0.025, 0.0125."""
    import recfactor.models.svd as svd
    from recfactor.io.ratings import Dataset

    rng = np.random.default_rng(3)
    data = Dataset.from_arrays(rng.integers(0, 50, 2000), rng.integers(0, 40, 2000),
                               rng.integers(1, 6, 2000), duplicates="last")  # fmt: skip
    decayed = svd.SVD(factors=4, epochs=3, lr=0.05, lr_decay=0.5, seed=1).fit(data)
    constant = svd.SVD(factors=4, epochs=3, lr=0.05, lr_decay=1.0, seed=1).fit(data)
    assert decayed.user_factors_.tobytes() != constant.user_factors_.tobytes()
    first = svd.SVD(factors=4, epochs=1, lr=0.05, lr_decay=0.5, seed=1).fit(data)
    same_start = svd.SVD(factors=4, epochs=1, lr=0.05, lr_decay=1.0, seed=1).fit(data)
    assert first.user_factors_.tobytes() == same_start.user_factors_.tobytes()  # epoch 0: lr


@pytest.mark.parametrize("bias", [True, False])
def test_training_error_sums_match_the_predictions(bias, monkeypatch):
    """The compiled sums of squared and absolute errors are those of ``predict_index``'s
    predictions (clipped to the ratings' scale), and the same bits on 1 and 2 threads."""
    from recfactor.io.ratings import Dataset
    from recfactor.models.svd import SVD

    monkeypatch.setattr("recfactor.models.scoring.ERRORS_BLOCK", 1000)  # compiled from 1,000

    rng = np.random.default_rng(11)
    n = 100_000  # several pieces of ERROR_PIECE pairs
    data = Dataset.from_arrays(rng.integers(0, 500, n), rng.integers(0, 300, n),
                               rng.integers(1, 6, n), duplicates="last")  # fmt: skip
    model = SVD(factors=6, epochs=3, reg=0.05, bias=bias, seed=0).fit(data)
    errors = model.predict_index(data.users, data.items) - data.ratings
    sums = on_threads(lambda: model.error_sums(data.users, data.items, data.ratings))
    assert sums[0] == sums[1]
    assert sums[0][0] == pytest.approx(float(np.square(errors).sum()), rel=1e-12)
    assert sums[0][1] == pytest.approx(float(np.abs(errors).sum()), rel=1e-12)
    assert model.train_metrics_["rmse"] == pytest.approx(np.sqrt(np.square(errors).mean()))
