"""`recfactor train` on an idle machine and beside CPU-bound processes, in the same run.

    python benchmarks/bench_busy.py [--repeats 5] [--hogs 2] [--env KEY=VALUE ...]

Three commands (NMF k=3 of the food matrix, svd and als on MovieLens 100K u1.base when
../shared/data has it), each run idle and busy in turn (idle, busy, idle, busy, ...), whole
process, wall time. "Busy" is ``--hogs`` processes spinning on the CPU for the whole run, as
a laptop compiling or a notebook training beside it. Prints the medians and busy / idle: on a
machine with C cores and H hogs, a fair share is (C + H) / C of the idle time when the command
uses every core (2x for 2 cores and 2 hogs). ``--env`` runs the commands with extra environment
settings (``--env OMP_WAIT_POLICY=active``, to see what the threads do when left to spin).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ML100K = Path(os.environ.get("RECFACTOR_ML100K", ROOT.parent / "shared/data/ml-100k"))


def spin() -> None:
    while True:
        pass


def timed(command: list[str], env: dict[str, str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--hogs", type=int, default=2)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/busy.json")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.update(dict(setting.split("=", 1) for setting in args.env))
    recfactor = [sys.executable, "-m", "recfactor", "train", "-q"]
    food = str(ROOT / "sample_data/food.csv")
    commands = {
        "nmf k=3, food matrix": [food, "--feedback", "implicit", "--algo", "nmf", "-k", "3"],
    }
    if (ML100K / "u1.base").exists():
        u1 = str(ML100K / "u1.base")
        commands["svd, u1.base"] = [u1]
        commands["als, u1.base"] = [u1, "--algo", "als"]
    else:
        print(f"no MovieLens 100K at {ML100K}: the food matrix only", file=sys.stderr)
    times: dict[str, dict[str, list[float]]] = {n: {"idle": [], "busy": []} for n in commands}
    with tempfile.TemporaryDirectory() as tmp:
        model = ["-m", str(Path(tmp) / "m.model")]
        for args_ in commands.values():  # numba's cache
            timed([*recfactor, *args_, *model], env, tmp)
        for _ in range(args.repeats):
            for name, args_ in commands.items():
                times[name]["idle"].append(timed([*recfactor, *args_, *model], env, tmp))
                hogs = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.hogs)]
                for hog in hogs:
                    hog.start()
                try:
                    times[name]["busy"].append(timed([*recfactor, *args_, *model], env, tmp))
                finally:
                    for hog in hogs:
                        hog.kill()
                        hog.join()
    cores = len(os.sched_getaffinity(0))
    print(f"train, whole process: median of {args.repeats}, {args.hogs} hogs, {cores} cores")
    if args.env:
        print("with " + " ".join(args.env))
    print(f"{'command':24}{'idle s':>9}{'busy s':>9}{'busy/idle':>11}{'worst':>8}")
    results = {}
    for name, t in times.items():
        idle, busy = statistics.median(t["idle"]), statistics.median(t["busy"])
        results[name] = {**t, "idle_median": idle, "busy_median": busy}
        print(f"{name:24}{idle:9.2f}{busy:9.2f}{busy / idle:10.2f}x{max(t['busy']) / idle:7.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "results": results,
                "env": args.env,
                "hogs": args.hogs,
                "cores": cores,
                "date": time.strftime("%Y-%m-%d %H:%M"),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
