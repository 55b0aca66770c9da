"""Fold-in beside other work: `recommend --history` for many new users, idle and beside two busy
processes (one per core here), with fold-in's one BLAS thread (as shipped) and with the BLAS
threads numpy starts by default (the code before: one small multithreaded solve per user).

    python benchmarks/bench_foldin_busy.py [--users 2000] [--repeats 3]

A model (als at its defaults) is trained on sample_data/ratings.csv; the history holds
``--users`` new users with 20 ratings each of its items (fixed seed). Runs alternate the
variants, idle and busy, A B A B; medians and ratios go to the table and to
benchmarks/results/foldin_busy.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# The command, with fold-in's BLAS limit undone for the "default threads" variant.
RUN = """
import sys
if sys.argv[1] == "default":
    import contextlib
    from recfactor.running import blas
    blas.threads = lambda n: contextlib.nullcontext()
sys.argv = ["recfactor", *sys.argv[2:]]
from recfactor.cli import entry
entry()
"""


def busy() -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]


def timed(variant: str, args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", RUN, variant, *args], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="recfactor-foldin-busy-"))
    model = folder / "als.model"
    ratings = ROOT / "sample_data/ratings.csv"
    subprocess.run([sys.executable, "-m", "recfactor", "train", str(ratings), "--algo", "als",
                    "-m", str(model), "-q"], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    items = np.unique(np.loadtxt(ratings, delimiter=",", skiprows=1,
                                 usecols=1, dtype=str))  # fmt: skip
    rng = np.random.default_rng(0)
    history = folder / "history.csv"
    with history.open("w") as fh:
        fh.write("user,item,rating\n")
        for u in range(args.users):
            for item in rng.choice(items, 20, replace=False):
                fh.write(f"new{u},{item},{rng.integers(1, 6)}\n")
    command = ["recommend", "--history", str(history), "-m", str(model), "-q"]
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for load in ("idle", "busy"):
            for variant in ("one", "default"):
                others = busy() if load == "busy" else []
                try:
                    times.setdefault((variant, load), []).append(timed(variant, command))
                finally:
                    for p in others:
                        p.kill()
                        p.wait()
    rows = []
    for variant in ("one", "default"):
        idle = statistics.median(times[(variant, "idle")])
        loaded = statistics.median(times[(variant, "busy")])
        rows.append({"blas_threads": variant, "idle_s": round(idle, 2), "busy_s": round(loaded, 2),
                     "busy_over_idle": round(loaded / idle, 2)})  # fmt: skip
    print(f"{args.users} new users, 20 ratings each; medians of {args.repeats} (A B A B)")
    print(f"{'BLAS threads':>14} {'idle s':>8} {'busy s':>8} {'busy/idle':>10}")
    for r in rows:
        print(
            f"{r['blas_threads']:>14} {r['idle_s']:>8} {r['busy_s']:>8} {r['busy_over_idle']:>10}"
        )
    out = ROOT / "benchmarks/results"
    out.mkdir(parents=True, exist_ok=True)
    raw = {f"{variant}/{load}": t for (variant, load), t in times.items()}
    record = {"users": args.users, "rows": rows, "times": raw}
    (out / "foldin_busy.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
