"""`recfactor evaluate --jobs 2` against `--jobs 1`: time and identical output.

    python benchmarks/bench_jobs.py [--data DIR] [--repeats 5]

A 5-seed x 5-fold evaluation of svd on MovieLens 100K (all of u.data), measured two ways, in a
new process every time, N runs of each with --jobs 1 and --jobs 2 alternating; prints the best
against the best and the median of the paired ratios:

- the command, as a user runs it (start-up, imports and reading the file included);
- the engine: ``cross_validate()`` alone, timed in a process that has already read the data and
  loaded numba (with the svd kernels for ``--jobs 1``; the workers of ``--jobs 2`` are
  forked inside the timed call and load their parallel kernels there).

Checks that the two reports are the same apart from fit times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ENGINE = """
import sys, time
from recfactor.io.ratings import read_ratings
from recfactor.evaluation import AlgoSpec, cross_validate, kfold
from recfactor.models.svd import SVD
from recfactor.running.workers import load_numba
data, jobs = read_ratings(sys.argv[1]), int(sys.argv[2])
if jobs == 1:
    SVD()._prepare()
else:
    load_numba()  # what the command does beside reading; workers forked later inherit it
started = time.perf_counter()
cross_validate(data, [AlgoSpec("svd")], list(range(5)), ["rmse", "mae"],
         splits=kfold(data.n_ratings, 5, 0), jobs=jobs)
print(time.perf_counter() - started)
"""


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=True, text=True)
    return time.perf_counter() - started, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("RECFACTOR_ML100K", ROOT.parent / "shared/data/ml-100k"))
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/jobs.json")
    args = parser.parse_args()
    data = str(args.data / "u.data")
    command = [sys.executable, "-m", "recfactor", "evaluate", data, "--algo", "svd",
               "--seeds", "5", "--folds", "5", "--format", "json", "-q"]  # fmt: skip
    # --jobs 1 and --jobs 2 alternate, so that both meet the machine in the same states.
    whole: dict[int, list[float]] = {1: [], 2: []}
    engine: dict[int, list[float]] = {1: [], 2: []}
    reports = {}
    for _ in range(args.repeats):
        for jobs in (1, 2):
            seconds, out = timed([*command, "--jobs", str(jobs)])
            whole[jobs].append(seconds)
            report = json.loads(out)
            for run in report["runs"]:
                run["fit_seconds"] = None
            reports[jobs] = report
            engine[jobs].append(float(timed([sys.executable, "-c", ENGINE, data, str(jobs)])[1]))
    same = reports[1] == reports[2]
    print(
        f"evaluate svd, 5 seeds x 5 folds, ml-100k u.data ({args.repeats} runs each, alternating)"
    )
    print(f"{'':10s} {'--jobs 1':>9s} {'--jobs 2':>9s} {'best/best':>10s} {'median of pairs':>16s}")
    for name, times in (("command", whole), ("engine", engine)):
        pairs = sorted(a / b for a, b in zip(times[1], times[2]))
        best = min(times[1]) / min(times[2])
        print(f"{name:10s} {min(times[1]):8.2f}s {min(times[2]):8.2f}s {best:9.2f}x "
              f"{pairs[len(pairs) // 2]:15.2f}x")  # fmt: skip
    print(f"identical reports: {same}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command_seconds": whole, "engine_seconds": engine,
                                    "identical": same, "date": time.strftime("%Y-%m-%d"),
                                    "cores": os.cpu_count()}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
