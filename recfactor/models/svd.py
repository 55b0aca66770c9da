"""Matrix factorization: biased SGD (Funk; Koren, Bell, Volinsky 2009), plain MF, truncated SVD.

Explicit feedback, ``solver="sgd"``: ``mu + b_u + b_i + p_u . q_i`` learned by SGD over the
observed ratings in a fresh seeded order each epoch (``bias=False`` drops the biases: plain MF).
``solver="lanczos"``: a truncated SVD of the residuals of the baseline (scipy's ARPACK).
Implicit feedback: PureSVD (Cremonesi et al. 2010), a truncated SVD of the interaction matrix.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from recfactor.errors import DataError, FitError
from recfactor.models.base import Model
from recfactor.models.biases import baseline_estimates
from recfactor.models.declarations import SVDParams
from recfactor.models.holdout import MAX_RATINGS
from recfactor.running.heap import trim_heap

# SGD runs in float32: twice the SIMD width of float64, and its rounding is far below the
# noise of rating data (ml-100k RMSE agrees with float64 to 1e-6).
FACTOR_DTYPE = np.float32
# The SGD grid is B x B blocks of users and items (see kernels/sgd.py). B follows from the data's
# shape and the rank, never from the thread count or the machine, so a model is the same
# everywhere. 8 keeps 2-16 threads busy; larger data gets more blocks, so that the factor rows
# one block updates (its users' and its items') stay near the core: on 23.75M ratings at
# k=100 (221,588 rows, 11 MB a block at B=8) an epoch took 2.8 s at B=8 and 1.35 s at B=16,
# while on 9M ratings at k=32 (1.3 MB a block) B=8 stayed fastest (BENCHMARKS.md). Since the
# blocks are sorted by one side (kernels/sgd.py), 20 epochs on the 23.75M took 7.5-8.4 s at
# B=8 and 8.2-8.6 at B=16: 16 kept, for the cores a larger machine brings.
SGD_BLOCKS = 8
SGD_MAX_BLOCKS = 64
BLOCK_ROW_BYTES = 8 << 20
# A diverged fit with more factors than this is told to try fewer.
MANY_FACTORS = 256
# Ratings x epochs per kernel call: small data sets run every epoch in one call, large ones
# return to Python often enough for the progress bar to move.
EPOCH_WORK = 4_000_000
# early_stop: on more ratings than the penalty's rungs see (a sample of them), a share of
# them is held out and the fit ends at the first epoch (from STOP_FROM on) that lowers their
# error by less than STOP_GAIN of it. The 10M set stops at 14 epochs (test RMSE 0.6034, 20
# gave 0.6040 before), the 25M set at 18 (0.5438, against 0.5445); a gain of 0.1% stopped
# them at 13 and 15 (0.6037, 0.5447), 0.2% at 11 (0.6047, 0.5472). A smaller set's 1% is too
# few to tell an epoch's gain (MovieLens 100K's 800 would have stopped it at epoch 6), and an
# epoch before STOP_FROM may gain little only to gain more later.
STOP_MIN_RATINGS = MAX_RATINGS  # so the rungs themselves always run every epoch
STOP_SHARE = 0.01
STOP_GAIN = 0.0005
STOP_FROM = 10
# A rating is held out only where its user and its item have more than this many; fewer
# held out than STOP_MIN_HELD (data of thin rows) tell an epoch's gain from noise too
# poorly, and are fitted with the rest: every epoch runs.
STOP_FEWEST = 10
STOP_MIN_HELD = 10_000


class SVD(Model):
    """Biased matrix factorization (Funk's SVD) by stratified parallel SGD:
    ``mu + b_u + b_i + p_u . q_i``.

    ``SVD(factors=100, epochs=20, lr=0.1, lr_decay=0.85, reg=None, standardize=True,
    init_std=0.1, bias=True, seed=0)``: ``lr`` and ``reg`` in units of the ratings' standard
    deviation, ``reg`` None chosen on a held-out tenth (:mod:`recfactor.models.holdout`)
    (``SVD(preset="surprise")``: Surprise's 20 epochs, lr 0.005, reg 0.02 in the ratings' units);
    ``bias=False`` gives plain MF; ``solver="lanczos"`` a truncated SVD of the baseline's
    residuals instead of SGD. On implicit data it is PureSVD (a truncated SVD of the 0/value
    matrix). Fit with ``fit(dataset)``; then ``predict(users, items)``,
    ``recommend(user, n)``, ``similar_items(item, n)``. Same data, parameters and seed give
    the same model bit for bit, whatever the thread count.
    """

    name = "svd"
    params_class = SVDParams

    def _prepare(self) -> None:
        from recfactor.models.biases import warm_up as warm_up_biases

        warm_up_biases()
        if self.params.solver == "sgd":
            from recfactor.kernels.sgd import warm_up

            warm_up()

    def _check_data(self, dataset) -> None:
        if dataset.feedback == "implicit" or self.params.solver == "lanczos":
            k = self.params.factors
            limit = min(dataset.n_users, dataset.n_items) - 1
            if k > limit:
                raise DataError(
                    f"{dataset.source}: `factors` {k} is more than a truncated SVD of a "
                    f"{dataset.n_users} x {dataset.n_items} matrix allows ({limit})",
                    hint=f"use `factors` {max(limit, 1)} or fewer",
                )

    def _fit(self, dataset, rng: np.random.Generator) -> None:
        p: SVDParams = self.params
        if dataset.feedback == "implicit":
            self._fit_pure_svd(dataset, rng)
        elif p.solver == "lanczos":
            self._fit_lanczos(dataset, rng)
        else:
            self._fit_sgd(dataset, rng)

    @property
    def warm_starts(self) -> bool:
        return self.params.solver == "sgd"

    # The epochs an SGD fit ran (fewer than `epochs` where early_stop ended it); None for the
    # other solvers and for models saved before it was kept.
    epochs_run_: int | None = None

    def state(self) -> dict[str, Any]:
        return {**super().state(), "epochs_run": self.epochs_run_}

    def restore(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        super().restore(arrays, state)
        run = state.get("epochs_run")
        self.epochs_run_ = run if isinstance(run, int) and not isinstance(run, bool) else None

    def _fit_sgd(self, dataset, rng: np.random.Generator) -> None:
        p: SVDParams = self.params
        scale = _spread(dataset.ratings) if p.standardize else 1.0
        if p.reg is None:
            import dataclasses

            from recfactor.models.holdout import chosen_on_holdout

            # Each rung starts from the same seed, so from the same factors: drawn once,
            # where a copy of them is small (see DRAWN_MAX_BYTES).
            rows = (dataset.n_users + dataset.n_items) * p.factors
            small = rows * np.dtype(FACTOR_DTYPE).itemsize <= DRAWN_MAX_BYTES
            drawn: dict[tuple, np.ndarray] | None = {} if small else None
            # The same draws give the same grid: built and arranged once, kept for the next.
            grids: dict[tuple, tuple] = {}

            # Where the final fit may stop early, each rung stops as it would, on the
            # ratings it is scored on (BENCHMARKS.md: the 10M and 25M sets choose the same
            # penalties, their rungs running 23% and 50% fewer epochs).
            stops = p.early_stop and dataset.n_ratings > STOP_MIN_RATINGS

            def holdout_rmse(fit, held, reg: float) -> float:
                watch = (held, self.rating_scale_) if stops else None
                found = _sgd(fit, np.random.default_rng(p.seed), p, reg, scale, drawn=drawn,
                             stop_on=watch, grids=grids)  # fmt: skip
                return _rmse(found, held, self.rating_scale_)

            try:
                reg = chosen_on_holdout(dataset, rng, holdout_rmse)
            finally:
                for kept in grids.values():
                    kept[1].release()
            del drawn, grids
            trim_heap()  # the rungs' factors, freed, out of the final fit's way
            self.params = p = dataclasses.replace(p, reg=reg)
        if not p.bias:  # before the fit, which may leave the ratings in another order
            self._baseline_fallback(dataset)
        fitted = _sgd(dataset, rng, p, p.reg, scale, self._warm_rows, self._on_epoch,
                      self._keep_order)  # fmt: skip
        self.user_factors_, self.item_factors_ = fitted.user_factors, fitted.item_factors
        self.epochs_run_ = fitted.epochs
        if p.bias:
            self.global_mean_ = float(fitted.mu)
            self.user_bias_ = fitted.user_bias.astype(np.float64)
            self.item_bias_ = fitted.item_bias.astype(np.float64)
        # SGD's penalty applies at each of a user's ratings: a ridge penalty of reg * n, on the
        # factors in the ratings' units (the fit's reg was in units of their spread).
        self.fold_in_ = {"kind": "ridge", "factor_reg": p.reg * scale, "bias_reg": p.reg,
                         "per_rating": True, "nonnegative": False}  # fmt: skip

    def _fit_lanczos(self, dataset, rng: np.random.Generator) -> None:
        mu, b_u, b_i = baseline_estimates(dataset)
        residual = dataset.ratings.astype(np.float64) - mu - b_u[dataset.users] - b_i[dataset.items]
        u, s, vt = self._truncated_svd(dataset, residual, rng)
        root = np.sqrt(s)
        self.global_mean_, self.user_bias_, self.item_bias_ = mu, b_u, b_i
        self.user_factors_ = u * root
        self.item_factors_ = vt.T * root

    def _fit_pure_svd(self, dataset, rng: np.random.Generator) -> None:
        u, s, vt = self._truncated_svd(dataset, dataset.ratings.astype(np.float64), rng)
        # PureSVD scores with the item space alone: r_u V V^T, i.e. p_u = U_u S, q_i = V_i.
        self.user_factors_ = u * s
        self.item_factors_ = vt.T.copy()
        self._popularity_fallback(dataset)

    def _truncated_svd(
        self, dataset, values: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import scipy.sparse as sp
        from scipy.sparse.linalg import svds

        from recfactor.running import blas

        k = self.params.factors
        matrix = sp.csr_matrix(
            (values, (dataset.users, dataset.items)), shape=(dataset.n_users, dataset.n_items)
        )
        v0 = rng.uniform(-1.0, 1.0, min(matrix.shape))
        # One BLAS thread (scipy's BLAS is loaded by now): the last bits of ARPACK's products
        # depend on how many threads computed them, and a model must not.
        with blas.threads(1):
            u, s, vt = svds(matrix, k=k, v0=v0, solver="arpack")
        order = np.argsort(-s, kind="stable")
        return u[:, order], s[order], vt[order]


class _Fitted(NamedTuple):
    mu: float
    user_bias: np.ndarray
    item_bias: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray
    epochs: int = 0  # epochs run


# The penalty's rungs keep a copy of their common starting factors for the next rung where
# it takes at most this much: filling them again took 0.05 s a rung on the 10M set (32 MB);
# the 25M set's 88 MB, kept, raised its peak from 721 MB to 807 (BENCHMARKS.md).
DRAWN_MAX_BYTES = 64 << 20
# prefetch_distance: runs shorter than this ask for rows ahead, this many ratings ahead (2 to
# 16 measured: 4 and 8 alike, 2 and 16 a little slower).
SHORT_RUN = 4
PREFETCH_AHEAD = 4
# A core's own cache where the system does not say (1 MB: the level 2 of recent server cores).
CORE_CACHE_BYTES = 1 << 20
CACHE_INFO = "/sys/devices/system/cpu/cpu0/cache"  # Linux's description of a core's caches
SPREAD_BLOCK = 1 << 20


def _spread(ratings: np.ndarray) -> float:
    """The unit ``lr`` and ``reg`` are read in under ``standardize``: the ratings' standard
    deviation (1 where they are all alike)."""
    mean = float(ratings.mean(dtype=np.float64))
    squares = 0.0
    # A block at a time: numpy's std holds the ratings less their mean, 8 bytes a rating (the
    # peak of a 24M-rating fit's start).
    for start in range(0, len(ratings), SPREAD_BLOCK):
        centred = ratings[start : start + SPREAD_BLOCK].astype(np.float64) - mean
        squares += float(np.square(centred).sum())
    spread = (squares / max(len(ratings), 1)) ** 0.5
    return spread if spread > 0 and np.isfinite(spread) else 1.0


def _sgd(
    dataset,
    rng: np.random.Generator,
    p: SVDParams,
    reg: float,
    scale: float,
    warm_rows: Callable | None = None,
    on_epoch: Callable[[int, int], None] | None = None,
    keep_order: bool = True,
    drawn: dict[tuple, np.ndarray] | None = None,
    stop_on: tuple[Any, tuple[float, float] | None] | None = None,
    grids: dict[tuple, tuple] | None = None,
) -> _Fitted:
    """Biased (or plain) MF by stratified SGD at penalty ``reg``, ``lr`` and ``reg`` read in
    units of ``scale``: the same as SGD on ratings divided by ``scale``, with factor steps
    ``lr / scale``, factor penalty ``reg * scale`` and starting factors ``sqrt(scale)`` as
    large, while the biases' steps and penalty are unit-free. ``warm_rows(side, ids, rows)``
    puts a warm start's rows in place. ``keep_order`` False: the dataset's ratings may be left
    in the grid's order (the same model). ``drawn``: starting factors already drawn, by their
    draw, kept for the next fit (see :func:`_normal_later`). ``stop_on``: (ratings apart from
    the dataset, in its vocabularies; the scale predictions are clipped to) whose error stops
    the fit as a held-out share of it would under ``early_stop``. ``grids``: grids already
    arranged from the same dataset and draws (the rungs'), by their draws, and this one kept
    there, arranged, for the next fit, which then makes none of its draws from ``rng`` (the
    rungs draw from a fresh generator each): the caller releases them."""
    k = p.factors
    root = scale**0.5
    # The starting factors' draws come first, as ever, but the factors are filled only once
    # the ratings stand in grid order: putting them there takes a spare array of 4 bytes a
    # rating, which the factors then never meet (the peak of a large fit).
    start_users = _normal_later(rng, p.init_mean, p.init_std * root, (dataset.n_users, k), drawn)
    start_items = _normal_later(rng, p.init_mean, p.init_std * root, (dataset.n_items, k), drawn)
    blocks = grid_blocks(dataset.n_users, dataset.n_items, k)
    key = (blocks, p.epochs, keep_order, stop_on is None, str(rng.bit_generator.state))
    kept = None if grids is None else grids.get(key)
    if kept is not None and kept[0] is dataset:
        _, grid, mu, diagonals, seeds = kept  # mu: the ratings now stand in grid order
    else:
        grid, mu, diagonals, seeds = _arranged(dataset, blocks, rng, keep_order, p, stop_on)
        if grids is not None:  # the epochs leave the ratings where they are: the next can start
            grids[key] = (dataset, grid, mu, diagonals, seeds)
            grid.kept = True
    try:
        if stop_on is not None:
            grid.watch(*stop_on)
        rows = _starting_rows(grid, dataset, p, start_users(), start_items(), warm_rows)
        return _sgd_on_grid(grid, dataset, p, reg, scale, mu, *rows, diagonals, seeds, on_epoch)
    finally:
        if not grid.kept:
            grid.release()


def _arranged(dataset, blocks: int, rng: np.random.Generator, keep_order: bool, p: SVDParams,
              stop_on: Any) -> tuple[_Grid, np.floating, np.ndarray, np.ndarray]:  # fmt: skip
    """The grid of ``dataset``, arranged, with the ratings' mean and every epoch's draws;
    under ``early_stop`` (and no ``stop_on``) a share held out. Released if anything fails."""
    grid = _Grid(dataset, blocks, rng, keep_order)
    try:
        mu = FACTOR_DTYPE(dataset.ratings.mean(dtype=np.float64)) if p.bias else FACTOR_DTYPE(0)
        # Every epoch's draws are made up front, in one order, so that how the epochs are
        # grouped into kernel calls cannot change the model.
        diagonals = np.empty((p.epochs, blocks), dtype=np.int64)
        seeds = np.empty(p.epochs, dtype=np.int64)
        for epoch in range(p.epochs):
            diagonals[epoch] = rng.permutation(blocks)
            seeds[epoch] = rng.integers(0, 2**63 - 1)
        arranged = int(rng.integers(0, 2**63 - 1))
        grid.arrange(arranged)
        if stop_on is None and p.early_stop and dataset.n_ratings > STOP_MIN_RATINGS:
            grid.hold_out(arranged ^ 0x5DEECE66D, STOP_SHARE, STOP_FEWEST)  # no draw more
    except BaseException:
        grid.release()
        raise
    return grid, mu, diagonals, seeds


def _starting_rows(
    grid: _Grid,
    dataset,
    p: SVDParams,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    warm_rows: Callable | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The factors and biases the epochs start from (a warm start's rows where it has them),
    in grid order: each block's rows (and biases) contiguous, so that threads never write to
    the same cache line."""
    user_bias = np.zeros(dataset.n_users, dtype=FACTOR_DTYPE)
    item_bias = np.zeros(dataset.n_items, dtype=FACTOR_DTYPE)
    if warm_rows is not None:
        user_factors = warm_rows("user", dataset.user_ids, user_factors)
        item_factors = warm_rows("item", dataset.item_ids, item_factors)
        if p.bias:
            user_bias = warm_rows("user_bias", dataset.user_ids, user_bias)
            item_bias = warm_rows("item_bias", dataset.item_ids, item_bias)
    return (grid.user_rows(user_factors), grid.item_rows(item_factors),
            grid.user_rows(user_bias), grid.item_rows(item_bias))  # fmt: skip


def _sgd_on_grid(
    grid: _Grid,
    dataset,
    p: SVDParams,
    reg: float,
    scale: float,
    mu: np.floating,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    user_bias: np.ndarray,
    item_bias: np.ndarray,
    diagonals: np.ndarray,
    seeds: np.ndarray,
    on_epoch: Callable[[int, int], None] | None,
) -> _Fitted:
    from recfactor.kernels.sgd import CHUNK, sgd_epochs

    blocks = grid.n_blocks
    f = FACTOR_DTYPE
    # Each epoch's step the last one's times lr_decay: large steps first, small ones to settle.
    bias_lrs = (p.lr * p.lr_decay ** np.arange(p.epochs)).astype(FACTOR_DTYPE)
    factor_lrs = (bias_lrs / scale).astype(FACTOR_DTYPE)
    user_steps = _row_steps(grid.user_counts(), p.dense_rows)
    item_steps = _row_steps(grid.item_counts(), p.dense_rows)
    sse = np.zeros(p.epochs)
    ahead = prefetch_distance(dataset.n_ratings - grid.held, blocks, len(grid.user_perm),
                              len(grid.item_perm), user_factors.strides[0])  # fmt: skip
    # One epoch a call where a held-out share may stop the fit after any of them.
    per_call = 1 if grid.stops else max(1, EPOCH_WORK // dataset.n_ratings)
    last_error = np.inf
    for first in range(0, p.epochs, per_call):
        last = min(first + per_call, p.epochs)
        ran = sgd_epochs(grid.users, grid.items, grid.ratings, grid.block_start, grid.block_end,
                         blocks, diagonals[first:last], seeds[first:last], mu, user_bias,
                         item_bias, user_factors, item_factors, factor_lrs[first:last],
                         f(reg * scale), bias_lrs[first:last], f(reg), p.bias, user_steps,
                         item_steps, sse[first:last], CHUNK, ahead)  # fmt: skip
        if on_epoch is not None:
            for epoch in range(first, first + ran):
                on_epoch(epoch + 1, p.epochs)
        # A NaN or inf anywhere reaches the next errors, so an epoch's loss reveals it;
        # the factors themselves are checked once, after the last epoch.
        # Measured from the epoch the first stop compares with (the epochs before cannot
        # stop the fit; measuring them was 8 passes over the held-out ratings for nothing).
        error = np.inf if last < STOP_FROM - 1 else grid.held_error(
            mu, user_bias, item_bias, user_factors, item_factors, p.bias)  # fmt: skip
        done = last == p.epochs or (last >= STOP_FROM and error > last_error * (1 - STOP_GAIN))
        last_error = error
        if not np.isfinite(sse[first + ran - 1]) or (
            done and not (np.isfinite(user_factors).all() and np.isfinite(item_factors).all())
        ):
            # Many factors diverge at any step: the starting dot products grow with the rank.
            many = f", or fewer `factors` (now {p.factors})" if p.factors > MANY_FACTORS else ""
            raise FitError(
                f"training diverged at epoch {first + ran} (factors became infinite or NaN)",
                hint=f"use a smaller `lr` (now {p.lr:g}) or a larger `reg`{many}",
            )
        if done:
            break
    if on_epoch is not None and last < p.epochs:
        on_epoch(p.epochs, p.epochs)  # stopped early: the bar completes
    if not grid.kept:
        grid.release()  # the slots' index goes before anything more is allocated
    return _Fitted(float(mu), grid.user_rows(user_bias, back=True),
                   grid.item_rows(item_bias, back=True), grid.user_rows(user_factors, back=True),
                   grid.item_rows(item_factors, back=True), last)  # fmt: skip


def prefetch_distance(
    n_ratings: int, blocks: int, n_users: int, n_items: int, row_bytes: int
) -> int:
    """How many ratings ahead the SGD kernel asks for the rows it will need (0: it does not).

    A block's ratings are sorted by the side with more rows, so each row of that side is read
    once for its run of ratings in the block, and the other side's rows in no order. Asking
    for them a few ratings ahead pays where either misses the core's cache:
    - the runs are short (fewer than :data:`SHORT_RUN` ratings), and nearly every rating
      waits for a row of the first side: an epoch of the penalty's rungs on a million-rating
      sample of the 10M set (1.6 a run) took 0.0125 s instead of 0.0210, of the 25M set's
      (0.35 a run) 0.0205 instead of 0.0523;
    - a block's rows of the other side (``row_bytes`` each) outgrow the core's own cache
      (:func:`core_cache_bytes`): the 25M set's 1.4 MB of item rows a block (1 MB of cache)
      took 0.284 s an epoch instead of 0.315.
    Where neither holds, the rows are near already and the asking costs: the 10M set (16 a
    run, 0.5 MB of item rows a block) 0.102 s instead of 0.094, the 1M set (11 a run,
    0.15 MB) 0.0101 instead of 0.0090 (BENCHMARKS.md). A hint to the core only: the model
    is the same bit for bit either way."""
    run = n_ratings / (blocks * max(n_users, n_items, 1))
    scattered = min(n_users, n_items) / blocks * row_bytes
    return PREFETCH_AHEAD if run < SHORT_RUN or scattered > core_cache_bytes() else 0


@functools.cache
def core_cache_bytes() -> int:
    """The size of one core's own last cache (its level 2, where Linux says), else
    :data:`CORE_CACHE_BYTES`."""
    from pathlib import Path

    for index in sorted(Path(CACHE_INFO).glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        if level == "2" and size[:-1].isdigit() and size[-1] in "KM":
            return int(size[:-1]) << (10 if size[-1] == "K" else 20)
    return CORE_CACHE_BYTES


def _row_steps(counts: np.ndarray, dense: int) -> np.ndarray:
    """Each row's step multiplier from its ratings' ``counts``: min(1, sqrt(``dense`` /
    count)), 1 for every row where ``dense`` is 0; float32."""
    if dense <= 0:
        return np.ones(len(counts), dtype=FACTOR_DTYPE)
    return np.sqrt(dense / np.maximum(counts, dense)).astype(FACTOR_DTYPE)


def _rmse(fitted: _Fitted, held, rating_scale: tuple[float, float] | None) -> float:
    """RMSE of ``fitted`` on the held-out ratings (a Dataset in the same vocabularies), as
    the model's own predictions would give it (float64 sums; 0.03 s a rung by numpy's
    gathers on the 10M set's sample, 0.003 s)."""
    return _pairs_rmse(held.users, held.items, held.ratings, fitted.mu, fitted.user_bias,
                       fitted.item_bias, fitted.user_factors, fitted.item_factors, True,
                       rating_scale)  # fmt: skip


def _pairs_rmse(users, items, ratings, mu, user_bias, item_bias, user_factors, item_factors,
                bias: bool, rating_scale: tuple[float, float] | None) -> float:  # fmt: skip
    """RMSE of the factors (and biases, with ``bias``) on the rated pairs, the predictions
    clipped to ``rating_scale`` where given."""
    from recfactor.kernels.predict import pair_errors, warm_up_errors

    low, high = rating_scale or (0.0, 0.0)
    parts = 1 | 2 | 4 if bias else 4 | 8
    model = (float(mu), user_bias.astype(np.float64), item_bias.astype(np.float64),
             user_factors, item_factors, parts | (rating_scale is not None) << 4, float(low),
             float(high))  # fmt: skip
    warm_up_errors(users, ratings, model)
    squared, _ = pair_errors(users, items, ratings, *model)
    return float(np.sqrt(squared / max(len(users), 1)))


def grid_blocks(n_users: int, n_items: int, k: int) -> int:
    """B for a B x B grid: the fewest blocks (from 8, doubling) whose user and item factor rows
    take at most ``BLOCK_ROW_BYTES`` a block."""
    blocks = SGD_BLOCKS
    row_bytes = (n_users + n_items) * k * np.dtype(FACTOR_DTYPE).itemsize
    while row_bytes / blocks > BLOCK_ROW_BYTES and blocks < SGD_MAX_BLOCKS:
        blocks *= 2
    return blocks


def _normal(rng: np.random.Generator, mean: float, std: float, shape: tuple) -> np.ndarray:
    return _normal_later(rng, mean, std, shape)()


def _normal_later(
    rng: np.random.Generator,
    mean: float,
    std: float,
    shape: tuple,
    drawn: dict[tuple, np.ndarray] | None = None,
) -> Callable[[], np.ndarray]:
    """:func:`_normal`'s draw from ``rng``, made now; its array, filled when called. Where
    ``drawn`` is given, a copy of an array filled from the same draw before (filling 8M
    factors took 0.05 s, copying them 0.01), and a copy of this one kept there."""
    from recfactor.kernels.sgd import fill_normal

    seed = rng.integers(0, 2**63 - 1)
    key = (int(seed), mean, std, shape)

    def filled() -> np.ndarray:
        out = _aligned_empty(shape, FACTOR_DTYPE)
        if drawn is not None and key in drawn:
            np.copyto(out, drawn[key])
            return out
        fill_normal(out, seed, mean, std)
        if drawn is not None:
            drawn[key] = out.copy()
        return out

    return filled


CACHE_LINE = 64


def _aligned_empty(shape: tuple, dtype: Any) -> np.ndarray:
    """``np.empty`` starting at a cache line. A large array from malloc starts 16 bytes past
    one, so each 128-byte row of 32 float32 factors spans three lines instead of two: SGD at
    k 32 on 9M ratings ran 7-9% slower an epoch (paired alternating epochs, BENCHMARKS.md)."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.empty(size + CACHE_LINE, dtype=np.uint8)
    start = -raw.ctypes.data % CACHE_LINE
    return raw[start : start + size].view(dtype).reshape(shape)


class _Grid:
    """The stratified-SGD layout: users and items renumbered so that each of the ``B``
    blocks is a contiguous range, and the ratings grouped by (user block, item block).

    Users (and items) are dealt to blocks at random but balanced by rating count, so the
    blocks that run side by side hold similar numbers of ratings and finish together.

    The ratings are moved into grid order in the dataset's own arrays and put back exactly by
    :meth:`release` (a copy of them in grid order was 12 bytes a rating beside the dataset's,
    the largest allocation of a fit: 285 MB at 23.75M ratings): a dataset must not be read
    elsewhere while it is being fitted. Arrays that cannot be written (a read-only view) or
    ratings in float64 (not exactly float32) are copied first, as before. Putting them back
    takes an index of the slots through the fit (4 bytes a rating) and a spare array at its
    end; ``keep_order`` False (and a copy) go without: the ratings are grouped through their
    block keys alone and stay in the grid's order, with their own numbers, after the fit.
    """

    def __init__(
        self, dataset, n_blocks: int, rng: np.random.Generator, keep_order: bool = True
    ) -> None:
        self.n_blocks = n_blocks
        self.user_perm, user_block = _balanced_blocks(dataset.users, dataset.n_users, n_blocks, rng)
        self.item_perm, item_block = _balanced_blocks(dataset.items, dataset.n_items, n_blocks, rng)
        self.user_perm = self.user_perm.astype(np.int32)
        self.item_perm = self.item_perm.astype(np.int32)
        users, items, ratings = dataset.users, dataset.items, dataset.ratings
        self.borrowed = ratings.dtype == FACTOR_DTYPE and all(
            a.flags.writeable and a.flags.c_contiguous for a in (users, items, ratings)
        )
        if not self.borrowed:
            users, items = users.copy(), items.copy()
            ratings = ratings.astype(FACTOR_DTYPE)
        # Ratings whose first order nobody needs back are grouped without an index of their
        # slots (see kernels.sgd.group_owned): the same grid, 4 to 8 bytes a rating lighter.
        self.owned = not (keep_order and self.borrowed)
        self.users, self.items, self.ratings = users, items, ratings
        self.user_pos = np.argsort(self.user_perm).astype(np.int32)  # user -> grid position
        self.item_pos = np.argsort(self.item_perm).astype(np.int32)
        self.blocks_of = (user_block[self.user_pos].astype(np.int32),
                          item_block[self.item_pos].astype(np.int32))  # fmt: skip
        self.origin: np.ndarray | None = None
        self.held = 0  # ratings held out (hold_out)
        self.kept = False  # for the next fit (_sgd's grids): its owner releases it
        self.watched: tuple | None = None  # ratings apart from the grid (watch)
        self._counts: dict[str, np.ndarray] = {}
        if not self.owned:
            from recfactor.kernels.sgd import block_origin

            index = np.int32 if len(users) < 2**31 else np.int64
            self.origin = np.empty(len(users), dtype=index)
            self.block_start = block_origin(users, items, *self.blocks_of, n_blocks, self.origin)

    def arrange(self, seed: int) -> None:
        """Each block shuffled once (with ``seed``), the ratings moved to their slots, and
        each block sorted by the side with more rows (stably: the shuffle orders a row's own
        ratings): stored in block order, a block's reads stay inside a small contiguous range,
        and a row's ratings come in one run."""
        from recfactor.kernels.sgd import (
            group_owned,
            shuffle_blocks,
            shuffle_owned,
            sort_blocks,
            to_grid,
        )

        if self.owned:
            key = np.uint8 if self.n_blocks**2 <= 256 else np.uint16
            self.block_start = group_owned(self.users, self.items, self.ratings,
                                           np.empty(len(self.users), dtype=key), *self.blocks_of,
                                           self.n_blocks, self.user_pos, self.item_pos)  # fmt: skip
            shuffle_owned(self.users, self.items, self.ratings, self.block_start, seed)
        else:
            shuffle_blocks(self.origin, self.block_start, seed)
            to_grid(self.origin, self.users, self.items, self.ratings, self.user_pos,
                    self.item_pos)  # fmt: skip
        by_users = len(self.user_perm) >= len(self.item_perm)
        origin = self.origin if self.origin is not None else np.empty(0, dtype=np.int32)
        sort_blocks(self.users, self.items, self.ratings, origin, self.block_start, by_users)
        self.block_end = self.block_start[1:].copy()
        self._arranged = True

    def user_counts(self) -> np.ndarray:
        """Each user's ratings, by grid position (held-out ones included)."""
        return self._count("user", self.users, len(self.user_perm))

    def item_counts(self) -> np.ndarray:
        return self._count("item", self.items, len(self.item_perm))

    def _count(self, side: str, index: np.ndarray, n: int) -> np.ndarray:
        from recfactor.kernels.sgd import count_per_row

        if side not in self._counts:
            self._counts[side] = count_per_row(index, n)
        return self._counts[side]

    def hold_out(self, seed: int, share: float, fewest: int) -> None:
        """About ``share`` of the ratings (of users and items with more than ``fewest``) moved
        to their blocks' ends, where the epochs do not fit them: :meth:`held_error`'s."""
        from recfactor.kernels.sgd import hold_out

        origin = self.origin if self.origin is not None else np.empty(0, dtype=np.int32)
        self.held = int(hold_out(self.users, self.items, self.ratings, origin, self.block_start,
                                 self.block_end, seed, share, self.user_counts(),
                                 self.item_counts(), fewest))  # fmt: skip
        if self.held < STOP_MIN_HELD:  # too few to judge by: fitted with the rest after all
            self.block_end, self.held = self.block_start[1:].copy(), 0

    def watch(self, held, rating_scale: tuple[float, float] | None) -> None:
        """Ratings apart from the grid (a Dataset in the same vocabularies) whose error
        :meth:`held_error` gives, instead of held-out slots', predictions clipped to
        ``rating_scale`` where given."""
        if self.watched is not None and self.watched[4] is held and self.watched[3] == rating_scale:
            return  # the rungs' grid, kept: watching the same ratings again
        users, items = self.user_pos[held.users], self.item_pos[held.items]
        # In the order of their users' rows, which are then read in sequence: on the 10M set's
        # rungs (99,733 ratings, k 100) an error took 1.9 ms instead of 4-5 in the held
        # ratings' own order, where each rating waited for its user's row from memory.
        by_user = np.argsort(users, kind="stable")
        self.watched = (users[by_user], items[by_user], held.ratings[by_user], rating_scale,
                        held)  # fmt: skip

    @property
    def stops(self) -> bool:
        """Whether :meth:`held_error` has ratings to judge the epochs by."""
        return bool(self.held) or self.watched is not None

    def held_error(self, mu, user_bias, item_bias, user_factors, item_factors, bias) -> float:
        """The RMSE of the factors (in grid order) on the held-out ratings, or on those
        watched; inf without any."""
        if self.watched is not None:
            users, items, ratings, scale, _ = self.watched
            return _pairs_rmse(users, items, ratings, mu, user_bias, item_bias, user_factors,
                               item_factors, bias, scale)  # fmt: skip
        if not self.held:
            return np.inf
        from recfactor.kernels.sgd import held_sse

        sse = held_sse(self.users, self.items, self.ratings, self.block_start, self.block_end,
                       mu, user_bias, item_bias, user_factors, item_factors, bias)  # fmt: skip
        return float(np.sqrt(sse / self.held))

    def release(self) -> None:
        """The dataset's arrays as they were (a copy is simply dropped), or, where their order
        is not kept, with their own numbers in grid order; idempotent."""
        from recfactor.kernels.sgd import from_grid, to_numbers

        if self.users is None:
            return
        if self.borrowed and getattr(self, "_arranged", False):
            if self.owned:
                to_numbers(self.users, self.items, self.user_perm, self.item_perm)
            else:
                from_grid(self.origin, self.users, self.items, self.ratings,
                          self.user_perm, self.item_perm)  # fmt: skip
        self.origin = self.users = self.items = self.ratings = None

    def user_rows(self, rows: np.ndarray, back: bool = False) -> np.ndarray:
        """Rows (one per user, factors or biases) put in grid order, or ``back`` in user
        order, in place."""
        return _take_rows(rows, self.user_pos if back else self.user_perm)

    def item_rows(self, rows: np.ndarray, back: bool = False) -> np.ndarray:
        return _take_rows(rows, self.item_pos if back else self.item_perm)


def _take_rows(rows: np.ndarray, source: np.ndarray) -> np.ndarray:
    from recfactor.kernels.sgd import take_rows

    take_rows(rows.reshape(len(rows), -1), source)
    return rows


def _balanced_blocks(
    index: np.ndarray, n: int, n_blocks: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Deal ``n`` rows to ``n_blocks`` blocks with similar rating counts.

    Rows sorted by count (ties broken at random) are dealt snake-wise: to blocks 0..B-1, then
    B-1..0, and so on. Returns ``order`` (grid position -> row: each block's rows contiguous,
    in random order) and the block of each grid position.
    """
    from recfactor.kernels.sgd import count_per_row

    counts = count_per_row(index, n)
    shuffled = rng.permutation(n)
    by_count = shuffled[np.argsort(-counts[shuffled], kind="stable")]
    lap, seat = np.divmod(np.arange(n), n_blocks)
    dealt_to = np.where(lap % 2 == 0, seat, n_blocks - 1 - seat)
    key = dealt_to * n + rng.permutation(n)  # group by block, random order inside
    grouped = np.argsort(key)
    return by_count[grouped], dealt_to[grouped]


def default_rank_within(
    params: dict[str, Any], feedback: str, shapes: Callable[[], list[tuple[int, int]]]
) -> tuple[dict[str, Any], str | None]:
    """svd's default of 100 factors, lowered for a truncated SVD (PureSVD on implicit data,
    ``solver="lanczos"``) of a matrix too small for it: the caller did not ask for 100, so the
    most the data allows is used, and a note says so. A rank asked for that the data cannot
    take stays an error (the fit's). ``shapes`` gives the (users, items) of every matrix to be
    fitted, computed only when needed. Returns (parameters, note or None)."""
    truncated = feedback == "implicit" or params.get("solver") == "lanczos"
    if not truncated or "factors" in params:
        return params, None
    limit = min(min(users, items) for users, items in shapes()) - 1
    default = SVDParams().factors
    if not 1 <= limit < default:
        return params, None  # the default fits, or nothing does (the fit says so)
    note = (f"note: svd uses {limit} factors, the most a truncated SVD of this data allows "
            f"(the default is {default}; `factors` to choose)")  # fmt: skip
    return {**params, "factors": limit}, note
