"""Training on Spark: MLlib's ALS fits the factors, and the result is an ordinary recfactor
model file (predict, recommend, inspect and export work on it locally).

pyspark is imported only here, and only when ``--engine spark`` is asked for. The ratings
are read by Spark (local files, ``file://``, ``hdfs://``, ``s3a://``, folders of part files;
CSV/TSV or Parquet), with the delimiter, header and columns found as the local reader finds
them, from the head of the data. IDs are indexed on the cluster and their labels kept.
Factors come back through Arrow, in pieces bounded by bytes. What a model needs besides its
factors (each user's seen items, the baseline for unknown users and items, the rating scale,
the training error) is computed on the cluster (recfactor.spark_summary): the ratings never
come to this process.

With ``bias``, the biases are fitted by DataFrame aggregations and ALS factors what they
leave.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recfactor.errors import DataError, FitError, ParameterError
from recfactor.running.workers import available_cores
from recfactor.spark_summary import collect, column, factor_rows, with_factor_part


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


def session(
    master: str | None,
    conf: Sequence[str] = (),
    remote: str | None = None,
    checkpoint: str | None = None,
) -> Any:
    """A SparkSession on ``master`` (``local[*]`` by default), or on the Spark Connect server
    ``remote`` (``sc://host:15002``: no JVM here), with ``conf`` (KEY=VALUE); ALS checkpoints to
    ``checkpoint``, else to the cluster's ``spark.checkpoint.dir``, else (a local master) to a
    temporary folder here. A cluster of several machines has none of those by default: a folder
    on the driver would not be the executors'."""
    import warnings

    # pyspark warns of pandas releases newer than it knows; recfactor uses no pandas there.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"pyspark\.")
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        extra = "spark-connect" if remote else "spark"
        raise ParameterError(
            "`engine` spark needs pyspark", hint=f"pip install 'recfactor[{extra}]'"
        ) from None
    if remote is None and shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise FitError(
            "Spark needs Java, and none is on this machine (no java on PATH, no JAVA_HOME)",
            hint="install a Java runtime (17 or later), use a Spark Connect server "
            "(`remote`), or use `engine` local",
        )
    builder = SparkSession.builder.appName("recfactor")
    builder = builder.remote(remote) if remote else builder.master(master or "local[*]")
    if not remote:
        builder = builder.config("spark.ui.enabled", "false")
    partitions = shuffle_partitions(master, remote)
    if partitions is not None and SparkSession.getActiveSession() is None:
        builder = builder.config("spark.sql.shuffle.partitions", str(partitions))
    # A rating that is not a number becomes null, found and reported below with its value
    # (ANSI casts would throw a Java exception instead).
    builder = builder.config("spark.sql.ansi.enabled", "false")
    for setting in conf:
        key, sep, value = setting.partition("=")
        if not sep or not key:
            raise ParameterError(f"`spark_conf` takes KEY=VALUE, not {setting!r}")
        builder = builder.config(key, value)
    where = remote or master or "local[*]"
    _check_reachable(where)
    try:
        with _quiet_stderr():
            spark = builder.getOrCreate()
            if remote:
                spark.range(1).collect()  # a Connect session is lazy: reach the server now
    except ImportError as exc:
        raise ParameterError(f"Spark Connect needs {exc.name or 'its client libraries'}",
                             hint="pip install 'recfactor[spark]' (or, with no Java here, "
                             "'recfactor[spark-connect]')") from None  # fmt: skip
    except Exception as exc:
        raise FitError(
            f"cannot start Spark on {where} ({_first_line(exc)[:200]})",
            hint="check `remote` and that the server is up"
            if remote
            else "check `master` and that the cluster is reachable",
        ) from exc
    import logging

    logging.getLogger("pyspark").setLevel(logging.CRITICAL)  # its failures are ours to say
    if remote:
        return spark  # the server keeps its own log and checkpoint folder
    spark.sparkContext.setLogLevel("ERROR")
    # Spark ignores checkpointInterval without a checkpoint folder, and long lineages then
    # overflow the stack.
    folder = checkpoint or spark.conf.get("spark.checkpoint.dir", None)
    if folder is None and (master is None or master.startswith("local")):
        folder = _local_checkpoints()
    if folder is not None:
        spark.sparkContext.setCheckpointDir(folder)
    return spark


def shuffle_partitions(master: str | None, remote: str | None) -> int | None:
    """The shuffle partitions of a session made here: 4 a thread of a local master (``local``,
    ``local[4]``, ``local[*]``, ``local[4,2]`` with its retries; none named: ``local[*]``);
    None, Spark's own setting, for a cluster's master or a Connect server's.

    Spark's 200 are a cluster's: on a machine's own cores each is a task to schedule, and a
    train took 1.3-1.8x as long (benchmarks/bench_spark_shuffle.py)."""
    if remote is not None:
        return None
    found = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\s*\d+)?\])?", (master or "local[*]").strip())
    if found is None:
        return None
    count = found.group(1)
    threads = 1 if count is None else available_cores() if count == "*" else max(int(count), 1)
    return 4 * threads


_LOCAL_CHECKPOINTS: list[str] = []


def _local_checkpoints() -> str:
    """One temporary checkpoint folder a process, removed when it exits: a folder made per
    session and left behind filled the temporary directory by a few MB a run."""
    if not _LOCAL_CHECKPOINTS:
        import atexit

        folder = tempfile.mkdtemp(prefix="recfactor-checkpoints-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _LOCAL_CHECKPOINTS.append(folder)
    return _LOCAL_CHECKPOINTS[0]


# Spark's own attempts at an absent standalone master take a minute (3 tries of 20 s) and
# end in a Java stack trace; a TCP connection says the same in at most this long.
CONNECT_SECONDS = 5.0
DEFAULT_PORTS = {"spark": 7077, "sc": 15002}


def _check_reachable(where: str) -> None:
    """A clear error, at once, where nothing answers at a ``spark://`` master's or a
    ``sc://`` server's address (a list of standalone masters needs one to answer)."""
    import socket
    from urllib.parse import urlsplit

    scheme, sep, rest = where.partition("://")
    if not sep or scheme not in DEFAULT_PORTS:
        return  # local[*], yarn, k8s://...: Spark's own business
    reasons = []
    for address in rest.split("/")[0].split(","):
        try:
            parts = urlsplit(f"//{address}")
            host, port = parts.hostname, parts.port or DEFAULT_PORTS[scheme]
        except ValueError:
            raise ParameterError(f"{where}: {address!r} is not a HOST:PORT address") from None
        if not host:
            raise ParameterError(f"{where}: no host in {address!r}")
        try:
            socket.create_connection((host, port), timeout=CONNECT_SECONDS).close()
            return
        except OSError as exc:
            reasons.append(f"{host}:{port}: {exc.strerror or type(exc).__name__}")
    raise FitError(
        f"cannot reach {where} ({'; '.join(reasons)})",
        hint="check the address and that the "
        + ("Spark Connect server is running (sbin/start-connect-server.sh)" if scheme == "sc"
           else "master is running (sbin/start-master.sh)"),
    )  # fmt: skip


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read(spark: Any, path: str, options: Any) -> Any:
    """The ratings at ``path`` as a DataFrame of (user string, item string, rating double)."""
    from pyspark.sql import functions as sf

    frame, names, cols = columns(spark, path, options)
    for role, at in (("user", cols.user), ("item", cols.item)):
        kind = _spark_call(lambda at=at: frame.schema[names[at]].dataType, path)
        if kind.typeName() in ("struct", "map", "array"):  # JSON objects or Parquet's nesting
            raise DataError(f"{path}, column {names[at]}: holds {kind.simpleString()}, not one "
                            f"{role} ID a row", hint="IDs are text or integers")  # fmt: skip
    rating = sf.lit(1.0) if cols.rating is None else sf.col(names[cols.rating]).cast("double")
    out = frame.select(
        id_text(frame, names[cols.user], path).alias("user"),
        id_text(frame, names[cols.item], path).alias("item"),
        rating.alias("rating"),
        (sf.col(names[cols.rating]) if cols.rating is not None else sf.lit("1")).alias("raw"),
    )
    _refuse_faults(out, path, options.feedback == "explicit")
    return out.drop("raw")


def id_text(frame: Any, name: str, path: str) -> Any:
    """Column ``name``'s IDs as the local reader writes them: a float's whole number without
    Spark's ".0" (1.0 is "1": the same file trained here and there names the same users), NaN
    missing, any other type as Spark casts it; trimmed."""
    from pyspark.sql import functions as sf

    column = sf.col(name)
    if _spark_call(lambda: frame.schema[name].dataType.typeName(), path) in ("float", "double"):
        whole = (column == sf.floor(column)) & (sf.abs(column) < 2.0**53)
        column = (sf.when(sf.isnan(column), sf.lit(None))
                  .when(whole, column.cast("long").cast("string"))
                  .otherwise(column.cast("string")))  # fmt: skip
    return sf.trim(column.cast("string"))


def _refuse_faults(out: Any, path: str, explicit: bool) -> None:
    """What the local reader refuses, refused before MLlib sees the ratings (it would fail
    deep in a task, or fit them silently): no ratings at all (a header alone), a row without
    its user or item, a rating that is not a number, and in explicit data a pair rated twice
    (`duplicates`, which would combine them, is the local engine's)."""
    from pyspark.sql import functions as sf

    fault = _blank_ids() | sf.col("rating").isNull() | sf.isnan("rating")
    rows, first = _first_fault(out, fault, path)
    if not rows:
        raise DataError(f"{path}: holds no ratings", hint="give a file with one rating a line")
    if first:
        row = first[0]
        lacks = "user" if not row["user"] else "item" if not row["item"] else None
        if lacks or row["raw"] is None:
            raise DataError(f"{path}: a row has no {lacks or 'rating'} (user {row['user']!r}, "
                            f"item {row['item']!r})",
                            hint="every row needs a user, an item and a rating")  # fmt: skip
        raise DataError(f"{path}: rating {row['raw']!r} is not a number",
                        hint="ratings must be finite numbers; use `rating_col` to pick another "
                        "column")  # fmt: skip
    if explicit:
        twice = _spark_call(lambda: out.groupBy("user", "item").count()
                            .filter(sf.col("count") > 1).limit(1).collect(), path)  # fmt: skip
        if twice:
            row = twice[0]
            raise DataError(f"{path}: user {row['user']!r} rated item {row['item']!r} "
                            f"{row['count']} times",
                            hint="combine the repeats first (their mean, or the last), or read "
                            "the data with the local engine and `duplicates`")  # fmt: skip


def _blank_ids() -> Any:
    """A row without its user or item (null, or nothing left once trimmed)."""
    from pyspark.sql import functions as sf

    return (sf.col("user").isNull() | (sf.col("user") == "") | sf.col("item").isNull()
            | (sf.col("item") == ""))  # fmt: skip


def _first_fault(frame: Any, fault: Any, path: str) -> tuple[int, list]:
    """How many rows ``frame`` holds and its first row where ``fault`` holds (an empty list
    where none does): one pass over the rows, a second only where there is a fault."""
    from pyspark.sql import functions as sf

    seen = _spark_call(lambda: frame.agg(sf.count(sf.lit(1)).alias("rows"),
                                         sf.max(fault.cast("int")).alias("fault")).first(),
                       path)  # fmt: skip
    if not seen["rows"] or not seen["fault"]:
        return seen["rows"], []
    return seen["rows"], _spark_call(lambda: frame.filter(fault).limit(1).collect(), path)


def refuse_blank_pairs(pairs: Any, path: str) -> None:
    """A file of pairs to score refused where it holds none, or a row without its user or
    item, as the local reader refuses it (they were scored as unknown IDs)."""
    rows, first = _first_fault(pairs, _blank_ids(), path)
    if not rows:
        raise DataError(f"{path}: holds no user,item pairs",
                        hint="give a file with one user,item pair a line")  # fmt: skip
    if first:
        lacks = "user" if not first[0]["user"] else "item"
        raise DataError(
            f"{path}: a row has no {lacks} (user {first[0]['user']!r}, item {first[0]['item']!r})",
            hint="every row needs a user and an item",
        )


def columns(spark: Any, path: str, options: Any) -> tuple[Any, list[str], Any]:
    """The data set at ``path`` as read (text columns for CSV; Parquet's and JSON lines' own
    types), its column names, and which of them are the user, item and rating
    (`recfactor.io.columns.choose_columns`)."""
    from recfactor.io.columns import choose_columns

    if _is_parquet(path):
        frame = _spark_call(lambda: spark.read.parquet(path), path)
        # Over Spark Connect the read is lazy: a missing path surfaces at the schema.
        names = _spark_call(lambda: list(frame.columns), path)
        cols = choose_columns(names, True, options, path)
    elif (sample := _head(spark, path))[0].lstrip("\ufeff \t").startswith("{"):
        frame = _spark_call(lambda: spark.read.json(path), path)  # JSON lines, by name
        names = _spark_call(lambda: list(frame.columns), path)
        cols = choose_columns(names, True, options, path)
    else:
        from recfactor.io import ratings as data

        sep, header, names = data.head_layout(sample, path, options)
        width = len(names)
        cols = choose_columns(names, header, options, path)
        schema = ", ".join(f"`c{c}` STRING" for c in range(width))
        frame = _spark_call(lambda: spark.read.csv(path, sep=sep, header=header, schema=schema),
                            path)  # fmt: skip
        names = [f"c{c}" for c in range(width)]
    return frame, names, cols


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
        text = _first_line(exc)
        if "PATH_NOT_FOUND" in text or "does not exist" in text:
            raise DataError(f"{path}: no such file or folder", hint="check the path") from exc
        raise DataError(f"{path}: Spark cannot read it ({text[:200]})",
                        hint="give CSV/TSV or Parquet the cluster can reach") from exc  # fmt: skip


@dataclass(frozen=True)
class Indexed:
    """Ratings on the cluster with integer IDs (``u``, ``i``, ``rating``), and the labels
    those integers stand for (sorted, as ``StringIndexer``'s alphabetAsc sorts them)."""

    frame: Any
    users: np.ndarray
    items: np.ndarray


@dataclass(frozen=True)
class Factors:
    """What one Spark fit gives: factor rows by integer ID (zeros where an ID had no
    training ratings), the biases (global mean, user and item biases) where fitted, and the
    fit's wall time."""

    users: np.ndarray
    items: np.ndarray
    biases: tuple[float, np.ndarray, np.ndarray] | None
    seconds: float
    # On the cluster still: MLlib's fitted model, and the biases as (mu, users, items) with
    # the two as (key, b) DataFrames, for what is computed beside the ratings.
    spark_model: Any = None
    spark_biases: tuple | None = None


def index(frame: Any) -> Indexed:
    """``frame``'s string IDs as integers, indexed on the cluster (MLlib's ALS takes only
    integers); the result is cached, for the fits that follow."""
    from pyspark.ml.feature import StringIndexer

    labels = {}
    for side in ("user", "item"):
        indexer = StringIndexer(inputCol=side, outputCol=f"{side}_index",
                                stringOrderType="alphabetAsc").fit(frame)  # fmt: skip
        labels[side] = np.array(indexer.labels, dtype=str)
        frame = indexer.transform(frame)
    frame = frame.select(
        frame.user_index.cast("int").alias("u"), frame.item_index.cast("int").alias("i"),
        "rating",
    ).cache()  # fmt: skip
    return Indexed(frame, labels["user"], labels["item"])


def fit_als(
    ratings: Any, params: Any, feedback: str, n_users: int, n_items: int, steps: Any = None
) -> Factors:
    """MLlib's ALS on ``ratings`` (``u``, ``i``, ``rating``) with ``params`` (resolved for
    ``feedback``); with ``bias``, biases and factors fitted in turn. ``steps`` (a
    :class:`Steps`) hears each fit of the factors end."""
    import time

    from pyspark.ml.recommendation import ALS as SparkALS
    from pyspark.sql import functions as sf

    started = time.perf_counter()
    reg = params.reg
    if feedback == "implicit" and not params.weighted_reg:
        reg = params.reg / _typical_count(ratings)  # the local engine's constant penalty
    else:  # the local ALS's factor penalty is in units of the ratings' spread
        spread = ratings.agg(sf.stddev_pop("rating")).first()[0]
        reg = params.reg * (spread if spread and spread > 0 else 1.0)
    estimator = SparkALS(
        rank=params.factors, maxIter=params.epochs, regParam=reg,
        implicitPrefs=feedback == "implicit", alpha=params.alpha,
        nonnegative=params.nonnegative, seed=params.seed, userCol="u", itemCol="i",
        ratingCol="rating", coldStartStrategy="nan", checkpointInterval=10,
        **_blocks(ratings),
    )  # fmt: skip
    biases = frames = None
    if feedback == "explicit" and params.bias:
        fitted, frames = _fit_with_biases(ratings, estimator, params.reg, steps)
        mu, users, items = frames
        biases = (mu, column(users, "u", "b", n_users), column(items, "i", "b", n_items))
    else:
        if feedback == "implicit" and params.confidence == "scaled":
            mean = ratings.agg(sf.avg("rating")).first()[0]
            ratings = ratings.withColumn("rating", sf.col("rating") / mean)
        fitted = estimator.fit(ratings)
        if steps is not None:
            steps.done()
    users = factor_rows(fitted.userFactors, n_users, params.factors)
    items = factor_rows(fitted.itemFactors, n_items, params.factors)
    return Factors(users, items, biases, time.perf_counter() - started, fitted, frames)


# MLlib's ALS cuts users and items into 10 blocks each, a size for large data: on small data
# each step's tasks are mostly Spark's overhead (ML-100K with biases 26.6 s a fit on local[2],
# 17.9 s in 2 blocks, BENCHMARKS.md). Fewer blocks below this many ratings a block, never
# fewer than 2 nor more than MLlib's 10. The number follows the data alone, never the cores:
# MLlib draws each block's starting factors from the block's number, so blocks by core would
# make a model depend on where it ran (a standalone cluster gives local mode's bit for bit).
BLOCK_RATINGS = 50_000
MAX_BLOCKS = 10


def _blocks(ratings: Any) -> dict[str, int]:
    """ALS's user and item blocks for ``ratings`` (see :data:`BLOCK_RATINGS`)."""
    blocks = min(MAX_BLOCKS, max(2, -(-int(ratings.count()) // BLOCK_RATINGS)))
    return {"numUserBlocks": blocks, "numItemBlocks": blocks}


def _typical_count(ratings: Any) -> float:
    """The number of interactions of the row (user or item) that a typical interaction
    belongs to: sum(n^2) / sum(n) over users and items.

    Spark's implicit ALS penalises each row by ``regParam`` times its number of interactions;
    the local engine, as Hu, Koren and Volinsky, by ``reg`` alone. ``reg`` divided by this
    count gives the rows where most interactions lie the local engine's penalty (measured on
    ML-100K u1, ndcg@10 0.502 against the local 0.519; the best regParam found there, about
    reg / 120, gave 0.512).
    """
    from pyspark.sql import functions as sf

    positive = ratings.filter(sf.col("rating") > 0)
    total, squares = 0.0, 0.0
    for side in ("u", "i"):
        counts = positive.groupBy(side).count()
        row = counts.agg(sf.sum("count"), sf.sum(sf.col("count") * sf.col("count"))).first()
        total, squares = total + float(row[0] or 0), squares + float(row[1] or 0)
    return squares / total if total else 1.0


def adopt(
    model: Any,
    dataset: Any,
    fitted: Factors,
    indexed: Indexed,
    rating_scale: tuple[float, float] | None = None,
    training_error: bool = True,
) -> Any:
    """``model`` (an unfitted ALS) holding ``fitted``'s rows for ``dataset``'s users and items
    (their labels looked up among ``indexed``'s)."""
    import pandas as pd

    users = pd.Index(indexed.users).get_indexer(dataset.user_ids)
    items = pd.Index(indexed.items).get_indexer(dataset.item_ids)
    biases = None
    if fitted.biases is not None:
        mu, user_bias, item_bias = fitted.biases
        biases = (mu, user_bias[users], item_bias[items])
    model.adopt(dataset, fitted.users[users], fitted.items[items], biases,
                rating_scale=rating_scale, training_error=training_error)  # fmt: skip
    model.fit_seconds_ = fitted.seconds
    return model


def spark_params(params: Any, feedback: str) -> Any:
    """``params`` as MLlib runs them, resolved for ``feedback``: its start is Spark's own
    (unit rows from the whole sphere: ``init="sphere"``), and explicit ALS's penalty is always
    weighted by each row's count; what MLlib cannot do is refused."""
    import dataclasses

    if params.init not in (None, "sphere"):
        raise ParameterError(f"Spark's ALS starts from unit rows of any sign, not `init` "
                             f"{params.init}", hint="drop it, or give `init` sphere")  # fmt: skip
    if feedback == "explicit" and params.weighted_reg is False:
        raise ParameterError("Spark's explicit ALS weights each row's penalty by its count",
                             hint="drop `weighted_reg`, or use the local engine")  # fmt: skip
    return dataclasses.replace(params, init="sphere").resolved(feedback)


def train_als(frame: Any, params: Any, feedback: str, source: str, progress: Any = None) -> Any:
    """Fit MLlib's ALS to ``frame`` and return a fitted recfactor ALS model. ``progress(done,
    total)`` hears each step's end (indexing, each fit of the factors, the collection), so a
    bar can say how far the cluster is and how long is left."""
    from recfactor.models.als import ALS
    from recfactor.spark_summary import summarize, train_error

    params = spark_params(params, feedback)
    fits = BIAS_REFITS if feedback == "explicit" and params.bias else 1
    steps = Steps(fits + 2, progress)
    indexed = index(frame)
    steps.done()
    fitted = fit_als(indexed.frame, params, feedback, len(indexed.users), len(indexed.items),
                     steps)  # fmt: skip
    # What the model needs besides its factors, computed beside the ratings: they never
    # come to this process.
    summary = summarize(indexed, feedback, baseline=fitted.biases is None)
    model = ALS(params).adopt_summary(summary, fitted.users, fitted.items, fitted.biases)
    if feedback == "explicit":
        model.train_metrics_ = train_error(indexed.frame, fitted.spark_model,
                                           fitted.spark_biases, model.rating_scale_)  # fmt: skip
    model.fit_seconds_ = fitted.seconds
    steps.done()
    return model


class Steps:
    """Steps of a Spark job counted for a progress bar: ``done()`` after each."""

    def __init__(self, total: int, progress: Any = None) -> None:
        self.total, self.count, self.progress = total, 0, progress

    def done(self) -> None:
        self.count += 1
        if self.progress is not None:
            self.progress(min(self.count, self.total), self.total)


def local_dataset(
    indexed: Indexed, feedback: str, source: str, *extra: str
) -> tuple[Any, list[np.ndarray]]:
    """The indexed ratings as a local Dataset (three Arrow columns, for the baseline fallback,
    each user's seen items and the training error), in a fixed order whatever the cluster's
    partitions; ``extra`` columns come back beside it, in the same order."""
    from recfactor.dataset import build_dataset

    table = collect(indexed.frame.select("u", "i", "rating", *extra), "u", 24 + 8 * len(extra))
    u = table.column("u").to_numpy().astype(np.int32)
    i = table.column("i").to_numpy().astype(np.int32)
    r = table.column("rating").to_numpy().astype(np.float64)
    order = np.lexsort((r, i, u))
    dataset = build_dataset(indexed.users, indexed.items, u[order], i[order], r[order], None,
                            feedback, source, "rating")  # fmt: skip
    return dataset, [table.column(name).to_numpy()[order] for name in extra]


# MLlib's ALS cannot start from given factors, so the biases and the factors are fitted in
# turn, each factor fit afresh on what the latest biases leave, this many times. Measured on
# the sample data (3 folds): one fit lands 0.034 RMSE above the local engine's joint fit of
# biases and factors, three 0.005 (on ML-100K, 0.005 and 0.001).
BIAS_REFITS = 3
# Alternating bias updates in the first fit of the biases (two aggregations each: they move
# by less than 1e-3 after the third on ML-100K), and in the later ones, which start from the
# user biases before.
BIAS_ROUNDS = 3
BIAS_ROUNDS_WARM = 1


def _fit_with_biases(
    ratings: Any, estimator: Any, reg: float, steps: Any = None
) -> tuple[Any, tuple]:
    """ALS with user and item biases: the biases by DataFrame aggregations on what the
    factors leave, then the factors on what the biases leave, ``BIAS_REFITS`` times. Returns
    the last ALS model and (global mean, user biases, item biases) as DataFrames."""
    from pyspark.sql import functions as sf

    mu = float(ratings.agg(sf.avg("rating")).first()[0])
    work = ratings.select("u", "i", (sf.col("rating") - mu).alias("r"), sf.lit(0.0).alias("pq"))
    users = None
    for refit in range(BIAS_REFITS):
        users, items = _biases(work, reg, users)
        left = sf.col("r") - sf.col("bu") - sf.col("bi")
        residual = (work.join(users.withColumnRenamed("b", "bu"), "u")
                    .join(items.withColumnRenamed("b", "bi"), "i")
                    .select("u", "i", left.alias("rating")))  # fmt: skip
        fitted = estimator.fit(residual)
        if steps is not None:
            steps.done()
        if refit + 1 < BIAS_REFITS:
            work = with_factor_part(work.drop("pq"), fitted).localCheckpoint()
    return fitted, (mu, users, items)


def _biases(work: Any, reg: float, users: Any = None) -> tuple[Any, Any]:
    """User and item biases fitted to ``r - pq`` (the rating less the mean and the factors'
    part), from the user biases ``users`` where given. The penalty is the local ALS's
    weighted lambda, ``reg * n`` on a row with ``n`` ratings, so each bias is its row's mean
    residual shrunk by ``1 + reg``. Items first, as locally."""
    from pyspark.sql import functions as sf

    shrink = 1.0 + reg
    left = work.select("u", "i", (sf.col("r") - sf.col("pq")).alias("r"))
    for _ in range(BIAS_ROUNDS if users is None else BIAS_ROUNDS_WARM):
        with_users = left if users is None else left.join(users, "u")
        rest = sf.col("r") - (sf.col("b") if users is not None else sf.lit(0.0))
        items = with_users.groupBy("i").agg((sf.sum(rest) / (sf.count(sf.lit(1)) * shrink))
                                            .alias("b")).localCheckpoint()  # fmt: skip
        users = (left.join(items, "i").groupBy("u")
                 .agg((sf.sum(sf.col("r") - sf.col("b")) / (sf.count(sf.lit(1)) * shrink))
                      .alias("b")).localCheckpoint())  # fmt: skip
    return users, items
