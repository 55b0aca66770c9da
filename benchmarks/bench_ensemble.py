"""An ensemble's members fitted one after another (each with the fit's threads) against side by
side in worker processes (one thread each), on the synthetic 1M and 10M sets.

    python benchmarks/bench_ensemble.py [--scale 1m] [--algos svd,svdpp,als] [--members 4]
        [--repeats 3]

Per algorithm, A B A B: ``fit`` of ``--ensemble N`` with the members in this process, then in
workers (the choice ``recfactor`` makes by itself where N x ratings passes 2 million); the
same model either way (tests/test_ensemble.py), so only the seconds are compared. Prints the
median seconds of each and their ratio; results go to benchmarks/results/bench_ensemble.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_data import SHAPES, write  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "bench_ensemble.json"


def main() -> None:
    from recfactor.io.ratings import read_ratings
    from recfactor.models import ensemble, model_class

    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="1m", choices=sorted(SHAPES))
    parser.add_argument("--algos", default="svd,svdpp,als")
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.gettempdir()) / f"recfactor-scale-{args.scale}"
    data = read_ratings(write(SHAPES[args.scale], folder)["train.csv"])
    found = {}
    for algo in args.algos.split(","):
        cls = model_class(algo)
        times: dict[str, list[float]] = {"in turn": [], "side by side": []}
        cls(ensemble=2).fit(data, training_error=False)  # kernels loaded, outside the timings
        for _ in range(args.repeats):
            for way, parallel in (("in turn", False), ("side by side", True)):
                ensemble._in_parallel = lambda dataset, n, parallel=parallel: parallel
                started = time.perf_counter()
                cls(ensemble=args.members).fit(data, training_error=False)
                times[way].append(time.perf_counter() - started)
        medians = {way: statistics.median(t) for way, t in times.items()}
        ratio = medians["in turn"] / medians["side by side"]
        print(f"{algo:6s} in turn {medians['in turn']:.2f} s, side by side "
              f"{medians['side by side']:.2f} s: {ratio:.2f}x", flush=True)  # fmt: skip
        found[algo] = {"times": times, "ratio": ratio}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"args": vars(args), "found": found}, indent=1))


if __name__ == "__main__":
    main()
