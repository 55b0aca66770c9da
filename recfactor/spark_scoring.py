"""A saved model's answers computed on a Spark cluster: `predict`, `recommend --all-users` and
`similar` with ``--engine spark``, written by the executors as a folder of Parquet or CSV parts.

Any algorithm's model scores there, not only a Spark-fitted one: the model file's bytes travel
with the task (PySpark broadcasts a large task by itself; Spark Connect sends it in the plan),
each Python worker loads it once, and each batch of rows is answered by the same engine calls
as the local commands (``Model.predict``, :func:`recfactor.lists.recommendations`,
:func:`recfactor.lists.neighbours`): the numbers are the local commands' (to the last bit
where both sum a pair's product in the same order), at full precision (the local commands
write six significant digits). The
pairs to score are read on the cluster and never pass through this process; the users and
items listed are the model's own, numbered on the cluster.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from recfactor.errors import ParameterError

# Users (or items) listed by one batch: bounds an executor's memory (a batch scores this many
# rows against every item) as `recommend_index`'s blocks do.
LIST_BATCH = 1024
# Models loaded by this Python worker, by their bytes' digest (Spark reuses its workers).
_LOADED: dict[str, Any] = {}


def _model(payload: bytes, digest: str) -> Any:
    """The model of ``payload``, loaded once per worker process."""
    model = _LOADED.get(digest)
    if model is None:
        from recfactor import persist

        with tempfile.TemporaryDirectory(prefix="recfactor-score-") as folder:
            path = os.path.join(folder, "model")
            with open(path, "wb") as fh:
                fh.write(payload)
            model = persist.load(path)[0]
        model.keep_ready()
        _LOADED.clear()  # one model a worker: a long session scoring many keeps one
        _LOADED[digest] = model
    return model


def _shipped(model_path: str | os.PathLike) -> tuple[bytes, str]:
    payload = Path(model_path).read_bytes()
    return payload, hashlib.sha256(payload).hexdigest()


def check_request(out: Any, *others: Any) -> None:
    """What a scoring job on Spark needs, refused before Spark starts: ``-o`` naming a new
    folder (a job writes a folder of parts), none of ``others`` (what only the local commands
    take: one pair by name, a history, features, titles, a file of IDs)."""
    if any(x is not None and x is not False for x in others):
        raise ParameterError("`engine` spark scores every pair of a file, or lists every user "
                             "or item, from the model alone",
                             hint="drop the single ID, history, features, titles or ID file, "
                             "or use `engine` local")  # fmt: skip
    if out is None or str(out) == "-":
        raise ParameterError("`engine` spark writes a folder of parts: give `output` DIR",
                             hint="e.g. -o predictions/ (Parquet with `format` parquet or a "
                             "name ending .parquet, else CSV)")  # fmt: skip
    if os.path.exists(str(out)):
        raise ParameterError(f"{out} exists; Spark writes a new folder",
                             hint="give a folder that does not exist yet")  # fmt: skip


def predict(cluster: Any, model_path: str, pairs: str, read: Any, out: str, fmt: str | None) -> int:
    """Each pair of ``pairs`` (read on the cluster) with its prediction and ``cold`` path,
    written to the folder ``out``; returns how many pairs."""
    import dataclasses

    from pyspark.sql import functions as sf

    from recfactor import spark_engine

    payload, digest = _shipped(model_path)
    if pairs is None or pairs == "-":
        raise ParameterError("`engine` spark reads its pairs from a path",
                             hint="give the file's path (file://, hdfs://, s3a://)")  # fmt: skip
    cluster.check_local_path(pairs)
    spark = spark_engine.session(cluster.master, cluster.conf, cluster.remote, None)
    # A pairs file may hold no rating: read as interactions, its rating column kept as text
    # where it has one (the true rating, beside the prediction, as the local command keeps it).
    opened = dataclasses.replace(read, feedback="implicit")
    frame, names, cols = spark_engine.columns(spark, pairs, opened)
    kept = [spark_engine.id_text(frame, names[cols.user], pairs).alias("user"),
            spark_engine.id_text(frame, names[cols.item], pairs).alias("item")]  # fmt: skip
    if cols.rating is not None:
        kept.append(sf.col(names[cols.rating]).cast("string").alias("rating"))
    frame = frame.select(*kept)
    spark_engine.refuse_blank_pairs(frame, pairs)
    schema = ", ".join([f"{c} string" for c in frame.columns] + ["prediction double",
                                                                "cold string"])  # fmt: skip

    def score(batches: Any) -> Any:
        import numpy as np

        from recfactor.coldstart import ANSWERS, answers

        model = _model(payload, digest)
        names = np.array(ANSWERS, dtype=object)
        for batch in batches:
            users, items = batch["user"].to_numpy(str), batch["item"].to_numpy(str)
            result = model.predict(users, items)
            codes = np.arange(len(users))
            path = answers(users, codes, items, codes, result.cold, {}, {})
            yield batch.assign(prediction=result.values, cold=names[path])

    return _write(frame.mapInPandas(score, schema), out, fmt)


def recommend(cluster: Any, model_path: str, n: int, include_seen: bool,
              min_ratings: int | None, out: str, fmt: str | None) -> int:  # fmt: skip
    """Every user's top ``n`` (user, rank, item, score), listed on the cluster."""
    from recfactor.lists import recommendations

    def lists(model: Any, rows: Any) -> list[dict]:
        ids = [str(model.user_ids_[r]) for r in rows]
        return recommendations(model, ids, n, include_seen=include_seen,
                               min_ratings=min_ratings)  # fmt: skip

    columns = [("user", "string"), ("rank", "int"), ("item", "string"), ("score", "double")]
    return _listed(cluster, model_path, "user_ids_", lists, columns, out, fmt)


def similar(cluster: Any, model_path: str, n: int, min_ratings: int | None, out: str,
            fmt: str | None) -> int:  # fmt: skip
    """Every item's ``n`` nearest items (item, rank, similar_item, score), on the cluster."""
    from recfactor.lists import neighbours

    def lists(model: Any, rows: Any) -> list[dict]:
        ids = [str(model.item_ids_[r]) for r in rows]
        return neighbours(model, ids, n, min_ratings=min_ratings)

    columns = [("item", "string"), ("rank", "int"), ("similar_item", "string"),
               ("score", "double")]  # fmt: skip
    return _listed(cluster, model_path, "item_ids_", lists, columns, out, fmt)


def _listed(cluster: Any, model_path: str, side: str, lists: Any, columns: list,
            out: str, fmt: str | None) -> int:  # fmt: skip
    """``lists(model, row numbers)`` of every row of the model's ``side``, on the cluster."""
    from recfactor import persist, spark_engine

    payload, digest = _shipped(model_path)
    count = len(getattr(persist.load(model_path, seen=False)[0], side))
    spark = spark_engine.session(cluster.master, cluster.conf, cluster.remote, None)
    parts = max(1, min(count // LIST_BATCH + 1, 4 * _cores(spark)))
    numbers = spark.range(0, count, numPartitions=parts)
    schema = ", ".join(f"{name} {kind}" for name, kind in columns)
    names = [name for name, _ in columns]

    def run(batches: Any) -> Any:
        import pandas as pd

        model = _model(payload, digest)
        for batch in batches:
            rows = batch["id"].to_numpy()
            for start in range(0, len(rows), LIST_BATCH):
                found = lists(model, rows[start : start + LIST_BATCH])
                yield pd.DataFrame(found, columns=names)

    return _write(numbers.mapInPandas(run, schema), out, fmt)


def _cores(spark: Any) -> int:
    try:
        return int(spark.sparkContext.defaultParallelism)
    except Exception:  # Spark Connect has no SparkContext here
        return 2


def _write(frame: Any, out: str, fmt: str | None) -> int:
    """``frame`` written by the executors to the folder ``out``; how many rows."""
    from recfactor.spark_engine import _first_line

    parquet = fmt == "parquet" or str(out).lower().endswith((".parquet", ".pq"))
    try:
        writer = frame.write.mode("error")  # Connect knows no "errorifexists"
        if parquet:
            writer.parquet(str(out))
            written = frame.sparkSession.read.parquet(str(out))
        else:
            writer.option("header", True).csv(str(out))
            written = frame.sparkSession.read.option("header", True).csv(str(out))
        return int(written.count())  # what the parts hold, read back
    except Exception as exc:
        from recfactor.errors import FitError

        raise FitError(
            f"Spark could not write {out} ({_first_line(exc)[:300]})",
            hint="check the folder and the executors' log",
        ) from exc
