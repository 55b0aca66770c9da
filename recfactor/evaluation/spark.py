"""`evaluate --engine spark`: the splits drawn on the cluster, MLlib's ALS fitted there for
every seed and split, and everything else (scores, the spread, the factor comparisons across
seeds) done here by the local engine's evaluation, so that the report is the same report.

Each rating's split is a hash of its user, item and the split seed, so it does not depend on
how the cluster partitions the data; it is not the local engine's draw (a permutation), and a
fold's size varies by a few ratings in a thousand. The test ratings are scored here, cold
pairs by the same fallback as the local engine (Spark's own "nan" and "drop" would leave
them out).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from recfactor.errors import DataError, ParameterError

# The split's hash is cut into this many buckets for a holdout fraction.
BUCKETS = 1_000_000


def evaluate(
    frame: Any,
    config: Any,
    feedback: str,
    source: str,
    rating_scale: tuple[float, float] | None = None,
    progress: Callable[[], None] | None = None,
) -> Any:
    """The local engine's :func:`recfactor.evaluation.evaluate` report for ``config`` (ALS
    only), with ``frame``'s splits drawn and its fits run on Spark."""
    from dataclasses import replace

    from recfactor import spark_engine
    from recfactor.evaluation import runner as ev
    from recfactor.evaluation.splits import SplitSpec

    specs = [ev.as_spec(a) for a in config.algos]
    others = sorted({s.name for s in specs if s.name != "als"})
    if others:
        raise ParameterError(
            f"Spark fits als; {', '.join(others)} run on the local engine only",
            hint="use `algo` als, or `engine` local",
        )
    if config.test is not None:
        raise ParameterError("a separate test file is not drawn on Spark",
                             hint="use `folds` or `test_fraction`, or `engine` local")  # fmt: skip
    seeds, metrics = ev.seed_list(config), ev.metric_list(config, feedback)
    split = SplitSpec(
        config.folds, config.test_fraction, config.holdout_per_user, split_seed=config.split_seed
    ).for_data(feedback)  # the one default rule
    indexed = spark_engine.index(frame)
    part, info = _parts(indexed.frame, replace(config, **split.settings()),
                        split.holdout_per_user)  # fmt: skip
    parted = replace(indexed, frame=indexed.frame.withColumn("part", part).cache())
    whole, (parts,) = spark_engine.local_dataset(parted, feedback, source, "part")
    splits = _splits(parts, info, whole.source)
    n_users, n_items = len(indexed.users), len(indexed.items)

    def fit(model: Any, dataset: Any, fold: int, scale: Any) -> None:
        from pyspark.sql import functions as sf

        ratings = parted.frame
        if fold != ev.WHOLE:
            ratings = ratings.filter(sf.col("part") != fold)
        params = spark_engine.spark_params(model.params, feedback)
        model.params = params
        fitted = spark_engine.fit_als(ratings.select("u", "i", "rating"), params, feedback,
                                      n_users, n_items)  # fmt: skip
        spark_engine.adopt(model, dataset, fitted, indexed, scale, training_error=False)

    return ev.cross_validate(
        whole, specs, seeds, metrics, splits=splits, split_info=info, rating_scale=rating_scale,
        progress=progress,
        relevant_threshold=config.relevant_threshold if feedback == "explicit" else None,
        fit=fit,
    )  # fmt: skip


def _parts(frame: Any, config: Any, holdout_size: float | None) -> tuple[Any, dict[str, Any]]:
    """A column numbering each rating's test split (k-fold: 0..k-1; one holdout: 0 for the
    test ratings, -1 for the others), and the split's description."""
    from pyspark.sql import Window
    from pyspark.sql import functions as sf

    seed = config.split_seed
    if seed < 0:
        raise ParameterError("`split_seed` must be at least 0")
    draw = sf.xxhash64("u", "i", sf.lit(seed))
    where = {"split_seed": seed}
    if config.test_fraction is not None:
        fraction = config.test_fraction
        if not 0.0 < fraction < 1.0:
            raise ParameterError("`test_fraction` must be between 0 and 1")
        cut = round(fraction * BUCKETS)
        column = sf.when(sf.pmod(draw, sf.lit(BUCKETS)) < cut, 0).otherwise(-1)
        said = f"holdout {fraction:g} drawn on Spark, split seed {seed}"
        return column, {"kind": "holdout", "test_fraction": fraction, **where,
                        "description": said}  # fmt: skip
    if holdout_size is not None:
        if holdout_size <= 0:
            raise ParameterError("`holdout_per_user` must be positive")
        user = Window.partitionBy("u")
        position = sf.row_number().over(user.orderBy(draw, "i")) - 1
        count = sf.count(sf.lit(1)).over(user)
        wanted = sf.lit(int(holdout_size)) if holdout_size >= 1 else sf.rint(count * holdout_size)
        column = sf.when(position < sf.least(wanted, count - 1), 0).otherwise(-1)
        return column, {"kind": "per-user holdout", "holdout_per_user": holdout_size, **where,
                        "description": f"per-user holdout {holdout_size:g} drawn on Spark, "
                        f"split seed {seed}"}  # fmt: skip
    folds = 5 if config.folds is None else config.folds
    if folds < 2:
        raise ParameterError("`folds` must be at least 2")
    return sf.pmod(draw, sf.lit(folds)).cast("int"), {
        "kind": "kfold", "folds": folds, **where,
        "description": f"{folds}-fold drawn on Spark, split seed {seed}",
    }  # fmt: skip


def _splits(parts: np.ndarray, info: dict[str, Any], source: str) -> list[Any]:
    from recfactor.evaluation import Split

    numbers = range(info["folds"]) if info["kind"] == "kfold" else [0]
    splits = [Split(f, np.flatnonzero(parts != f), np.flatnonzero(parts == f)) for f in numbers]
    for split in splits:
        if len(split.test) == 0 or len(split.train) == 0:
            raise DataError(
                f"{source}: {info['description']} leaves split {split.fold} with no "
                f"{'test' if len(split.test) == 0 else 'training'} ratings",
                hint="use fewer folds, another split, or more data",
            )
    return splits
