"""Training on Spark: MLlib's ALS fits the factors, and the result is an ordinary recfactor
model file (predict, recommend, inspect and export work on it locally).

pyspark is imported only here, and only when ``--engine spark`` is asked for. The ratings
are read by Spark (local files, ``file://``, ``hdfs://``, ``s3a://``, folders of part files;
CSV/TSV or Parquet), with the delimiter, header and columns found as the local reader finds
them, from the head of the data. IDs are indexed on the cluster and their labels kept.
Factors come back through Arrow. What a model needs besides its factors (each user's seen
items, the baseline for unknown users and items, the rating scale) is computed here from the
indexed ratings, fetched as three Arrow columns.

First slice of issue 14: ALS (explicit and implicit) through ``train``; biases, evaluate on
the cluster and Spark Connect are not done yet.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from recfactor.errors import DataError, FitError, ParameterError


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """The JVM inherits this process's stderr when it starts and writes its own log lines
    there; started with stderr pointed elsewhere, it keeps them to itself (its errors still
    reach Python, as exceptions)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def session(master: str | None, conf: Sequence[str] = ()) -> Any:
    """A SparkSession on ``master`` (``local[*]`` by default) with ``conf`` (KEY=VALUE)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ParameterError(
            "`engine` spark needs pyspark", hint="pip install 'recfactor[spark]'"
        ) from None
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise FitError(
            "Spark needs Java, and none is on this machine (no java on PATH, no JAVA_HOME)",
            hint="install a Java runtime (17 or later), or use `engine` local",
        )
    builder = SparkSession.builder.appName("recfactor").master(master or "local[*]")
    builder = builder.config("spark.ui.enabled", "false")
    # A rating that is not a number becomes null, found and reported below with its value
    # (ANSI casts would throw a Java exception instead).
    builder = builder.config("spark.sql.ansi.enabled", "false")
    for setting in conf:
        key, sep, value = setting.partition("=")
        if not sep or not key:
            raise ParameterError(f"`spark_conf` takes KEY=VALUE, not {setting!r}")
        builder = builder.config(key, value)
    try:
        with _quiet_stderr():
            spark = builder.getOrCreate()
    except Exception as exc:
        raise FitError(
            f"cannot start Spark on {master or 'local[*]'} ({type(exc).__name__})",
            hint="check `master` and that the cluster is reachable",
        ) from None
    spark.sparkContext.setLogLevel("ERROR")
    import logging

    logging.getLogger("pyspark").setLevel(logging.CRITICAL)  # its failures are ours to say
    # Spark ignores checkpointInterval without a checkpoint folder, and long lineages then
    # overflow the stack.
    spark.sparkContext.setCheckpointDir(tempfile.mkdtemp(prefix="recfactor-checkpoints-"))
    return spark


def read(spark: Any, path: str, options: Any) -> Any:
    """The ratings at ``path`` as a DataFrame of (user string, item string, rating double)."""
    from pyspark.sql import functions as sf

    from recfactor.columns import choose_columns

    if _is_parquet(path):
        frame = _spark_call(lambda: spark.read.parquet(path), path)
        names = list(frame.columns)
        cols = choose_columns(names, True, options, path)
    else:
        from recfactor import data

        sample = _head(spark, path)
        sep = data._parse_sep(options.sep) if options.sep else data._sniff_sep(sample, path, "long")
        rows = [data._split(line, sep) for line in sample]
        header = options.header
        if header is None:
            header = data._detect_header(rows[0], rows[1:])
        width = len(rows[0])
        names = [t.strip() for t in rows[0]] if header else [f"_c{c}" for c in range(width)]
        cols = choose_columns(names, header, options, path)
        schema = ", ".join(f"`c{c}` STRING" for c in range(width))
        frame = _spark_call(lambda: spark.read.csv(path, sep=sep, header=header, schema=schema),
                            path)  # fmt: skip
        names = [f"c{c}" for c in range(width)]
    rating = sf.lit(1.0) if cols.rating is None else sf.col(names[cols.rating]).cast("double")
    out = frame.select(
        sf.trim(sf.col(names[cols.user]).cast("string")).alias("user"),
        sf.trim(sf.col(names[cols.item]).cast("string")).alias("item"),
        rating.alias("rating"),
        (sf.col(names[cols.rating]) if cols.rating is not None else sf.lit("1")).alias("raw"),
    )
    bad = out.filter(sf.col("rating").isNull() | sf.isnan("rating")).limit(1).collect()
    if bad:
        raise DataError(
            f"{path}: rating {bad[0]['raw']!r} is not a number",
            hint="ratings must be finite numbers; use `rating_col` to pick another column",
        )
    return out.drop("raw")


def _is_parquet(path: str) -> bool:
    if path.lower().endswith((".parquet", ".pq")):
        return True
    if os.path.isdir(path):
        return any(name.endswith(".parquet") for name in os.listdir(path))
    return False


def _head(spark: Any, path: str) -> list[str]:
    """The first non-blank lines of a text data set (local or on the cluster's storage)."""
    lines = _spark_call(lambda: spark.read.text(path).limit(64).collect(), path)
    sample = [row[0] for row in lines if row[0] and row[0].strip()]
    if not sample:
        raise DataError(f"{path}: holds no ratings", hint="give a file with one rating a line")
    return sample


def _spark_call(call: Any, path: str) -> Any:
    """``call()``, with Spark's failure to find the data said in one line."""
    try:
        return call()
    except Exception as exc:  # pyspark's AnalysisException and friends
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "PATH_NOT_FOUND" in text or "does not exist" in text:
            raise DataError(f"{path}: no such file or folder", hint="check the path") from None
        raise DataError(f"{path}: Spark cannot read it ({text[:200]})") from None


def train_als(spark: Any, frame: Any, params: Any, feedback: str, source: str) -> Any:
    """Fit MLlib's ALS to ``frame`` and return a fitted recfactor ALS model."""
    from pyspark.ml.feature import StringIndexer
    from pyspark.ml.recommendation import ALS as SparkALS

    from recfactor.models.als import ALS

    params = params.resolved(feedback)
    indexed = frame
    labels = {}
    for side in ("user", "item"):
        indexer = StringIndexer(inputCol=side, outputCol=f"{side}_index",
                                stringOrderType="alphabetAsc").fit(indexed)  # fmt: skip
        labels[side] = np.array(indexer.labels, dtype=str)
        indexed = indexer.transform(indexed)
    indexed = indexed.select(
        indexed.user_index.cast("int").alias("u"), indexed.item_index.cast("int").alias("i"),
        "rating",
    ).cache()  # fmt: skip
    ratings = indexed
    if feedback == "implicit" and params.confidence == "scaled":
        mean = indexed.agg({"rating": "avg"}).collect()[0][0]
        ratings = indexed.withColumn("rating", indexed.rating / mean)
    estimator = SparkALS(
        rank=params.factors, maxIter=params.epochs, regParam=params.reg,
        implicitPrefs=feedback == "implicit", alpha=params.alpha,
        nonnegative=params.nonnegative, seed=params.seed, userCol="u", itemCol="i",
        ratingCol="rating", coldStartStrategy="nan", checkpointInterval=10,
    )  # fmt: skip
    import time

    started = time.perf_counter()
    fitted = estimator.fit(ratings)
    seconds = time.perf_counter() - started
    from recfactor.dataset import build_dataset

    u, i, r = _pairs(indexed)
    dataset = build_dataset(labels["user"], labels["item"], u, i, r, None, feedback, source,
                            "rating")  # fmt: skip
    model = ALS(params)
    model.adopt(dataset, _factors(fitted.userFactors, dataset.n_users),
                _factors(fitted.itemFactors, dataset.n_items))  # fmt: skip
    model.fit_seconds_ = seconds
    return model


def _factors(frame: Any, n: int) -> np.ndarray:
    """An (id, features) DataFrame as an (n, k) float32 matrix, through Arrow."""
    table = frame.toArrow()
    ids = table.column("id").to_numpy()
    flat = table.column("features").combine_chunks().flatten().to_numpy()
    k = len(flat) // max(len(ids), 1)
    out = np.zeros((n, k), dtype=np.float32)
    out[ids] = flat.reshape(len(ids), k)
    return out


def _pairs(frame: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    table = frame.toArrow()
    return (table.column("u").to_numpy().astype(np.int32),
            table.column("i").to_numpy().astype(np.int32),
            table.column("rating").to_numpy().astype(np.float64))  # fmt: skip
