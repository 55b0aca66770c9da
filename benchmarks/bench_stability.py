"""`recfactor stability` on MovieLens 100K: svd and als at every k from 2 to 50, 10 seeds.

    python benchmarks/bench_stability.py [--ranks 2..50] [--seeds 10] [--jobs 2]

One whole process (as a user runs it), wall time; the table goes to
benchmarks/results/stability.csv and the timing to benchmarks/results/stability.json.
Needs ../shared/data/ml-100k (or RECFACTOR_ML100K).
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
ML100K = Path(os.environ.get("RECFACTOR_ML100K", ROOT.parent / "shared/data/ml-100k"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", default="2..50")
    parser.add_argument("--seeds", default="10")
    parser.add_argument("--jobs", default="2")
    parser.add_argument("--algo", default="svd,als")
    args = parser.parse_args()
    data = ML100K / "u.data"
    if not data.exists():
        sys.exit(f"no MovieLens 100K at {ML100K} (set RECFACTOR_ML100K)")
    out = ROOT / "benchmarks/results"
    out.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "recfactor", "stability", str(data), "--algo", args.algo,
               "--ranks", args.ranks, "--seeds", args.seeds, "--jobs", args.jobs, "--format",
               "csv", "-q"]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    (out / "stability.csv").write_text(result.stdout)
    print(result.stdout, end="")
    print(result.stderr, end="", file=sys.stderr)
    print(f"{args.algo} at k {args.ranks}, {args.seeds} seeds, --jobs {args.jobs}: {seconds:.1f} s")
    (out / "stability.json").write_text(json.dumps({"command": command[2:], "seconds": seconds}))


if __name__ == "__main__":
    main()
