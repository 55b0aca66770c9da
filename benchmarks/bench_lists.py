"""Every user's list: `recommend --all-users` on a model of the scale set, whole processes.

    python benchmarks/bench_lists.py [--scale 25m] [--repeats 2] [--checkout DIR] [--model M]

Trains the default svd on the scale set's training ratings (``scale_data.py``, fixed seeds;
kept as ``--model`` when given and already there), then writes every user's top 10 to CSV
(and, with ``--parquet``, to Parquet). ``--checkout`` runs another copy of the package (an
older commit in a git worktree) alternated with this one; their outputs must be the same
bytes. Prints medians, best times and peak memory; writes benchmarks/results/lists-SCALE.json.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from processes import measured
from scale_data import add_scale_arguments, scale_train

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_scale_arguments(parser, "25m", 2)
    parser.add_argument("--model", type=Path, help="the model to list from (trained if absent)")
    parser.add_argument("--parquet", action="store_true", help="also write Parquet")
    args = parser.parse_args()
    _, train = scale_train(args)
    versions = {"this": ROOT} | ({"checkout": args.checkout} if args.checkout else {})
    times: dict[tuple[str, str], list[float]] = {}
    peaks: dict[tuple[str, str], float] = {}
    # Run from a folder of their own: `python -m` puts the working folder before PYTHONPATH.
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or Path(tmp) / "svd.model"
        if not model.exists():
            train_model = [sys.executable, "-m", "recfactor", "train", str(train), "-q", "-m",
                           str(model)]  # fmt: skip
            measured(train_model, cwd=tmp, env={**os.environ, "PYTHONPATH": str(ROOT)})
        suffixes = [".csv", ".parquet"] if args.parquet else [".csv"]
        for _ in range(args.repeats):
            for suffix in suffixes:
                for version, checkout in versions.items():
                    out = Path(tmp) / f"{version}{suffix}"
                    command = [sys.executable, "-m", "recfactor", "recommend", "--all-users",
                               "-m", str(model), "-o", str(out), "-q"]  # fmt: skip
                    env = {**os.environ, "PYTHONPATH": str(checkout)}
                    seconds, peak, _ = measured(command, cwd=tmp, env=env)
                    times.setdefault((suffix, version), []).append(seconds)
                    peaks[(suffix, version)] = max(peaks.get((suffix, version), 0.0), peak)
                if args.checkout and suffix == ".csv":
                    same = filecmp.cmp(Path(tmp) / "this.csv", Path(tmp) / "checkout.csv", False)
                    print("the two checkouts' lists are", "the same" if same else "DIFFERENT")
    print(f"{args.scale}: recommend --all-users -n 10, whole process, {args.repeats} runs")
    print(f"{'output':<10}{'version':<10}{'median s':>10}{'best s':>9}{'peak MB':>9}")
    rows = []
    for (suffix, version), runs in times.items():
        peak = peaks[(suffix, version)]
        print(f"{suffix:<10}{version:<10}{statistics.median(runs):>10.2f}{min(runs):>9.2f}"
              f"{peak:>9.0f}")  # fmt: skip
        rows.append({"output": suffix, "version": version, "seconds": runs, "peak_mb": peak})
    out_path = ROOT / f"benchmarks/results/lists-{args.scale}.json"
    out_path.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
