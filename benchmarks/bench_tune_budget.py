"""`tune --time-budget T` on every algorithm: the whole command's wall time against T plus one
fold's fit, on the sample data (50,000 ratings).

    python benchmarks/bench_tune_budget.py [--budget 3]

For each algorithm: the seconds `tune --time-budget T` took (the process, imports and reading
included), the longest fold's fit in its trials (from a short search without a budget's
cut), and whether T + that fit + the process's own overhead (start-up and reading, measured
as `tune --trials 1` minus its fits) covers it. Results go to benchmarks/results/tune_budget.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALGOS = ("baseline", "svd", "svdpp", "nmf", "als", "bpmf")


def tune(algo: str, *extra: str) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "recfactor", "tune",
                           str(ROOT / "sample_data/ratings.csv"), "--algo", algo, "--format",
                           "json", "-q", *extra], capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - started
    return seconds, (json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=3.0)
    args = parser.parse_args()
    rows = []
    print(f"{'algo':>9} {'budget s':>9} {'took s':>7} {'one trial s':>12} {'fold fit s':>11} "
          f"{'overhead s':>11} {'within':>7}")  # fmt: skip
    for algo in ALGOS:
        alone, found = tune(algo, "--trials", "1", "--no-halving")
        trial = found.get("trials", [{}])[0].get("seconds", float("nan"))
        fold = trial / 5  # five folds a trial
        overhead = alone - trial
        took, result = tune(algo, "--time-budget", str(args.budget))
        within = took <= args.budget + fold + overhead + 0.5
        rows.append({"algo": algo, "budget": args.budget, "took": round(took, 2),
                     "trial": round(trial, 2), "fold_fit": round(fold, 2),
                     "overhead": round(overhead, 2), "within": within,
                     "finished_trials": len(result.get("trials", []))})  # fmt: skip
        r = rows[-1]
        print(f"{algo:>9} {args.budget:>9.1f} {r['took']:>7} {r['trial']:>12} {r['fold_fit']:>11}"
              f" {r['overhead']:>11} {within!s:>7}")  # fmt: skip
    out = ROOT / "benchmarks/results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "tune_budget.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
