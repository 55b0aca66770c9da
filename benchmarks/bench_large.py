"""recfactor on a larger data set: `train` and `evaluate` end to end, time and peak memory.

    python benchmarks/bench_large.py [--ratings 1000000] [--checkout DIR] [--repeats 2]

Writes a synthetic explicit data set (fixed seed: 50,000 users x 20,000 items, Zipf-like item
popularity, a rank-10 taste structure plus biases and noise, 1-5 stars; ``--ratings`` pairs
are drawn, about two thirds of them distinct: 665,023 for a million) to a temporary
folder, then runs, each in a new process, ``recfactor train`` (svd defaults) and
``recfactor evaluate --algo svd --seeds 2 --folds 2`` with ``--jobs 1`` and ``--jobs 2``.
Reports the best wall time and the peak resident memory of the largest process. ``--checkout``
runs another copy of the package (for example an older commit in a git worktree), so that
before and after meet the machine in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from processes import measured

ROOT = Path(__file__).resolve().parents[1]


def make_ratings(path: Path, n_ratings: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    n_users, n_items, rank = 50_000, 20_000, 10
    users = rng.integers(0, n_users, n_ratings)
    items = (rng.zipf(1.3, n_ratings) - 1) % n_items
    taste = rng.standard_normal((n_users, rank)) / np.sqrt(rank)
    profile = rng.standard_normal((n_items, rank))
    score = (
        3.5 + 0.5 * rng.standard_normal(n_users)[users] + 0.5 * rng.standard_normal(n_items)[items]
    )
    score += np.einsum("ij,ij->i", taste[users], profile[items]) + 0.5 * rng.standard_normal(
        n_ratings
    )
    stars = np.clip(np.rint(score), 1, 5).astype(int)
    keep = np.unique(users.astype(np.int64) * n_items + items, return_index=True)[1]
    lines = [f"u{u},i{i},{r}" for u, i, r in zip(users[keep], items[keep], stars[keep])]
    path.write_text("user,item,rating\n" + "\n".join(lines) + "\n")


def run(command: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """Wall seconds, and the peak resident memory (MB) of the largest process among the
    command and the processes it waited for (its workers): its own (see processes.py)."""
    return measured(command, cwd=cwd, env=env)[:2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--checkout", type=Path, default=ROOT)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/large.json")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(args.checkout.resolve())}
    recfactor = [sys.executable, "-m", "recfactor"]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "ratings.csv"
        make_ratings(data, args.ratings)
        n = sum(1 for _ in data.open()) - 1
        settings = "--algo svd --seeds 2 --folds 2 -q --format csv --jobs".split()
        commands = {
            "train": [*recfactor, "train", str(data), "-m", str(Path(tmp) / "m.model"), "-q"],
            "evaluate --jobs 1": [*recfactor, "evaluate", str(data), *settings, "1"],
            "evaluate --jobs 2": [*recfactor, "evaluate", str(data), *settings, "2"],
        }
        # Run from the data's folder: ``python -m`` puts the working directory first on the
        # path, where a checkout there would shadow the one asked for.
        run(commands["train"], env, tmp)  # numba's cache, for this checkout
        for name, command in commands.items():
            runs = [run(command, env, tmp) for _ in range(args.repeats)]
            results[name] = {
                "seconds": min(s for s, _ in runs),
                "peak_mb": max(m for _, m in runs),
            }
    print(f"recfactor at {args.checkout}: {n:,} ratings, best of {args.repeats}")
    print(f"{'':22}{'seconds':>9}{'peak MB':>9}")
    for name, r in results.items():
        print(f"{name:22}{r['seconds']:9.2f}{r['peak_mb']:9.0f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "checkout": str(args.checkout),
                "ratings": n,
                "results": results,
                "date": time.strftime("%Y-%m-%d"),
                "cores": os.cpu_count(),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
