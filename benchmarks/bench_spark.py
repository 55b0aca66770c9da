"""recfactor's Spark engine (local mode, and a standalone cluster of a master and two workers
on 127.0.0.1) against its local engine: test RMSE (ndcg@10 for implicit ALS) and wall time.

    python benchmarks/bench_spark.py [--folds 1,2,3,4,5] [--ranks 10,50] [--no-bias]
        [--implicit] [--cluster-folds 1] [--synthetic 1m|10m] [--same-start]

For each MovieLens 100K fold u1..u5 (``--folds``) and each setting (rank x with and without
``bias``; 10 iterations, reg 0.1, seed 0), the local engine's ALS and Spark's (``local[2]``)
are fitted in turn (A B A B) in one process and one Spark session, each on the fold's base
file, and scored on its test file by the same local predictions (cold pairs by the same
fallback). Then a standalone master and two one-core workers are started from pyspark's own
scripts (``bin/spark-class``), the ``--cluster-folds`` fits are repeated through
``spark://127.0.0.1:7077``, and their factors are compared with local mode's. ``--implicit``
adds implicit ALS on u1 (every rating an interaction; ndcg@10 on u1.test's items).
``--synthetic 1m|10m`` adds benchmarks/scale_data.py's synthetic set of that size (rank 10,
its own test rows), one fit per engine. ``--same-start`` runs the local engine at MLlib's own
settings (``init="sphere"``; implicit: ``weighted_reg`` with reg 1.25 on both engines), so that
the two differ by their random draws alone. Results go to benchmarks/results/spark.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
ML100K = Path(os.environ.get("RECFACTOR_ML100K", ROOT.parent / "shared/data/ml-100k"))
MASTER = "spark://127.0.0.1:7077"


def start_cluster(workdir: Path) -> list[subprocess.Popen]:
    """A standalone master and two workers (one core, 3 GiB each) on 127.0.0.1."""
    import pyspark

    home = Path(pyspark.__file__).parent
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOG_DIR": str(workdir),
           "SPARK_WORKER_DIR": str(workdir / "work")}  # fmt: skip
    spark_class = str(home / "bin/spark-class")
    log = open(workdir / "cluster.log", "w")  # open for the cluster's life
    master = subprocess.Popen([spark_class, "org.apache.spark.deploy.master.Master", "--host",
                               "127.0.0.1", "--port", "7077", "--webui-port", "18080"],
                              env=env, stdout=log, stderr=log)  # fmt: skip
    _wait_for_port(7077)
    worker = [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
              "--cores", "1", "--memory", "3g", "--webui-port"]  # fmt: skip
    workers = [
        subprocess.Popen([*worker, str(18081 + n), MASTER], env=env, stdout=log, stderr=log)
        for n in range(2)
    ]
    _wait_for_workers(2)
    return [master, *workers]


def _wait_for_port(port: int, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the Spark master did not open port {port}")


def _wait_for_workers(count: int, seconds: float = 90) -> None:
    from urllib.request import urlopen

    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            state = json.load(urlopen("http://127.0.0.1:18080/json/", timeout=2))
            if sum(w["state"] == "ALIVE" for w in state.get("workers", [])) >= count:
                return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"fewer than {count} Spark workers registered")


def rmse(model, test: pd.DataFrame) -> float:
    estimate = model.predict(test.user.to_numpy(str), test.item.to_numpy(str)).values
    return float(np.sqrt(np.mean((estimate - test.rating.to_numpy()) ** 2)))


def ndcg10(model, test: pd.DataFrame) -> float:
    from recfactor.dataset import Dataset
    from recfactor.evaluation.runner import _topn_scores

    held = Dataset.from_frame(test, feedback="implicit")
    users = pd.Index(model.user_ids_).get_indexer(held.user_ids[held.users])
    items = pd.Index(model.item_ids_).get_indexer(held.item_ids[held.items])
    return _topn_scores(model, held, users, items, ["ndcg@10"], None)["ndcg@10"]


def fit_local(path: str, params: dict, feedback: str):
    import recfactor as rf

    data = rf.read_ratings(path, rf.ReadOptions(feedback=feedback))
    started = time.perf_counter()
    model = rf.ALS(**params).fit(data)
    return model, time.perf_counter() - started


def fit_spark(spark, path: str, params: dict, feedback: str):
    import recfactor as rf
    from recfactor import spark_engine

    started = time.perf_counter()
    frame = spark_engine.read(spark, path, rf.ReadOptions(feedback=feedback))
    model = spark_engine.train_als(frame, rf.ALS(**params).params, feedback, path)
    return model, time.perf_counter() - started


def read_test(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", header=None, names=["user", "item", "rating", "t"],
                       dtype={"user": str, "item": str})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", default="1,2,3,4,5")
    parser.add_argument("--ranks", default="10,50")
    parser.add_argument("--no-bias", action="store_true", help="skip the --bias settings")
    parser.add_argument("--implicit", action="store_true")
    parser.add_argument("--cluster-folds", default="1")
    parser.add_argument("--synthetic", choices=["1m", "10m"], default=None)
    parser.add_argument("--same-start", action="store_true",
                        help="the local engine at MLlib's own settings: its start (init sphere) "
                        "and, for implicit ALS, its count-weighted penalty (weighted_reg, reg "
                        "1.25) on both engines")  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/spark.json")
    args = parser.parse_args()
    from recfactor import spark_engine

    settings = [{"factors": int(k), "bias": bias} for k in args.ranks.split(",")
                for bias in ((False,) if args.no_bias else (False, True))]  # fmt: skip
    jobs = [(f"u{f}", ML100K / f"u{f}.base", read_test(ML100K / f"u{f}.test"), s, "explicit")
            for f in args.folds.split(",") if f for s in settings]  # fmt: skip
    if args.implicit:
        implicit = {"weighted_reg": True, "reg": 1.25} if args.same_start else {}
        jobs.append(("u1", ML100K / "u1.base", read_test(ML100K / "u1.test"), implicit,
                     "implicit"))  # fmt: skip
    local_extra = {"init": "sphere"} if args.same_start else {}
    workdir = Path(tempfile.mkdtemp(prefix="recfactor-bench-spark-"))
    if args.synthetic:
        jobs.append(synthetic_job(args.synthetic, workdir))
    rows, models = [], {}
    spark = spark_engine.session("local[2]")
    for name, base, test, params, feedback in jobs:
        score = ndcg10 if feedback == "implicit" else rmse
        row = {"data": name, "feedback": feedback, **params, "same_start": args.same_start}
        for engine in ("local", "spark"):  # A B, fold after fold
            if engine == "local":
                model, seconds = fit_local(str(base), {**params, **local_extra}, feedback)
            else:
                model, seconds = fit_spark(spark, str(base), params, feedback)
                models[(name, feedback, json.dumps(params))] = model
            row[f"{engine}_{score.__name__}"] = round(score(model, test), 4)
            row[f"{engine}_seconds"] = round(seconds, 2)
        rows.append(row)
        print(row, flush=True)
    spark.stop()
    cluster = []
    wanted = {f"u{f}" for f in args.cluster_folds.split(",") if f}
    if wanted:
        processes = start_cluster(workdir)
        try:
            spark = spark_engine.session(MASTER)
            for name, base, _, params, feedback in jobs:
                if name not in wanted:
                    continue
                model, seconds = fit_spark(spark, str(base), params, feedback)
                before = models[(name, feedback, json.dumps(params))]
                gaps = [np.abs(model.user_factors_ - before.user_factors_).max(),
                        np.abs(model.item_factors_ - before.item_factors_).max()]  # fmt: skip
                same = (np.array_equal(model.user_factors_, before.user_factors_)
                        and np.array_equal(model.item_factors_, before.item_factors_))  # fmt: skip
                differs = float(max(gaps))
                entry = {"data": name, "feedback": feedback, **params,
                         "cluster_seconds": round(seconds, 2), "bit_identical": same,
                         "max_factor_difference": differs}  # fmt: skip
                cluster.append(entry)
                print(entry, flush=True)
            spark.stop()
        finally:
            for process in processes:
                process.terminate()
    summarise(rows, cluster, args.out)


def synthetic_job(size: str, workdir: Path):
    """benchmarks/scale_data.py's set of that size (1m, 10m): rank 10 plus biases and noise."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import scale_data

    paths = scale_data.write(scale_data.SHAPES[size], workdir / size)
    test = pd.read_csv(paths["test.csv"], dtype={"user": str, "item": str})
    settings = {"factors": 10, "bias": False}
    return (f"synthetic {size}", paths["train.csv"], test, settings, "explicit")


def summarise(rows: list[dict], cluster: list[dict], out: Path) -> None:
    print("\nmean over folds (local engine | Spark local[2] | difference; median seconds)")
    frame = pd.DataFrame(rows)
    keys = [d if d.startswith("synthetic") else None for d in frame.data]
    frame["set"] = [k or "ml-100k u1..u5" for k in keys]
    groups = frame.groupby(["set", "feedback", "factors", "bias"], dropna=False)
    summary = []
    for key, group in groups:
        metric = "ndcg10" if key[1] == "implicit" else "rmse"
        local, spark = group[f"local_{metric}"].mean(), group[f"spark_{metric}"].mean()
        line = {"set": key[0], "feedback": key[1], "factors": key[2], "bias": key[3],
                "folds": len(group), "metric": metric, "local": round(local, 4),
                "spark": round(spark, 4), "difference": round(spark - local, 4),
                "local_seconds": statistics.median(group.local_seconds),
                "spark_seconds": statistics.median(group.spark_seconds)}  # fmt: skip
        summary.append(line)
        print(line)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": rows, "summary": summary, "cluster": cluster,
                               "cores": os.cpu_count()}, indent=1, default=str))  # fmt: skip
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
