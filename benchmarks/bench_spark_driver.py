"""The Python driver's peak memory while `train --engine spark` fits ALS on `local[2]`, against
the number of ratings, at fixed numbers of users and items (issue 27).

    python benchmarks/bench_spark_driver.py [--sizes 1,4,16] [--old COMMIT] [--repeat 1]

For each size (millions of ratings) a Parquet file of that many ratings of the same 100,000
users and 20,000 items is generated (fixed seed; uniform users, Zipf-like items, 1-5 stars
from biases and noise) in a temporary folder, and `recfactor train FILE --engine spark
--master local[2] --algo als --epochs 2 -m M -q` runs in a fresh Python process, which
reports its own peak resident memory (``VmHWM``: the Python driver alone; Spark's JVM is
another process). With ``--old COMMIT``, that commit's code (a git worktree) runs beside the
working tree's, alternating A B per size. Results go to benchmarks/results/spark_driver.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
USERS, ITEMS = 100_000, 20_000
# The JVM holds the cached ratings and ALS's blocks in local mode; its default 1 GiB is short
# at 16M ratings.
DRIVER_MEMORY = "spark.driver.memory=8g"

RUN = """
import atexit, sys, time
sys.argv = ["recfactor", *sys.argv[1:]]
started = time.perf_counter()


def report():  # at exit: the CLI ends with os._exit after the exit functions
    # VmHWM, this program's own high-water mark: ru_maxrss would also count the pages of the
    # parent that forked it (Linux keeps the larger of the two across exec).
    with open("/proc/self/status") as status:
        peak = next(int(x.split()[1]) for x in status if x.startswith("VmHWM")) / 1024
    sys.stderr.write(f"PEAK_MB {peak:.1f} SECONDS {time.perf_counter() - started:.1f}\\n")


atexit.register(report)
from recfactor.cli import entry

entry()
"""


def generate(millions: int, path: Path) -> dict:
    """``millions`` million ratings of USERS users and ITEMS items as Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = millions * 1_000_000
    rng = np.random.default_rng(27)
    user_bias = rng.normal(0, 0.4, USERS)
    item_bias = rng.normal(0, 0.5, ITEMS)
    users = rng.integers(0, USERS, n).astype(np.int32)
    # Zipf-like popularity: item j drawn with weight 1 / (j + 10).
    weights = 1.0 / (np.arange(ITEMS) + 10.0)
    items = rng.choice(ITEMS, n, p=weights / weights.sum()).astype(np.int32)
    value = 3.6 + user_bias[users] + item_bias[items] + rng.normal(0, 0.9, n)
    ratings = np.clip(np.rint(value), 1, 5).astype(np.float32)
    table = pa.table({"user": users, "item": items, "rating": ratings})
    pq.write_table(table, path)
    return {"ratings": n, "users": int(np.unique(users).size), "items": int(np.unique(items).size)}


def train(code: Path, data: Path, out: Path) -> dict:
    args = ["train", str(data), "--engine", "spark", "--master", "local[2]", "--algo", "als",
            "--epochs", "2", "--spark-conf", DRIVER_MEMORY, "-m", str(out), "-q"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run([sys.executable, "-c", RUN, *args], env=env, cwd=code,
                          capture_output=True, text=True)  # fmt: skip
    line = [x for x in done.stderr.splitlines() if x.startswith("PEAK_MB")]
    if done.returncode != 0 or not line:
        raise SystemExit(f"train failed ({code}):\n{done.stderr[-2000:]}")
    parts = line[-1].split()
    return {"peak_mb": float(parts[1]), "seconds": float(parts[3])}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,4,16")
    parser.add_argument("--old", default=None, help="a commit to run beside the working tree")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--generate", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:  # in a process of its own, whose memory the runs do not inherit
        print(json.dumps(generate(int(args.generate[0]), Path(args.generate[1]))))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="recfactor-driver-") as tmp:
        folder = Path(tmp)
        codes = {"new": ROOT}
        if args.old:
            codes["old"] = folder / "old"
            add = ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(codes["old"])]
            subprocess.run([*add, args.old], check=True, capture_output=True)
        try:
            for millions in [int(x) for x in args.sizes.split(",")]:
                data = folder / f"{millions}m.parquet"
                shape = json.loads(subprocess.run(
                    [sys.executable, __file__, "--generate", str(millions), str(data)],
                    check=True, capture_output=True, text=True).stdout)  # fmt: skip
                for rep in range(args.repeat):
                    order = list(codes) if rep % 2 == 0 else list(reversed(codes))
                    for name in order:
                        got = train(codes[name], data, folder / f"{name}.model")
                        rows.append({"code": name, "millions": millions, **shape, **got})
                        print(f"{name:>3} {millions:>3}M ratings ({shape['users']} users, "
                              f"{shape['items']} items): driver peak {got['peak_mb']:.0f} MB, "
                              f"{got['seconds']:.0f} s", flush=True)  # fmt: skip
                data.unlink()
        finally:
            if args.old:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                str(codes["old"])], capture_output=True)  # fmt: skip
    out = ROOT / "benchmarks" / "results" / "spark_driver.json"
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count(),
                               "rows": rows}, indent=1))  # fmt: skip
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
