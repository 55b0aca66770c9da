"""Reading a wide matrix (`--layout wide`) of many columns, whole process, against another
checkout of recfactor in the same run (alternating A B A B).

    python benchmarks/bench_wide.py [--other DIR] [--repeats 3] [--columns 10000,100000]

Writes matrices of 5 users x N items (ratings 1-5, fixed seed) to a temporary folder and
times ``recfactor describe FILE --layout wide`` with this checkout and, with ``--other``, with
the one in DIR (e.g. a ``git worktree`` of an older commit). Prints medians and ratios;
results go to benchmarks/results/wide.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write_matrix(path: Path, columns: int, rows: int = 5) -> None:
    rng = np.random.default_rng(0)
    with path.open("w") as fh:
        fh.write("user," + ",".join(f"i{j}" for j in range(columns)) + "\n")
        for r in range(rows):
            fh.write(f"u{r}," + ",".join(map(str, rng.integers(1, 6, columns))) + "\n")


def timed(checkout: Path, path: Path, limit: float) -> float:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    command = [sys.executable, "-m", "recfactor", "describe", str(path), "--layout", "wide"]
    started = time.perf_counter()
    try:
        # cwd: `python -m` puts the current folder first on the path, before PYTHONPATH.
        subprocess.run(command, env=env, cwd=checkout, check=True, stdout=subprocess.DEVNULL,
                       timeout=limit)  # fmt: skip
    except subprocess.TimeoutExpired:
        return float("inf")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--columns", default="10000,100000,1000000")
    parser.add_argument("--limit", type=float, default=120.0, help="seconds before giving up")
    args = parser.parse_args()
    checkouts = {"this": ROOT, **({"other": args.other.resolve()} if args.other else {})}
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for columns in map(int, args.columns.split(",")):
            path = Path(folder) / f"wide{columns}.csv"
            write_matrix(path, columns)
            times: dict[str, list[float]] = {name: [] for name in checkouts}
            for _ in range(args.repeats):
                for name, checkout in checkouts.items():
                    times[name].append(timed(checkout, path, args.limit))
            medians = {name: statistics.median(t) for name, t in times.items()}
            row = {"columns": columns, "mb": path.stat().st_size / 1e6, **medians}
            rows.append(row)
            ratio = f"  other/this {medians['other'] / medians['this']:.1f}x" if args.other else ""
            shown = "  ".join(f"{name} {m:.2f} s" for name, m in medians.items())
            print(f"{columns:>9} columns ({row['mb']:.1f} MB): {shown}{ratio}", flush=True)
    out = ROOT / "benchmarks/results/wide.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
