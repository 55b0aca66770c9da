"""The ordered-probit likelihood's own work in a bfm sweep (recfactor/models/ordinal.py): the
cutpoints' Metropolis step and the latent values' draws, on generated ratings.

    python benchmarks/bench_ordinal.py [--ratings 5000000] [--sweeps 3] [--rounds 2]
        [--against OLD_ORDINAL_PY]

``--against`` times another copy of ordinal.py (an earlier commit's, e.g. from ``git show
REV:recfactor/models/ordinal.py``) in the same run, A B alternating, from the same random
state, and checks that both draw the same latent values. Prints seconds a sweep (median of
the rounds) and writes benchmarks/results/bench_ordinal.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "bench_ordinal.json"


def _load(path: str):
    spec = importlib.util.spec_from_file_location("ordinal_against", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _timed(module, classes: np.ndarray, latent: np.ndarray, sweeps: int) -> tuple[float, float]:
    """Seconds a sweep, and the sum of the last latent values (to compare the draws)."""
    rng = np.random.default_rng(1)
    sampler = module.Sampler(classes, 5)
    z = sampler.start(latent, rng)
    e = z - latent
    started = time.perf_counter()
    for sweep in range(sweeps):
        z = sampler.sweep(z, e, rng, sweep, adapt=True)
    return (time.perf_counter() - started) / sweeps, float(z.sum())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ratings", type=int, default=5_000_000)
    parser.add_argument("--sweeps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--against", default=None)
    args = parser.parse_args()
    from recfactor.models import ordinal

    rng = np.random.default_rng(0)
    classes = rng.integers(0, 5, args.ratings)
    latent = rng.normal(size=args.ratings) * 1.5
    tools = {"this code": ordinal}
    if args.against:
        tools["against"] = _load(args.against)
    found: dict[str, list[float]] = {name: [] for name in tools}
    sums: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, module in tools.items():
            seconds, sums[name] = _timed(module, classes, latent, args.sweeps)
            found[name].append(seconds)
            print(f"{name:10s} {seconds:.3f} s a sweep", flush=True)
    medians = {name: float(np.median(v)) for name, v in found.items()}
    print(f"\n{args.ratings:,} ratings, median s a sweep: "
          + ", ".join(f"{k} {v:.3f}" for k, v in medians.items()))  # fmt: skip
    if args.against:
        print(f"same draws: {sums['this code'] == sums['against']}; "
              f"ratio {medians['against'] / medians['this code']:.2f}x")  # fmt: skip
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"args": vars(args), "seconds": found, "sums": sums}, indent=1))


if __name__ == "__main__":
    main()
