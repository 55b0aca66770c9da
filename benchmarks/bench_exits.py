"""Exits beside other work: a refused `recommend --history` (a model that cannot fold users in)
run many times in a row beside two busy processes; every exit code is counted. Before the
console script ended with os._exit, some of these aborted with 134 after printing their
error (Arrow's C++ thread pool torn down at interpreter exit).

    python benchmarks/bench_exits.py [--runs 50]

Counts go to the table and to benchmarks/results/exits.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="recfactor-exits-"))
    ratings = ROOT / "sample_data/ratings.csv"
    history = folder / "history.csv"
    history.write_text("".join(ratings.read_text().splitlines(keepends=True)[:20]))
    recfactor = [sys.executable, "-m", "recfactor"]
    counts = {}
    for algo in ("bpmf", "baseline"):
        model = folder / f"{algo}.model"
        subprocess.run([*recfactor, "train", str(ratings), "--algo", algo, "-m", str(model),
                        "-q"], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
        try:
            codes = collections.Counter(
                subprocess.run(
                    [*recfactor, "recommend", "--history", str(history), "-m", str(model)],
                    capture_output=True,
                ).returncode
                for _ in range(args.runs)
            )
        finally:
            for process in busy:
                process.kill()
                process.wait()
        counts[algo] = dict(sorted(codes.items()))
        print(f"{algo:>9}: {args.runs} refused runs beside two busy processes, exit codes "
              f"{counts[algo]}")  # fmt: skip
    out = ROOT / "benchmarks/results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "exits.json").write_text(json.dumps({"runs": args.runs, "codes": counts}, indent=1))


if __name__ == "__main__":
    main()
