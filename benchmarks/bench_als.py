"""ALS, explicit and implicit, against Spark and the implicit library in the same run.

    python benchmarks/bench_als.py [--data DIR] [--skip-spark] [--out FILE.json]

1. MovieLens 100K u1..u5, explicit ALS (maxIter 10, regParam 0.1; rank 10, rank 50, rank 50
   non-negative): mean test RMSE and fit seconds; Spark's ALS beside it when pyspark imports.
2. MovieLens 100K with a 20% per-user holdout, implicit feedback: popularity, PureSVD (k 64),
   recfactor's ALS with its defaults, and recfactor's and the implicit library's ALS at the
   same settings (64 factors, 10 iterations, raw confidence 1 + 10 r, reg 100, 2 threads):
   ndcg@10, precision@10, fit seconds.
3. A synthetic set of 1,000,000 interactions (make_interactions below, fixed seed) whose
   users pick items by their latent tastes, not by popularity alone: the same implicit
   comparison, and explicit ALS fit time (rank 10) beside Spark's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

# The implicit library asks for single-threaded BLAS; numba's kernels are unaffected.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recfactor.evaluation.metrics import topn  # noqa: E402
from recfactor.evaluation.runner import _topn_scores, per_user_holdout  # noqa: E402
from recfactor.io.ratings import Dataset, ReadOptions, read_ratings  # noqa: E402
from recfactor.models import model_class  # noqa: E402
from recfactor.models.als import rating_spread  # noqa: E402

THREADS = 2
SPARK_REFERENCE = {"rank 10": 0.927, "rank 50": 0.923, "rank 50 nonnegative": 0.918}


def default_data() -> Path:
    return Path(os.environ.get("RECFACTOR_ML100K", ROOT.parent / "shared" / "data" / "ml-100k"))


def make_interactions(n_users=50_000, n_items=5_000, n=1_000_000, rank=16, seed=0) -> Dataset:
    """Interactions (with 1-5 ratings) whose items follow each user's latent taste: each
    interaction picks a taste from the user's mixture, then an item from that taste's items,
    with a mild popularity skew inside every taste."""
    rng = np.random.default_rng(seed)
    user_mix = rng.dirichlet(np.full(rank, 0.1), n_users)
    taste_items = rng.dirichlet(np.full(n_items, 0.05), rank)
    users = rng.integers(0, n_users, n)
    cdf = np.cumsum(user_mix, axis=1)
    tastes = (cdf[users] < rng.random(n)[:, None]).sum(axis=1).clip(0, rank - 1)
    items = np.empty(n, dtype=np.int64)
    item_cdf = np.cumsum(taste_items, axis=1)
    for z in range(rank):
        chosen = tastes == z
        items[chosen] = np.searchsorted(item_cdf[z], rng.random(int(chosen.sum())))
    items = items.clip(0, n_items - 1)
    affinity = np.einsum("ij,ji->i", user_mix[users], taste_items[:, items]) * n_items
    ratings = np.clip(np.round(2.5 + np.log1p(affinity) + rng.normal(0, 0.7, n)), 1, 5)
    return Dataset.from_arrays(users, items, ratings, duplicates="last")


def explicit_ml100k(data_dir: Path, spark) -> dict:
    settings = {
        "rank 10": {"factors": 10},
        "rank 50": {"factors": 50},
        "rank 50 nonnegative": {"factors": 50, "nonnegative": True},
    }
    out = {}
    als = model_class("als")
    for name, params in settings.items():
        rmses, all_rmses, fits, spark_rmses, spark_fits = [], [], [], [], []
        for fold in range(1, 6):
            train = read_ratings(data_dir / f"u{fold}.base")
            test = read_ratings(data_dir / f"u{fold}.test")
            # Spark's regParam 0.1 without biases: recfactor's factor penalty is reg times the
            # ratings' spread.
            reg = 0.1 / rating_spread(train.ratings)
            model = als(reg=reg, epochs=10, seed=fold, preset="spark", **params).fit(train)
            result = model.predict(test.user_ids[test.users], test.item_ids[test.items])
            # Spark (coldStartStrategy "drop") scores only pairs whose user and item it knows;
            # so does this comparison. RMSE over every pair, cold ones from the baseline:
            # all_rmses.
            known = ~result.cold
            err = result.values - test.ratings
            rmses.append(float(np.sqrt(np.mean(err[known] ** 2))))
            all_rmses.append(float(np.sqrt(np.mean(err**2))))
            fits.append(model.fit_seconds_)
            if spark is not None:
                r, f = spark_explicit(spark, train, test, params)
                spark_rmses.append(r)
                spark_fits.append(f)
        out[name] = {
            "recfactor_rmse": float(np.mean(rmses)),
            "recfactor_rmse_all_pairs": float(np.mean(all_rmses)),
            "recfactor_fit_s": float(np.mean(fits)),
            "spark_reference_rmse": SPARK_REFERENCE[name],
        }
        if spark_rmses:
            out[name].update(spark_rmse=float(np.mean(spark_rmses)),
                             spark_fit_s=float(np.mean(spark_fits)))  # fmt: skip
    return out


def spark_explicit(spark, train: Dataset, test: Dataset, params: dict) -> tuple[float, float]:
    from pyspark.ml.recommendation import ALS as SparkALS

    def frame(d: Dataset):
        rows = list(zip(d.user_ids[d.users].astype(int).tolist(),
                        d.item_ids[d.items].astype(int).tolist(), d.ratings.tolist()))  # fmt: skip
        return spark.createDataFrame(rows, ["user", "item", "rating"])

    als = SparkALS(rank=params["factors"], maxIter=10, regParam=0.1, userCol="user",
                   itemCol="item", ratingCol="rating", coldStartStrategy="drop",
                   nonnegative=params.get("nonnegative", False), seed=0)  # fmt: skip
    train_frame = frame(train).cache()
    train_frame.count()
    started = time.perf_counter()
    model = als.fit(train_frame)
    model.userFactors.count()
    fit_s = time.perf_counter() - started
    predictions = model.transform(frame(test)).toPandas()
    rmse = float(np.sqrt(np.mean((predictions["prediction"] - predictions["rating"]) ** 2)))
    return rmse, fit_s


def implicit_comparison(data: Dataset, label: str, holdout_seed: int = 0) -> dict:
    """Popularity, PureSVD, recfactor ALS (defaults and the library's settings), the implicit
    library's ALS: ndcg@10, precision@10 and fit seconds on a 20% per-user holdout."""
    (split,) = per_user_holdout(data, 0.2, holdout_seed)
    train, test = data.subset(split.train), data.subset(split.test)
    metrics = ["ndcg@10", "precision@10"]
    out = {}
    same = {"factors": 64, "epochs": 10, "alpha": 10.0, "reg": 100.0, "confidence": "raw"}
    candidates = {
        "popularity": ("baseline", {}),
        "PureSVD k=64": ("svd", {"factors": 64}),
        "recfactor ALS defaults": ("als", {}),
        "recfactor ALS (library settings)": ("als", same),
        "recfactor ALS cg (library settings)": ("als", {**same, "solver": "cg"}),
    }
    for name, (algo, params) in candidates.items():
        model = model_class(algo)(**params).fit(train.compact())
        scores = _topn_scores(model, test, metrics, None)
        out[name] = {"ndcg@10": scores["ndcg@10"], "precision@10": scores["precision@10"],
                     "fit_s": model.fit_seconds_}  # fmt: skip
    try:
        import implicit
    except ImportError:
        print("implicit not importable: recfactor only", file=sys.stderr)
        return out
    matrix = sp.csr_matrix((train.ratings, (train.users, train.items)),
                           shape=(data.n_users, data.n_items))  # fmt: skip
    n_relevant = np.bincount(test.users, minlength=data.n_users)
    for cg in (False, True):
        lib = implicit.cpu.als.AlternatingLeastSquares(
            factors=64, regularization=100.0, alpha=10.0, iterations=10, use_cg=cg,
            calculate_training_loss=False, random_state=0, num_threads=THREADS,
        )  # fmt: skip
        started = time.perf_counter()
        lib.fit(matrix, show_progress=False)
        fit_s = time.perf_counter() - started
        ids, _ = lib.recommend(np.arange(data.n_users), matrix, N=10,
                               filter_already_liked_items=True)  # fmt: skip
        scores = topn(ids, test.users, test.items, n_relevant, data.n_items, 10)
        name = "implicit library ALS" + (" cg" if cg else " cholesky") + " (same settings)"
        out[name] = {"ndcg@10": scores["ndcg"], "precision@10": scores["precision"],
                     "fit_s": fit_s}  # fmt: skip
    print(f"\n{label}: 20% per-user holdout")
    print(f"{'model':42} {'ndcg@10':>8} {'prec@10':>8} {'fit s':>8}")
    for name, row in out.items():
        print(f"{name:42} {row['ndcg@10']:8.4f} {row['precision@10']:8.4f} {row['fit_s']:8.3f}")
    return out


def explicit_fit_time(data: Dataset, spark) -> dict:
    model = model_class("als")(factors=10, reg=0.1, epochs=10, preset="spark").fit(data)
    out = {"recfactor_fit_s": model.fit_seconds_}
    if spark is not None:
        _, fit_s = spark_explicit(spark, data, data.subset(np.arange(1000)), {"factors": 10})
        out["spark_fit_s"] = fit_s
        out["speedup"] = fit_s / model.fit_seconds_
    return out


def start_spark(skip: bool):
    if skip:
        return None
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        print("pyspark not importable: Spark columns left out", file=sys.stderr)
        return None
    return (SparkSession.builder.master(f"local[{THREADS}]").appName("recfactor-bench")
            .config("spark.driver.memory", "6g").config("spark.ui.enabled", "false")
            .getOrCreate())  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument("--parts", default="explicit,implicit,synthetic",
                        help="which sections to run")  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "als.json")
    args = parser.parse_args()
    model_class("als")().fit(Dataset.from_arrays(["a", "b"], ["x", "y"], [1.0, 2.0]))  # kernels
    spark = start_spark(args.skip_spark)
    results = {}
    parts = set(args.parts.split(","))
    if (args.data / "u1.base").exists() and "explicit" in parts:
        results["ml100k_explicit"] = explicit_ml100k(args.data, spark)
        print("MovieLens 100K u1..u5, explicit ALS, maxIter 10, regParam 0.1 (mean RMSE)")
        for name, row in results["ml100k_explicit"].items():
            extra = ""
            if "spark_rmse" in row:
                extra = f", Spark this run {row['spark_rmse']:.4f} in {row['spark_fit_s']:.2f} s"
            print(
                f"  {name:22} recfactor {row['recfactor_rmse']:.4f} in "
                f"{row['recfactor_fit_s']:.3f} s (Spark 4.3 reference "
                f"{row['spark_reference_rmse']:.3f}){extra}"
            )
    if (args.data / "u1.base").exists() and "implicit" in parts:
        ml = read_ratings(args.data / "u.data", ReadOptions(feedback="implicit"))
        results["ml100k_implicit"] = implicit_comparison(ml, "MovieLens 100K, implicit")
    if not (args.data / "u1.base").exists():
        print(f"MovieLens 100K not found at {args.data}: synthetic data only", file=sys.stderr)
    if "synthetic" not in parts:
        _write(args, results)
        return
    synthetic = make_interactions()
    print(
        f"\nsynthetic: {synthetic.n_users} users, {synthetic.n_items} items, "
        f"{synthetic.n_ratings} interactions"
    )
    implicit_data = Dataset.from_arrays(synthetic.user_ids[synthetic.users],
                                        synthetic.item_ids[synthetic.items], synthetic.ratings,
                                        feedback="implicit")  # fmt: skip
    results["synthetic_implicit"] = implicit_comparison(implicit_data, "synthetic 1M, implicit")
    results["synthetic_explicit_fit"] = explicit_fit_time(synthetic, spark)
    row = results["synthetic_explicit_fit"]
    print(f"\nsynthetic 1M explicit ALS rank 10 fit: recfactor {row['recfactor_fit_s']:.2f} s"
          + (f", Spark {row['spark_fit_s']:.2f} s ({row['speedup']:.1f}x)" if "spark_fit_s" in row
             else ""))  # fmt: skip
    _write(args, results)


def _write(args, results: dict) -> None:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%d"), "threads": THREADS, "results": results,
    }, indent=2))  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
