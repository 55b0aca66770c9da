"""`train --engine spark` on a local master with Spark's 200 shuffle partitions against the 4 a
thread that recfactor now sets for the sessions it makes on `local[N]`.

    python benchmarks/bench_spark_shuffle.py [--rounds 4] [--sizes small,ml100k,1m]

One local[2] Spark session; the setting is changed between fits (a runtime setting), A B A B,
each fit `rf.train_on_spark(FILE, Cluster("local[2]"), "als", {"epochs": 3})` with biases (three
fits of the factors, aggregations between). Sets: 5,000 planted ratings (150 x 80), MovieLens
100K's u1.base (where ../shared/data has it), and 1M generated ratings (fixed seed). Prints
medians and their ratio; results go to benchmarks/results/spark_shuffle.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def small(folder: Path) -> Path:
    rng = np.random.default_rng(7)
    p, q = rng.normal(0, 0.7, (150, 3)), rng.normal(0, 0.7, (80, 3))
    u, i = np.nonzero(rng.random((150, 80)) < 0.4)
    frame = pd.DataFrame({"user": [f"user{x}" for x in u], "item": [f"item{x}" for x in i],
                          "rating": 3.5 + np.sum(p[u] * q[i], axis=1)})  # fmt: skip
    frame.to_csv(folder / "small.csv", index=False)
    return folder / "small.csv"


def million(folder: Path) -> Path:
    rng = np.random.default_rng(11)
    n = 1_000_000
    users = rng.integers(0, 20_000, n)
    items = np.minimum(rng.zipf(1.3, n), 5_000) - 1
    ratings = np.clip(np.round(3.5 + rng.normal(0, 1, n)), 1, 5)
    frame = pd.DataFrame({"user": users, "item": items, "rating": ratings})
    frame = frame.drop_duplicates(["user", "item"])
    frame.to_parquet(folder / "1m.parquet")
    return folder / "1m.parquet"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--sizes", default="small,ml100k,1m")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/spark_shuffle.json")
    args = parser.parse_args()
    import recfactor as rf
    from recfactor import spark_engine

    folder = Path(tempfile.mkdtemp(prefix="bench-shuffle-"))
    sets = {"small": lambda: small(folder), "1m": lambda: million(folder),
            "ml100k": lambda: ROOT.parent / "shared/data/ml-100k/u1.base"}  # fmt: skip
    spark = spark_engine.session("local[2]")
    ours = spark.conf.get("spark.sql.shuffle.partitions")
    rows = []
    for name in args.sizes.split(","):
        path = sets[name]()
        if not path.exists():
            print(f"{name}: {path} not found, skipped")
            continue
        cluster = rf.Cluster(master="local[2]")
        rf.train_on_spark(str(path), cluster, "als", {"epochs": 3})  # warm the JVM's code
        seconds: dict[str, list[float]] = {"200": [], ours: []}
        for _ in range(args.rounds):
            for partitions in ("200", ours):
                spark.conf.set("spark.sql.shuffle.partitions", partitions)
                started = time.perf_counter()
                rf.train_on_spark(str(path), cluster, "als", {"epochs": 3})
                seconds[partitions].append(time.perf_counter() - started)
        medians = {k: statistics.median(v) for k, v in seconds.items()}
        rows.append({"set": name, "seconds": seconds, "medians": medians,
                     "ratio": medians["200"] / medians[ours]})  # fmt: skip
        print(
            f"{name:7s} 200 partitions {medians['200']:6.2f} s   {ours} partitions "
            f"{medians[ours]:6.2f} s   {medians['200'] / medians[ours]:.2f}x",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"partitions": ours, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
