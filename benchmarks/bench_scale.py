"""recfactor against LIBMF at MovieLens 10M and 25M scale, whole processes, in the same run.

    python benchmarks/bench_scale.py 10m [--repeats 3] [--data DIR] [--libmf DIR]
    python benchmarks/bench_scale.py 25m --repeats 2
    python benchmarks/bench_scale.py 1m --surprise PYTHON [--no-libmf]
    python benchmarks/bench_scale.py 10m --bpmf 20

The data comes from ``scale_data.py`` (fixed seeds; kept in ``--data``, default a folder under
the system's temporary directory, so that a second run skips generating it). Per repeat, in
turn: recfactor ``train`` on the CSV, then LIBMF ``mf-train`` on its own text format (A B A B);
after each train, the test RMSE (recfactor: ``predict`` of the test pairs, timed as a whole
process, which is also the batch-prediction figure; LIBMF: ``mf-predict``). Then ``predict
--user U --item I`` on the saved model, whole process, several times. Reports medians of wall
time, peak resident memory, and test RMSE.

Settings: 10m: ``-k 32 --epochs 20 --reg 0.05`` against ``-k 32 -t 20 -l2 0.05 -s 2``; 25m:
recfactor's ``--preset surprise`` against ``-k 100 -t 20 -l2 0.05 -s 2``; ``--ours "FLAGS"``
replaces recfactor's (``--ours ""``: its defaults), ``--theirs "FLAGS"`` LIBMF's; 1m:
recfactor's defaults against ``-k 100 -t 20 -l2 0.05 -s 2``. LIBMF is built from
``../shared/anchors/libmf-*.tar.gz`` with ``make`` in a temporary folder (or taken from
``--libmf``); without the archive or a compiler its rows are left out.
``--bpmf SWEEPS``: each repeat also trains bpmf (k 10, half the sweeps burn-in) and reports
its fit's seconds a sweep.
``--surprise PYTHON``: a Python with scikit-surprise installed (a separate venv: it is no
recfactor dependency) runs Surprise's default SVD as a whole process in each repeat, reading
the same CSV with pandas, fitting and predicting the test pairs, beside recfactor's train and
predict processes (their sum is the comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from processes import measured
from scale_data import SHAPES, write

ROOT = Path(__file__).resolve().parents[1]
ANCHORS = ROOT.parent / "shared/anchors"
SETTINGS = {
    # The same work as LIBMF's: 20 epochs at k 32, reg 0.05 (issue 26's comparison; before
    # it, Surprise's settings: `--preset surprise -k 32`, with `--ours`).
    "10m": (
        ["-k", "32", "--epochs", "20", "--reg", "0.05"],
        ["-k", "32", "-t", "20", "-l2", "0.05", "-s", "2"],
    ),
    "25m": (["--preset", "surprise"], ["-k", "100", "-t", "20", "-l2", "0.05", "-s", "2"]),
    "1m": ([], ["-k", "100", "-t", "20", "-l2", "0.05", "-s", "2"]),
}
# Surprise's whole job as one process: read, fit its default SVD, predict the test pairs.
SURPRISE_JOB = """
import sys
import numpy as np
import pandas as pd
from surprise import SVD, Dataset, Reader

train, test = (pd.read_csv(path, dtype={"user": str, "item": str}) for path in sys.argv[1:3])
low, high = train["rating"].min(), train["rating"].max()
data = Dataset.load_from_df(train[["user", "item", "rating"]], Reader(rating_scale=(low, high)))
model = SVD(random_state=0).fit(data.build_full_trainset())
predicted = np.array([model.predict(u, i).est for u, i in zip(test["user"], test["item"])])
print(float(np.sqrt(np.mean((predicted - test["rating"].to_numpy()) ** 2))))
"""


def run(command: list[str], cwd: Path, stdout=subprocess.DEVNULL) -> tuple[float, float, str]:
    """Wall seconds, peak resident MB (its own: see processes.py), and stdout (when captured)
    of one process."""
    return measured(command, cwd=cwd, env={**os.environ}, stdout=stdout)


def build_libmf(given: Path | None, tmp: Path) -> Path | None:
    if given is not None:
        return given
    archives = sorted(ANCHORS.glob("libmf-*.tar.gz"))
    if not archives or shutil.which("make") is None or shutil.which("g++") is None:
        print("LIBMF left out: no archive in ../shared/anchors or no compiler", file=sys.stderr)
        return None
    with tarfile.open(archives[0]) as archive:
        archive.extractall(tmp, filter="data")
    folder = next(p.parent for p in tmp.rglob("Makefile"))
    subprocess.run(["make", "-C", str(folder)], check=True, capture_output=True)
    return folder


def rmse_of(predictions_csv: str, truth: np.ndarray) -> float:
    # By name: batch predict keeps the input's own columns (the test file's ratings) before
    # its prediction, and reading the third column scored the ratings against themselves.
    lines = predictions_csv.splitlines()
    column = lines[0].split(",").index("prediction")
    values = np.loadtxt(lines[1:], delimiter=",", usecols=column)
    return float(np.sqrt(np.mean((values - truth) ** 2)))


def fit_seconds(summary_csv: str) -> float:
    """The fit's own seconds, from the summary line `train` prints."""
    lines = summary_csv.splitlines()
    return float(lines[1].split(",")[lines[0].split(",").index("fit_seconds")])


def bpmf_train(python: list[str], paths: dict, tmp: Path, sweeps: int) -> list[str]:
    """``train --algo bpmf`` at k 10 for ``sweeps`` sweeps (half of them burn-in)."""
    burn = sweeps // 2
    return [*python, "train", str(paths["train.csv"]), "-m", str(tmp / "bpmf.model"), "-q",
            "--algo", "bpmf", "-k", "10", "--epochs", str(sweeps), "--burn-in", str(burn),
            "--samples", str(max(1, (sweeps - burn) // 2))]  # fmt: skip


def updates_line(fits: list[float], n_train: int, flags: list[str]) -> str:
    """The fit alone: its median seconds and, where the epochs are set (a default fit also
    runs shorter fits to choose its penalty), rating updates a second a core."""
    line = f"fit alone (train's fit_seconds): median {statistics.median(fits):.2f} s"
    if "--epochs" not in flags:
        return line
    epochs = int(flags[flags.index("--epochs") + 1])
    cores = len(os.sched_getaffinity(0))
    rate = n_train * epochs / statistics.median(fits) / cores / 1e6
    return f"{line}, {rate:.0f}M rating updates a second a core ({cores} cores)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scale", choices=sorted(SETTINGS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--libmf", type=Path, help="a folder with mf-train and mf-predict")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--ours", help="recfactor train's flags instead of the scale's, quoted")
    parser.add_argument("--theirs", help="mf-train's flags instead of the scale's, quoted")
    parser.add_argument("--surprise", metavar="PYTHON", help="a Python with scikit-surprise")
    parser.add_argument("--no-libmf", action="store_true", help="leave LIBMF out")
    parser.add_argument("--bpmf", type=int, metavar="SWEEPS",
                        help="also train bpmf (k 10) for SWEEPS sweeps in each repeat")  # fmt: skip
    args = parser.parse_args()
    data = args.data or Path(tempfile.gettempdir()) / f"recfactor-scale-{args.scale}"
    out_path = args.out or ROOT / f"benchmarks/results/scale-{args.scale}.json"
    ours, theirs = SETTINGS[args.scale]
    ours = args.ours.split() if args.ours is not None else ours
    theirs = args.theirs.split() if args.theirs is not None else theirs
    paths = write(SHAPES[args.scale], data)
    truth = np.loadtxt(paths["test.txt"], usecols=2)
    python = [sys.executable, "-m", "recfactor"]
    times: dict[str, list[float]] = {}
    peaks: dict[str, list[float]] = {}
    rmse: dict[str, float] = {}
    fits: list[float] = []
    sweeps: list[float] = []  # bpmf's fit seconds a sweep

    def note(name: str, seconds: float, peak: float) -> None:
        times.setdefault(name, []).append(seconds)
        peaks.setdefault(name, []).append(peak)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        libmf = None if args.no_libmf else build_libmf(args.libmf, tmp)
        model = tmp / "r.model"
        # Its summary line on stdout (quiet or not) holds the fit's own seconds.
        train = [*python, "train", str(paths["train.csv"]), "-m", str(model), "-q", *ours]
        predict = [*python, "predict", str(paths["test.csv"]), "-m", str(model), "-q"]
        run(train, tmp)  # numba's cache for this checkout, outside the timings
        for _ in range(args.repeats):
            seconds, peak, out = run(train, tmp, stdout=subprocess.PIPE)
            note("recfactor train", seconds, peak)
            fits.append(fit_seconds(out))
            seconds, peak, out = run(predict, tmp, stdout=subprocess.PIPE)
            note("recfactor predict (test pairs)", seconds, peak)
            rmse["recfactor"] = rmse_of(out, truth)
            if args.bpmf:
                seconds, peak, out = run(bpmf_train(python, paths, tmp, args.bpmf), tmp,
                                         stdout=subprocess.PIPE)  # fmt: skip
                note(f"recfactor bpmf, {args.bpmf} sweeps", seconds, peak)
                sweeps.append(fit_seconds(out) / args.bpmf)
            if args.surprise:
                job = [args.surprise, "-c", SURPRISE_JOB, str(paths["train.csv"]),
                       str(paths["test.csv"])]  # fmt: skip
                seconds, peak, out = run(job, tmp, stdout=subprocess.PIPE)
                note("Surprise SVD train + predict", seconds, peak)
                rmse["Surprise"] = float(out.strip())
            if libmf is not None:
                lm_model = tmp / "libmf.model"
                lm_train = [str(libmf / "mf-train"), "--quiet", *theirs, str(paths["train.txt"])]
                note("LIBMF mf-train", *run([*lm_train, str(lm_model)], tmp)[:2])
                lm_predict = [str(libmf / "mf-predict"), "-e", "0", str(paths["test.txt"])]
                seconds, peak, out = run(
                    [*lm_predict, str(lm_model), str(tmp / "out.txt")], tmp, subprocess.PIPE
                )
                note("LIBMF mf-predict (test pairs)", seconds, peak)
                rmse["LIBMF"] = float(re.search(r"RMSE = ([0-9.]+)", out).group(1))
        first = open(paths["test.csv"]).readlines()[1].split(",")
        single = [*python, "predict", "--user", first[0], "--item", first[1], "-m", str(model)]
        for _ in range(max(5, args.repeats)):
            note("recfactor predict --user --item", *run(single, tmp)[:2])
    n_train = sum(1 for _ in open(paths["train.txt"]))
    print(
        f"{args.scale}: {n_train:,} training ratings, {len(truth):,} test pairs; "
        f"median of {args.repeats} alternating runs, {len(os.sched_getaffinity(0))} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    print(f"recfactor train {' '.join(ours) or '(defaults)'} | LIBMF {' '.join(theirs)}")
    print(f"{'':34}{'median s':>9}{'best s':>8}{'peak MB':>9}")
    for name in times:
        t, m = times[name], peaks[name]
        print(f"{name:34}{statistics.median(t):9.2f}{min(t):8.2f}{max(m):9.0f}")
    for name, value in rmse.items():
        print(f"test RMSE {name:24}{value:9.4f}")
    print(updates_line(fits, n_train, ours))
    if sweeps:
        print(
            f"bpmf k 10: median {statistics.median(sweeps):.3f} s a sweep (its fit's seconds "
            f"over {args.bpmf} sweeps, the setup included)"
        )
    if "LIBMF mf-train" in times:
        ratio = statistics.median(times["LIBMF mf-train"]) / statistics.median(
            times["recfactor train"]
        )
        print(f"train: LIBMF / recfactor = {ratio:.2f}x (above 1: recfactor faster)")
    if "Surprise SVD train + predict" in times:
        ours_total = [a + b for a, b in zip(times["recfactor train"],
                                            times["recfactor predict (test pairs)"])]  # fmt: skip
        times["recfactor train + predict"] = ours_total
        ratio = statistics.median(times["Surprise SVD train + predict"]) / statistics.median(
            ours_total
        )
        print(f"train + predict: Surprise / recfactor = {ratio:.2f}x "
              f"(recfactor {statistics.median(ours_total):.2f} s)")  # fmt: skip
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(
        json.dumps(
            {
                "scale": args.scale,
                "train_ratings": n_train,
                "test_pairs": len(truth),
                "settings": {"recfactor": ours, "LIBMF": theirs},
                "seconds": times,
                "fit_seconds": fits,
                "bpmf_seconds_a_sweep": sweeps,
                "peak_mb": peaks,
                "test_rmse": rmse,
                "cores": len(os.sched_getaffinity(0)),
                "date": time.strftime("%Y-%m-%d %H:%M"),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
