"""What a model trained on Spark keeps of its ratings, computed where the ratings are.

The driver receives per-user and per-item numbers (counts, biases), the rating scale, the
training error's two sums and each user's seen items (four bytes each: the model file keeps
them, for recommend to leave them out); never the ratings themselves. Everything comes back
through Arrow in pieces bounded by bytes (:func:`collect`), so no piece nears Spark's result
limit (``spark.driver.maxResultSize``, 1 GiB by default) whatever the rank or the size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recfactor.models.declarations import BIAS_EPOCHS, BIAS_REG_I, BIAS_REG_U

# Bytes per piece brought back: small beside the driver's memory and Spark's result limit.
COLLECT_BYTES = 64 << 20
# Bytes counted for a seen item in a piece: its four, Arrow's buffers as it arrives, and its
# place (int64) while it is put there. Numba would need none of the last, but its import alone
# costs the driver 100 MB (measured): more than a piece.
SEEN_BYTES = 32


def collect(frame: Any, key: str, row_bytes: float, rows: int | None = None) -> Any:
    """``frame`` as a pyarrow Table, fetched in pieces of about ``COLLECT_BYTES`` (``rows``
    rows of ``row_bytes`` each; counted here where not given), split by ``key`` (an integer
    column)."""
    import pyarrow as pa

    if rows is None:
        rows = frame.count()
    pieces = pieces_for(rows * row_bytes)
    if pieces <= 1:
        return frame.toArrow()
    return pa.concat_tables([frame.filter(piece(key, pieces, j)).toArrow()
                             for j in range(pieces)])  # fmt: skip


def pieces_for(size: float) -> int:
    return max(1, -(-int(size) // COLLECT_BYTES))


def piece(key: str, pieces: int, j: int) -> Any:
    """The rows of piece ``j`` of ``pieces``, by ``key`` (dense integer IDs spread evenly)."""
    from pyspark.sql import functions as sf

    return sf.pmod(sf.col(key), sf.lit(pieces)) == j


def column(frame: Any, key: str, value: str, n: int) -> np.ndarray:
    """A (key, value) DataFrame as a length-``n`` float64 array (0 where a key is absent)."""
    table = collect(frame, key, 16)
    out = np.zeros(n, dtype=np.float64)
    out[table.column(key).to_numpy()] = table.column(value).to_numpy()
    return out


def factor_rows(frame: Any, n: int, rank: int) -> np.ndarray:
    """An (id, features) DataFrame (MLlib's factors) as an (n, rank) float32 matrix."""
    table = collect(frame, "id", 4 * rank + 16)
    ids = table.column("id").to_numpy()
    flat = table.column("features").combine_chunks().flatten().to_numpy()
    out = np.zeros((n, rank), dtype=np.float32)
    out[ids] = flat.reshape(len(ids), rank)
    return out


def summarize(indexed: Any, feedback: str, baseline: bool) -> Any:
    """The :class:`recfactor.models.data_summary.DataSummary` of ``indexed`` (ratings on
    the cluster with integer IDs), computed there. ``baseline``: fit the fallback's biases
    (explicit feedback, for a model without biases of its own)."""
    from pyspark.sql import functions as sf

    from recfactor.models.data_summary import DataSummary

    ratings = indexed.frame
    n_users, n_items = len(indexed.users), len(indexed.items)
    row = ratings.agg(sf.min("rating"), sf.max("rating")).first()
    users = _sums(ratings, "u", n_users)
    items = _sums(ratings, "i", n_items)
    seen = seen_items(ratings, users[0].astype(np.int64))
    explicit = feedback == "explicit"
    return DataSummary(
        indexed.users, indexed.items, feedback,
        (float(row[0]), float(row[1])) if explicit else None,
        _baseline(seen, users, items) if explicit and baseline else None,
        None if explicit else items[0],
        seen,
    )  # fmt: skip


def _sums(ratings: Any, key: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's (user's or item's) number of ratings and their sum, as two arrays."""
    from pyspark.sql import functions as sf

    sums = ratings.groupBy(key).agg(sf.count(sf.lit(1)).alias("n"), sf.sum("rating").alias("s"))
    table = collect(sums, key, 24, n)
    where = table.column(key).to_numpy()
    count, total = np.zeros(n), np.zeros(n)
    count[where], total[where] = table.column("n").to_numpy(), table.column("s").to_numpy()
    return count, total


def seen_items(ratings: Any, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each user's items, sorted, as CSR (indptr int64, items int32): grouped by user on the
    cluster, a piece of users at a time, and written into one array here."""
    from pyspark.sql import functions as sf

    indptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    items = np.empty(int(indptr[-1]), dtype=np.int32)
    pieces = pieces_for(SEEN_BYTES * len(items) + 16 * len(counts))
    for j in range(pieces):
        part = ratings if pieces == 1 else ratings.filter(piece("u", pieces, j))
        lists = part.groupBy("u").agg(sf.sort_array(sf.collect_list("i")).alias("items"))
        table = lists.toArrow()
        chunk = table.column("items").combine_chunks()
        offsets = chunk.offsets.to_numpy()
        # Each value's place: its user's start, plus its place within its user's list.
        places = np.repeat(indptr[table.column("u").to_numpy()] - offsets[:-1], np.diff(offsets))
        places += np.arange(offsets[0], offsets[-1])
        items[places] = chunk.values.to_numpy()[offsets[0] : offsets[-1]]
        del table, chunk, places
    return indptr, items


def _baseline(seen: tuple, users: tuple, items: tuple) -> tuple:
    """The local engine's baseline (recfactor.models.biases.baseline_estimates) from the
    rows' counts and sums and the seen items: the same alternating updates, users first."""
    from recfactor.kernels.baseline import incidence_biases

    mu = float(users[1].sum() / users[0].sum())
    b_u, b_i = np.zeros(len(users[0])), np.zeros(len(items[0]))
    incidence_biases(*seen, users[1] - mu * users[0], items[1] - mu * items[0], users[0],
                     items[0], b_u, b_i, BIAS_EPOCHS, BIAS_REG_U, BIAS_REG_I)  # fmt: skip
    return mu, b_u, b_i


def with_factor_part(frame: Any, fitted: Any) -> Any:
    """``frame`` (with ``u``, ``i``) and a column ``pq``: each pair's ``p_u . q_i`` under
    ``fitted`` (MLlib's ALS model), computed on the cluster by Spark's array functions, in
    doubles as the local engine takes the products of float32 factors."""
    from pyspark.sql import functions as sf

    users = fitted.userFactors.select(sf.col("id").alias("u"), sf.col("features").alias("fu"))
    items = fitted.itemFactors.select(sf.col("id").alias("i"), sf.col("features").alias("fi"))
    product = "zip_with(fu, fi, (x, y) -> cast(x as double) * cast(y as double))"
    dot = sf.expr(f"aggregate({product}, 0D, (acc, x) -> acc + x)")
    return frame.join(users, "u").join(items, "i").withColumn("pq", dot).drop("fu", "fi")


def train_error(ratings: Any, factors: Any, biases: Any, scale: tuple[float, float]) -> dict:
    """RMSE and MAE of the fitted model on its own ratings, as ``Model._train_metrics``
    measures them (each prediction clipped to ``scale``), summed on the cluster.
    ``factors``: MLlib's fitted ALS model; ``biases``: None, or (mu, user biases, item
    biases) with the two as (key, ``b``) DataFrames."""
    from pyspark.sql import functions as sf

    scored = with_factor_part(ratings, factors)
    estimate = sf.col("pq")
    if biases is not None:
        mu, user_bias, item_bias = biases
        scored = (scored.join(user_bias.withColumnRenamed("b", "bu"), "u")
                  .join(item_bias.withColumnRenamed("b", "bi"), "i"))  # fmt: skip
        estimate = sf.lit(mu) + sf.col("bu") + sf.col("bi") + estimate
    clipped = sf.least(sf.greatest(estimate, sf.lit(scale[0])), sf.lit(scale[1]))
    error = clipped - sf.col("rating")
    row = scored.agg(sf.sum(error * error), sf.sum(sf.abs(error)), sf.count(sf.lit(1))).first()
    n = int(row[2])
    if n == 0:
        return {}
    return {"rmse": float(np.sqrt(row[0] / n)), "mae": float(row[1] / n)}
