"""`recfactor evaluate --jobs 2` against `--jobs 1`: whole-command time and identical output.

    python benchmarks/bench_jobs.py [--data DIR] [--repeats 3]

Runs a 5-seed x 5-fold evaluation of svd on MovieLens 100K u1.base as a user would (a new
process each time, output as JSON), best of N runs each, and checks that the two reports are the
same apart from fit times.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("RECFACTOR_ML100K", ROOT.parent / "shared/data/ml-100k"))
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/jobs.json")
    args = parser.parse_args()
    data = str(args.data / "u1.base")
    command = [sys.executable, "-m", "recfactor", "evaluate", data, "--algo", "svd",
               "--seeds", "5", "--folds", "5", "--format", "json", "-q"]  # fmt: skip
    times, reports = {}, {}
    for jobs in (1, 2):
        best = float("inf")
        for _ in range(args.repeats):
            started = time.perf_counter()
            done = subprocess.run([*command, "--jobs", str(jobs)], capture_output=True,
                                  check=True, text=True)  # fmt: skip
            best = min(best, time.perf_counter() - started)
        times[jobs] = best
        report = json.loads(done.stdout)
        for run in report["runs"]:
            run["fit_seconds"] = None
        reports[jobs] = report
    same = reports[1] == reports[2]
    print(
        f"evaluate svd, 5 seeds x 5 folds, u1.base: --jobs 1 {times[1]:.2f} s, --jobs 2 "
        f"{times[2]:.2f} s, speed-up {times[1] / times[2]:.2f}x; identical reports: {same}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seconds": times, "identical": same,
                                    "date": time.strftime("%Y-%m-%d")}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
