"""Stochastic gradient descent epochs for biased and plain matrix factorization.

Stratified SGD (Gemulla et al. 2011): users and items are cut into a fixed ``B x B`` grid of
blocks. An epoch is ``B`` sub-epochs; in each, the ``B`` blocks of one (shifted) diagonal share
no user and no item, so they run in parallel without touching the same row, and each block is
processed in order by one thread. ``B`` is fixed by the caller, never by the thread count, so
the result is the same bit for bit on 1 or 16 threads. Within a block the ratings are sorted
by the side with more rows (LIBMF's order; Zhuang et al. 2013), its chunks visited in a new
order each epoch.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from recfactor.kernels import cache_enabled, load
from recfactor.kernels.prefetch import prefetch

CACHE = cache_enabled()

# 'reassoc' lets LLVM vectorise the dot-product reduction and 'contract' fuse multiply-adds.
# No 'nnan'/'ninf': divergence shows up as NaN/inf and is checked outside the kernel.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


# Rows are indexed as P[u, f] throughout, never taken as views P[u]: a view costs a reference
# count update per rating, which is measurable at this loop's speed.
@nb.njit(cache=CACHE, fastmath=FASTMATH, inline="always")
def _update_rows(user_factors, item_factors, u, i, err, rates):
    """Both rows' step from their old values. ``rates``: each user's and each item's own
    step, made once an epoch (the epoch's step times the row's multiplier), and the penalty.
    Two loads a rating: a row's shrink kept beside its step was two more, 4% slower an epoch
    at k 100 (paired epochs; the old scalar step and shrink: 6% faster)."""
    user_rate, item_rate, reg = rates
    one = user_factors.dtype.type(1)
    lr_user = user_rate[u]
    lr_item = item_rate[i]
    user_step = lr_user * err
    item_step = lr_item * err
    user_shrink = one - lr_user * reg
    item_shrink = one - lr_item * reg
    for f in range(user_factors.shape[1]):
        pf = user_factors[u, f]
        qf = item_factors[i, f]
        user_factors[u, f] = user_shrink * pf + user_step * qf
        item_factors[i, f] = item_shrink * qf + item_step * pf


@nb.njit(cache=CACHE, fastmath=FASTMATH, inline="always")
def _one_rating(
    users, items, ratings, j, mu, user_bias, item_bias, user_factors, item_factors,
    lr_bias, reg_bias, fit_bias, rates,
):  # fmt: skip
    """SGD at rating ``j`` alone; returns its squared error."""
    u = users[j]
    i = items[j]
    dot = user_factors.dtype.type(0)
    for f in range(user_factors.shape[1]):
        dot += user_factors[u, f] * item_factors[i, f]
    if fit_bias:
        err = ratings[j] - (mu + user_bias[u] + item_bias[i] + dot)
        user_bias[u] += lr_bias * (err - reg_bias * user_bias[u])
        item_bias[i] += lr_bias * (err - reg_bias * item_bias[i])
    else:
        err = ratings[j] - dot
    _update_rows(user_factors, item_factors, u, i, err, rates)
    return err * err


@nb.njit(cache=CACHE, inline="always")
def _prefetch_rows(users, items, user_factors, item_factors, j, row_bytes):
    """Ask for rating ``j``'s user and item rows, each where the rating before it had
    another (a block is sorted by one side, whose row then comes from the run before)."""
    u = users[j]
    i = items[j]
    if u != users[j - 1]:
        for offset in range(0, row_bytes + 63, 64):
            prefetch(user_factors, u, offset)
    if i != items[j - 1]:
        for offset in range(0, row_bytes + 63, 64):
            prefetch(item_factors, i, offset)


@nb.njit(cache=CACHE, fastmath=FASTMATH)
def _sgd_range(
    users, items, ratings, lo, hi, mu, user_bias, item_bias, user_factors, item_factors,
    lr_bias, reg_bias, fit_bias, rates, ahead,
):  # fmt: skip
    """SGD over ratings ``lo:hi``, its two halves taken in turns (the first half's first
    rating, the second half's first, the first half's second, ...; an odd one out last);
    returns the sum of squared errors.

    A block's ratings are sorted by one side (:func:`sort_blocks`), so each half runs through
    a few rows of that side, which stay in the core's nearest cache, while the two halves
    rarely meet the same row: a turn whose two ratings share neither user nor item is
    processed as a pair (neither update touches what the other reads, so this equals doing
    them one after the other), its two independent dot products keeping more of the core busy.
    """
    k = user_factors.shape[1]
    zero = user_factors.dtype.type(0)
    sse = 0.0
    half = (hi - lo) // 2
    row_bytes = k * user_factors.itemsize
    for t in range(lo, lo + half):
        ja = t
        jb = t + half
        if ahead and t + ahead < lo + half:
            _prefetch_rows(users, items, user_factors, item_factors, t + ahead, row_bytes)
            _prefetch_rows(users, items, user_factors, item_factors, jb + ahead, row_bytes)
        ua = users[ja]
        ia = items[ja]
        ub = users[jb]
        ib = items[jb]
        if ua == ub or ia == ib:
            sse += _one_rating(users, items, ratings, ja, mu, user_bias, item_bias, user_factors,
                               item_factors, lr_bias, reg_bias, fit_bias, rates)  # fmt: skip
            sse += _one_rating(users, items, ratings, jb, mu, user_bias, item_bias, user_factors,
                               item_factors, lr_bias, reg_bias, fit_bias, rates)  # fmt: skip
            continue
        dot_a = zero
        dot_b = zero
        for f in range(k):
            dot_a += user_factors[ua, f] * item_factors[ia, f]
            dot_b += user_factors[ub, f] * item_factors[ib, f]
        if fit_bias:
            err_a = ratings[ja] - (mu + user_bias[ua] + item_bias[ia] + dot_a)
            err_b = ratings[jb] - (mu + user_bias[ub] + item_bias[ib] + dot_b)
            user_bias[ua] += lr_bias * (err_a - reg_bias * user_bias[ua])
            item_bias[ia] += lr_bias * (err_a - reg_bias * item_bias[ia])
            user_bias[ub] += lr_bias * (err_b - reg_bias * user_bias[ub])
            item_bias[ib] += lr_bias * (err_b - reg_bias * item_bias[ib])
        else:
            err_a = ratings[ja] - dot_a
            err_b = ratings[jb] - dot_b
        sse += err_a * err_a + err_b * err_b
        _update_rows(user_factors, item_factors, ua, ia, err_a, rates)
        _update_rows(user_factors, item_factors, ub, ib, err_b, rates)
    if (hi - lo) % 2 == 1:
        sse += _one_rating(users, items, ratings, hi - 1, mu, user_bias, item_bias, user_factors,
                           item_factors, lr_bias, reg_bias, fit_bias, rates)  # fmt: skip
    return sse


@nb.njit(cache=CACHE)
def _mix(x):
    """SplitMix64 finaliser: a fixed bijection of 64-bit integers that scrambles well."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@nb.njit(cache=CACHE)
def _stream(seed, lo):
    """The first state of block ``lo``'s own stream of draws from ``seed``."""
    return _mix(np.uint64(seed) ^ np.uint64(lo) * np.uint64(0x9E3779B97F4A7C15))


@nb.njit(cache=CACHE)
def _draw(state, lo, t):
    """The stream's next state and the slot in ``lo..t`` that Fisher-Yates swaps with ``t``."""
    state = state * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)
    # Lemire's multiply-shift maps 32 random bits onto 0..span-1 without a division.
    span = np.uint64(t - lo + 1)
    return state, lo + np.int64(((state >> np.uint64(32)) * span) >> np.uint64(32))


@nb.njit(cache=CACHE)
def _shuffle_range(users, items, ratings, lo, hi, seed):
    """Fisher-Yates shuffle of ratings ``lo:hi``, the three arrays moved together.

    The ratings themselves move, not indices to them: the pass that follows then reads them in
    sequence instead of gathering them from all over the block (an epoch on 9M ratings at k=32
    0.18 -> 0.14 s; the same updates in the same order, so the same model bit for bit).

    The random numbers are a pure function of (``seed``, ``lo``): a stream of its own per block,
    not a shared generator's state, so every block draws the same numbers whichever thread
    runs it. The seed comes from the model's seeded ``numpy`` generator, one per epoch. The
    stream is a 64-bit LCG (Knuth's MMIX constants) started from a SplitMix64 hash; its high
    32 bits are ample for a shuffle, at one multiply per swap.
    """
    state = _stream(seed, lo)
    for t in range(hi - 1, lo, -1):
        state, j = _draw(state, lo, t)
        a = users[t]
        users[t] = users[j]
        users[j] = a
        b = items[t]
        items[t] = items[j]
        items[j] = b
        c = ratings[t]
        ratings[t] = ratings[j]
        ratings[j] = c


@nb.njit(cache=CACHE)
def count_per_row(index, n):
    """How many ratings each of ``n`` rows has (``np.bincount``, which is 5x slower here)."""
    counts = np.zeros(n, dtype=np.int64)
    for j in range(index.shape[0]):
        counts[index[j]] += 1
    return counts


@nb.njit(cache=CACHE)
def mark_first(drawn, marks, found, wanted):
    """Mark in ``marks`` each value of ``drawn`` not marked before, in the order drawn, until
    ``wanted`` are marked (``found`` were already); returns how many are marked now."""
    for j in range(drawn.shape[0]):
        if found == wanted:
            break
        v = drawn[j]
        if not marks[v]:
            marks[v] = True
            found += 1
    return found


@nb.njit(cache=CACHE)
def block_origin(users, items, user_block, item_block, n_blocks, origin):
    """Grouping by block as a stable counting sort: ``origin[t]`` receives the rating that
    grid slot ``t`` holds; returns where each of the ``n_blocks ** 2`` blocks starts (with the
    total at the end). ``user_block[u]`` is user ``u``'s block."""
    n = users.shape[0]
    start = np.zeros(n_blocks * n_blocks + 1, dtype=np.int64)
    # Each rating's block is looked up again in the second pass rather than kept: an array of
    # them was 4 bytes a rating at the fit's peak (95 MB at 23.75M ratings).
    for j in range(n):
        start[user_block[users[j]] * n_blocks + item_block[items[j]] + 1] += 1
    for b in range(n_blocks * n_blocks):
        start[b + 1] += start[b]
    fill = start[:-1].copy()
    for j in range(n):
        b = user_block[users[j]] * n_blocks + item_block[items[j]]
        origin[fill[b]] = j
        fill[b] += 1
    return start


@nb.njit(cache=CACHE)
def to_grid(origin, users, items, ratings, user_pos, item_pos):
    """The ratings moved, in place, to their grid slots (slot ``t`` takes rating
    ``origin[t]``) and renumbered to grid positions (``user_pos[u]``), one array at a time
    through one spare array of 4 bytes a rating (ratings are float32 here). Following the
    permutation's cycles needed no spare but read everything at random: 3.6 s against 0.3
    s on 24M ratings. :func:`from_grid` undoes it exactly."""
    n = origin.shape[0]
    spare = np.empty(n, dtype=np.int32)
    for t in range(n):
        spare[t] = user_pos[users[origin[t]]]
    users[:] = spare
    for t in range(n):
        spare[t] = item_pos[items[origin[t]]]
    items[:] = spare
    moved = spare.view(np.float32)
    for t in range(n):
        moved[t] = ratings[origin[t]]
    ratings[:] = moved


@nb.njit(cache=CACHE)
def from_grid(origin, users, items, ratings, user_perm, item_perm):
    """The ratings put back where :func:`to_grid` found them, with their own numbers
    (``user_perm[position]`` is the user at a grid position)."""
    n = origin.shape[0]
    spare = np.empty(n, dtype=np.int32)
    for t in range(n):
        spare[origin[t]] = user_perm[users[t]]
    users[:] = spare
    for t in range(n):
        spare[origin[t]] = item_perm[items[t]]
    items[:] = spare
    moved = spare.view(np.float32)
    for t in range(n):
        moved[origin[t]] = ratings[t]
    ratings[:] = moved


@nb.njit(cache=CACHE)
def _block_keys(users, items, user_block, item_block, n_blocks, keys):
    """Each rating's block into ``keys`` (1 or 2 bytes, as ``n_blocks ** 2`` needs), and where
    each block starts (with the total at the end)."""
    start = np.zeros(n_blocks * n_blocks + 1, dtype=np.int64)
    for j in range(users.shape[0]):
        b = user_block[users[j]] * n_blocks + item_block[items[j]]
        keys[j] = b
        start[b + 1] += 1
    for b in range(n_blocks * n_blocks):
        start[b + 1] += start[b]
    return start


@nb.njit(cache=CACHE)
def group_owned(users, items, ratings, keys, user_block, item_block, n_blocks, user_pos, item_pos):
    """:func:`block_origin` and :func:`to_grid` for ratings whose first order is not wanted
    back: the same stable counting sort, moved in place through each rating's block (``keys``,
    scratch) and one spare array (5-6 bytes a rating while it runs, none after), where the
    other way keeps the slots' index (4 bytes a rating) for the whole fit and needs a spare
    again to put the ratings back. Returns where each block starts."""
    start = _block_keys(users, items, user_block, item_block, n_blocks, keys)
    n = users.shape[0]
    spare = np.empty(n, dtype=np.int32)
    fill = start[:-1].copy()
    for j in range(n):
        spare[fill[keys[j]]] = user_pos[users[j]]
        fill[keys[j]] += 1
    users[:] = spare
    fill[:] = start[:-1]
    for j in range(n):
        spare[fill[keys[j]]] = item_pos[items[j]]
        fill[keys[j]] += 1
    items[:] = spare
    moved = spare.view(np.float32)
    fill[:] = start[:-1]
    for j in range(n):
        moved[fill[keys[j]]] = ratings[j]
        fill[keys[j]] += 1
    ratings[:] = moved
    return start


@nb.njit(cache=CACHE, parallel=True)
def shuffle_owned(users, items, ratings, block_start, seed):
    """Each block's ratings shuffled once, in place: the swaps :func:`shuffle_blocks` makes in
    the slots' index, made in the ratings themselves (so the same grid)."""
    for b in nb.prange(block_start.shape[0] - 1):
        _shuffle_range(users, items, ratings, block_start[b], block_start[b + 1], seed)


@nb.njit(cache=CACHE, parallel=True)
def sort_blocks(users, items, ratings, origin, block_start, by_users):
    """Each block's ratings sorted by user (``by_users``) or by item, in place and stably (a
    user's ratings keep the shuffle's order among themselves), ``origin`` moved with them
    where it is not empty; returns nothing.

    Sorted, a block's pass meets each row of that side in one run of ratings, so the row is
    read from memory once instead of once a rating (LIBMF sorts its blocks by the side with
    more rows, for the same reason): 20 epochs at k 100 on 9M ratings took 2.24 s instead of
    2.98, at k 32 1.18 instead of 1.23 (BENCHMARKS.md), for the same accuracy. A counting sort
    over the block's own range of rows (they are contiguous in the grid), a block a thread.
    """
    for b in nb.prange(block_start.shape[0] - 1):
        lo, hi = block_start[b], block_start[b + 1]
        if hi - lo < 2:
            continue
        keys = users if by_users else items
        first = keys[lo]
        last = keys[lo]
        for t in range(lo, hi):
            first = min(first, keys[t])
            last = max(last, keys[t])
        starts = np.zeros(last - first + 2, dtype=np.int64)
        for t in range(lo, hi):
            starts[keys[t] - first + 1] += 1
        for r in range(last - first + 1):
            starts[r + 1] += starts[r]
        slot = np.empty(hi - lo, dtype=np.int64)
        for t in range(lo, hi):
            slot[t - lo] = starts[keys[t] - first]
            starts[keys[t] - first] += 1
        spare = np.empty(hi - lo, dtype=np.int32)
        for t in range(lo, hi):
            spare[slot[t - lo]] = users[t]
        users[lo:hi] = spare
        for t in range(lo, hi):
            spare[slot[t - lo]] = items[t]
        items[lo:hi] = spare
        if origin.shape[0] > 0:
            slots = np.empty(hi - lo, dtype=origin.dtype)  # int64 past 2**31 ratings
            for t in range(lo, hi):
                slots[slot[t - lo]] = origin[t]
            origin[lo:hi] = slots
        moved = spare.view(np.float32)
        for t in range(lo, hi):
            moved[slot[t - lo]] = ratings[t]
        ratings[lo:hi] = moved


@nb.njit(cache=CACHE)
def _held(u, i, seed, share):
    """Whether the rating of (``u``, ``i``) is held out: a draw from (``seed``, u, i) below
    ``share``, the same whichever thread asks."""
    key = np.uint64(seed) ^ (np.uint64(u) * np.uint64(0x9E3779B97F4A7C15))
    x = _mix(key ^ _mix(np.uint64(i) + np.uint64(0xD1B54A32D192ED03)))
    return np.float64(x >> np.uint64(11)) * 2.0**-53 < share


@nb.njit(cache=CACHE, parallel=True)
def hold_out(users, items, ratings, origin, block_start, block_end, seed, share, user_counts,
             item_counts, fewest):  # fmt: skip
    """Each block's held-out ratings moved to its end, in place and stably (``origin`` with
    them where it is not empty), ``block_end[b]`` set where block ``b``'s fitted ratings end;
    returns how many are held. A rating is held with probability ``share`` (a draw from
    ``seed``, its user and item), and only where its user and its item both have more than
    ``fewest`` ratings (``user_counts``, ``item_counts``): no row loses all it has."""
    n_blocks = block_start.shape[0] - 1
    held = np.zeros(n_blocks, dtype=np.int64)
    for b in nb.prange(n_blocks):
        lo, hi = block_start[b], block_start[b + 1]
        count = 0
        for t in range(lo, hi):
            u, i = users[t], items[t]
            if user_counts[u] > fewest and item_counts[i] > fewest and _held(u, i, seed, share):
                count += 1
        out_users = np.empty(count, dtype=users.dtype)
        out_items = np.empty(count, dtype=items.dtype)
        out_ratings = np.empty(count, dtype=ratings.dtype)
        out_origin = np.empty(count if origin.shape[0] > 0 else 0, dtype=origin.dtype)
        write, h = lo, 0
        for t in range(lo, hi):
            u, i = users[t], items[t]
            if user_counts[u] > fewest and item_counts[i] > fewest and _held(u, i, seed, share):
                out_users[h], out_items[h], out_ratings[h] = u, i, ratings[t]
                if origin.shape[0] > 0:
                    out_origin[h] = origin[t]
                h += 1
                continue
            users[write], items[write], ratings[write] = u, i, ratings[t]
            if origin.shape[0] > 0:
                origin[write] = origin[t]
            write += 1
        users[write:hi] = out_users
        items[write:hi] = out_items
        ratings[write:hi] = out_ratings
        if origin.shape[0] > 0:
            origin[write:hi] = out_origin
        block_end[b] = write
        held[b] = count
    return held.sum()


@nb.njit(cache=CACHE, parallel=True, fastmath={"reassoc", "contract"})
def held_sse(users, items, ratings, block_start, block_end, mu, user_bias, item_bias,
             user_factors, item_factors, fit_bias):  # fmt: skip
    """The squared errors of the held-out ratings (each block's past ``block_end``) summed,
    block by block in a fixed order: the same on any number of threads."""
    n_blocks = block_start.shape[0] - 1
    partial = np.zeros(n_blocks)
    for b in nb.prange(n_blocks):
        total = 0.0
        for t in range(block_end[b], block_start[b + 1]):
            u, i = users[t], items[t]
            dot = 0.0
            for f in range(user_factors.shape[1]):
                dot += np.float64(user_factors[u, f]) * np.float64(item_factors[i, f])
            guess = dot + (mu + user_bias[u] + item_bias[i] if fit_bias else 0.0)
            total += (ratings[t] - guess) ** 2
        partial[b] = total
    return partial.sum()


@nb.njit(cache=CACHE, parallel=True)
def to_numbers(users, items, user_perm, item_perm):
    """Grid positions back to the users' and items' own numbers, in place (the ratings stay
    in grid order)."""
    for t in nb.prange(users.shape[0]):
        users[t] = user_perm[users[t]]
        items[t] = item_perm[items[t]]


@nb.njit(cache=CACHE)
def take_rows(rows, source):
    """Row ``t`` of ``rows`` (2-D) replaced by row ``source[t]``, in place: one cycle of the
    permutation at a time, with one row aside (no second copy of the factors)."""
    n = rows.shape[0]
    done = np.zeros((n + 63) // 64, dtype=np.uint64)
    aside = np.empty(rows.shape[1], dtype=rows.dtype)
    for s in range(n):
        if done[s >> 6] & (np.uint64(1) << np.uint64(s & 63)):
            continue
        aside[:] = rows[s]
        t = s
        while True:
            done[t >> 6] |= np.uint64(1) << np.uint64(t & 63)
            if source[t] == s:
                rows[t] = aside
                break
            rows[t] = rows[source[t]]
            t = source[t]


@nb.njit(cache=CACHE, parallel=True)
def fill_normal(out, seed, mean, std):
    """Fill a 2-D array with normal draws (Box-Muller on a counter-based stream from ``seed``).

    Each entry depends only on (``seed``, its position), so the fill is parallel and the same
    on any number of threads. The arithmetic is float32, twice as fast as float64: two 24-bit
    uniforms per pair are plenty for a random start (the largest draw is 5.8 std).
    """
    flat = out.reshape(-1)
    n = flat.shape[0]
    scale = np.float32(1.0 / 16777216.0)  # 2^-24
    mean32 = np.float32(mean)
    std32 = np.float32(std)
    for pair in nb.prange((n + 1) // 2):
        bits = _mix(np.uint64(seed) + np.uint64(pair) * np.uint64(0x9E3779B97F4A7C15))
        u1 = (np.float32(bits >> np.uint64(40)) + np.float32(1)) * scale  # (0, 1]: log finite
        u2 = np.float32((bits >> np.uint64(16)) & np.uint64(0xFFFFFF)) * scale
        radius = np.sqrt(np.float32(-2) * np.log(u1))
        angle = np.float32(2 * np.pi) * u2
        flat[2 * pair] = mean32 + std32 * radius * np.cos(angle)
        if 2 * pair + 1 < n:
            flat[2 * pair + 1] = mean32 + std32 * radius * np.sin(angle)


# Ratings a chunk holds: the unit whose order changes from epoch to epoch (48 KB of ratings,
# read in sequence); the ratings within a chunk keep the order the block was given at the
# start (shuffled, then sorted by one side: :func:`sort_blocks`).
CHUNK = 4096


@nb.njit(cache=CACHE, parallel=True)
def shuffle_blocks(origin, block_start, seed):
    """Each block's slots shuffled once, in place (the order the chunks keep): the same
    draws as :func:`_shuffle_range` makes for the block."""
    for b in nb.prange(block_start.shape[0] - 1):
        lo, hi = block_start[b], block_start[b + 1]
        state = _stream(seed, lo)
        for t in range(hi - 1, lo, -1):
            state, j = _draw(state, lo, t)
            a = origin[t]
            origin[t] = origin[j]
            origin[j] = a


@nb.njit(cache=CACHE)
def _chunk_order(n_chunks, seed, lo):
    """A permutation of ``n_chunks`` from (``seed``, ``lo``): the same stream as
    :func:`_shuffle_range`, so any thread draws the same order for the same block."""
    order = np.arange(n_chunks)
    state = _stream(seed, lo)
    for t in range(n_chunks - 1, 0, -1):
        state, j = _draw(state, 0, t)
        a = order[t]
        order[t] = order[j]
        order[j] = a
    return order


@nb.njit(cache=CACHE, parallel=True)
def sgd_epochs(
    users, items, ratings, block_start, block_end, n_blocks, diagonals, seeds,
    mu, user_bias, item_bias, user_factors, item_factors, lrs, reg, lr_biases, reg_bias,
    fit_bias, user_steps, item_steps, sse, chunk=CHUNK, ahead=0,
):  # fmt: skip
    """Stratified epochs, one per entry of ``seeds``; updates the factors and biases in place
    and returns how many epochs ran.

    The ratings are grouped by block (block ``a * n_blocks + b`` for user block ``a`` and item
    block ``b`` at ``block_start[.]:block_start[. + 1]``, of which ``block_start[.]:block_end[.]``
    are fitted: the rest are held out, :func:`hold_out`), shuffled once
    (:func:`shuffle_blocks`) and sorted by one side (:func:`sort_blocks`); in epoch ``e``
    each block's chunks of ``chunk`` ratings are visited in an order drawn from ``seeds[e]``,
    and ``diagonals[e]`` is the order of the sub-epochs; ``lrs[e]`` and ``lr_biases[e]`` are
    its steps, each row's factor step ``lrs[e]`` times its entry of ``user_steps`` or
    ``item_steps``. Reshuffling every rating each epoch instead cost 0.06 s an epoch a thread on 9M
    ratings for no gain in accuracy (BENCHMARKS.md). ``sse[e]`` receives the sum of squared
    errors seen before each update; an epoch whose sum is not finite (divergence) is the last
    one run. ``ahead`` > 0: each pass asks for the rows of the rating that many ahead before
    it needs them (see ``recfactor.models.svd.prefetch_distance``); the same model.
    """
    partial = np.zeros(n_blocks)
    user_rate = np.empty(user_steps.shape[0], dtype=user_factors.dtype)
    item_rate = np.empty(item_steps.shape[0], dtype=user_factors.dtype)
    rates = (user_rate, item_rate, reg)
    for e in range(seeds.shape[0]):
        lr = lrs[e]
        lr_bias = lr_biases[e]
        for r in range(user_rate.shape[0]):
            user_rate[r] = lr * user_steps[r]
        for r in range(item_rate.shape[0]):
            item_rate[r] = lr * item_steps[r]
        partial[:] = 0.0
        for s in range(n_blocks):
            shift = diagonals[e, s]
            for a in nb.prange(n_blocks):
                block = a * n_blocks + (a + shift) % n_blocks
                lo = block_start[block]
                hi = block_end[block]
                n_chunks = (hi - lo + chunk - 1) // chunk
                for c in _chunk_order(n_chunks, seeds[e], lo):
                    start = lo + c * chunk
                    partial[a] += _sgd_range(
                        users, items, ratings, start, min(start + chunk, hi), mu, user_bias,
                        item_bias, user_factors, item_factors, lr_bias, reg_bias, fit_bias,
                        rates, ahead,
                    )  # fmt: skip
        sse[e] = partial.sum()
        if not np.isfinite(sse[e]):
            return e + 1
    return seeds.shape[0]


def warm_up() -> None:
    """Load (or compile, the first time) the kernel for the types the models use."""
    f = np.float32
    idx = np.zeros(1, dtype=np.int32)
    one = np.zeros(1, dtype=f)
    starts = np.array([0, 1], dtype=np.int64)
    load(sgd_epochs,
        idx, idx, one, starts, starts[1:], 1, np.zeros((1, 1), dtype=np.int64),
        np.zeros(1, dtype=np.int64), f(0), one.copy(), one.copy(), np.zeros((1, 1), f),
        np.zeros((1, 1), f), one.copy(), f(0), one.copy(), f(0), True, one.copy(), one.copy(),
        np.zeros(1), CHUNK, 0,
    )  # fmt: skip
    load(fill_normal, np.zeros((1, 1), f), 0, 0.0, 1.0)
    load(shuffle_blocks, idx, np.array([0, 1], dtype=np.int64), 0)
    load(block_origin, idx, idx, idx, idx, 1, idx)
    load(to_grid, idx, idx, idx, one, idx, idx)
    load(from_grid, idx, idx, idx, one, idx, idx)
    for key in (np.uint8, np.uint16):
        load(group_owned, idx, idx, one, np.zeros(1, key), idx, idx, 1, idx, idx)
    load(shuffle_owned, idx, idx, one, np.array([0, 1], dtype=np.int64), 0)
    load(to_numbers, idx, idx, idx, idx)
    load(sort_blocks, idx, idx, one, idx, np.array([0, 1], dtype=np.int64), True)
    load(take_rows, np.zeros((1, 1), f), idx)
    load(count_per_row, idx, 1)
    load(mark_first, np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.bool_), 0, 1)
    counts = np.zeros(1, dtype=np.int64)
    load(hold_out, idx, idx, one, idx, starts, starts[1:].copy(), 0, 0.0, counts, counts, 0)
    load(held_sse, idx, idx, one, starts, starts[1:], f(0), one, one, np.zeros((1, 1), f),
         np.zeros((1, 1), f), True)  # fmt: skip
