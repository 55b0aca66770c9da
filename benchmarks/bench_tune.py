"""Tuned models on MovieLens 100K, the test folds touched once; SVD++ against Surprise's; and
successive halving against the full search.

    python benchmarks/bench_tune.py [--algos svd,svdpp,als,bpmf] [--trials 40] [--folds 1,2,3,4,5]
        [--inner-folds 3] [--surprise PYTHON [--grid-search]] [--halving-check]

For each algorithm and each fold u1..u5, ``tuning.search`` tunes on u{f}.base alone
(``--inner-folds``-fold cross-validation inside it, split seed 0, search seed 0, successive
halving); the best setting is refitted on u{f}.base and scored once on u{f}.test. Printed: each
algorithm's mean test RMSE over the folds, and the settings chosen. ``--surprise PYTHON`` runs
Surprise's SVD and SVDpp at their defaults on the same folds in that interpreter (a venv with
scikit-surprise), alternating with recfactor's svdpp (A B per fold), for fit time and RMSE;
with ``--grid-search``, Surprise's GridSearchCV over SVD (27 settings) against recfactor's svd
tuned with 27 trials, A B per fold, each scored once on the test file.
``--halving-check`` tunes svd on u1.base with and without successive halving from the same
trials, and compares the best cross-validated RMSE and the wall time. Results go to
benchmarks/results/tune.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ML100K = Path(os.environ.get("RECFACTOR_ML100K", ROOT.parent / "shared/data/ml-100k"))

SPACES = {
    "svdpp": ["k=8..128:log2", "reg=0.005..0.2:log", "lr=0.002..0.015:log", "epochs=20..100"],
    "als": ["k=8..128:log2", "reg=0.02..0.5:log", "epochs=5..30"],
    "bpmf": ["k=5..40", "alpha=1..4:log"],
}
FIXED = {"als": {"bias": True}}

SURPRISE = """
import json, sys, time
from surprise import SVD, SVDpp, Dataset, Reader, accuracy
from surprise.model_selection import PredefinedKFold
root, fold, name = sys.argv[1], sys.argv[2], sys.argv[3]
reader = Reader(line_format="user item rating timestamp", sep="\\t", rating_scale=(1, 5))
data = Dataset.load_from_folds([(f"{root}/u{fold}.base", f"{root}/u{fold}.test")], reader)
train, test = next(PredefinedKFold().split(data))
algo = {"SVD": SVD, "SVDpp": SVDpp}[name](random_state=0)
started = time.perf_counter()
algo.fit(train)
seconds = time.perf_counter() - started
print(json.dumps({"rmse": accuracy.rmse(algo.test(test), verbose=False), "seconds": seconds}))
"""


# Surprise's GridSearchCV over its SVD: 27 settings (3-fold on the base file, refitted on all of
# it, scored once on the test file), against recfactor's svd tuned with 27 trials.
SURPRISE_GRID = """
import json, sys, time
from surprise import SVD, Dataset, Reader, accuracy
from surprise.model_selection import GridSearchCV, PredefinedKFold
root, fold = sys.argv[1], sys.argv[2]
reader = Reader(line_format="user item rating timestamp", sep="\\t", rating_scale=(1, 5))
base = Dataset.load_from_file(f"{root}/u{fold}.base", reader)
grid = {"n_epochs": [20, 50, 100], "lr_all": [0.002, 0.005, 0.01], "reg_all": [0.02, 0.05, 0.1]}
started = time.perf_counter()
search = GridSearchCV(SVD, grid, measures=["rmse"], cv=3, n_jobs=2, joblib_verbose=0)
search.fit(base)
best = search.best_params["rmse"]
algo = SVD(random_state=0, **best)
algo.fit(base.build_full_trainset())
seconds = time.perf_counter() - started
folds = Dataset.load_from_folds([(f"{root}/u{fold}.base", f"{root}/u{fold}.test")], reader)
_, test = next(PredefinedKFold().split(folds))
print(json.dumps({"rmse": accuracy.rmse(algo.test(test), verbose=False), "seconds": seconds,
                  "best": best, "cv_rmse": search.best_score["rmse"]}))
"""
GRID_TRIALS = 27


def rmse(model, test) -> float:
    estimate = model.predict(test.user_ids[test.users], test.item_ids[test.items]).values
    return float(np.sqrt(np.mean((estimate - test.ratings) ** 2)))


def tuned(algo: str, train, trials: int, inner: int, halving: bool = True):
    from recfactor.evaluation import tuning

    # svd: the space `recfactor tune` searches by default (its penalty chosen by each trial's
    # fit, as the default fit's is); the others: the spaces of the tables in BENCHMARKS.md.
    texts = SPACES.get(algo) or tuning.default_space(algo, train.feedback)
    dims = tuning.parse_space(texts, algo)
    started = time.perf_counter()
    found = tuning.search(train, algo, dims, fixed=FIXED.get(algo), trials=trials, seed=0,
                          halving=halving, split={"folds": inner}, jobs=2)  # fmt: skip
    return found, time.perf_counter() - started


def fit(algo: str, params: dict, train):
    from recfactor.models import model_class

    cls = model_class(algo)
    started = time.perf_counter()
    model = cls(**params).fit(train)
    return model, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", default="svd,svdpp,als")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--folds", default="1,2,3,4,5")
    parser.add_argument("--inner-folds", type=int, default=3)
    parser.add_argument("--surprise", default=None, metavar="PYTHON")
    parser.add_argument("--halving-check", action="store_true")
    parser.add_argument("--grid-search", action="store_true",
                        help="with --surprise: its GridSearchCV (27 settings) against "
                        "recfactor's svd tuned with 27 trials, A B per fold")  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/tune.json")
    args = parser.parse_args()
    import recfactor as rf

    folds = [f for f in args.folds.split(",") if f]
    data = {f: (rf.read_ratings(ML100K / f"u{f}.base"), rf.read_ratings(ML100K / f"u{f}.test"))
            for f in folds}  # fmt: skip
    results: dict = {"tuned": [], "surprise": [], "halving": None, "cores": os.cpu_count()}
    for algo in [a for a in args.algos.split(",") if a]:
        for f in folds:
            train, test = data[f]
            found, seconds = tuned(algo, train, args.trials, args.inner_folds)
            model, _ = fit(algo, found.best, train)
            row = {"algo": algo, "fold": f, "best": found.best, "cv_rmse": found.best_score,
                   "test_rmse": rmse(model, test), "tune_seconds": seconds}  # fmt: skip
            results["tuned"].append(row)
            print(row, flush=True)
    if args.surprise:
        results["surprise"] = surprise_rows(args.surprise, folds, data)
    if args.surprise and args.grid_search:
        results["grid"] = grid_rows(args.surprise, folds, data, args.inner_folds)
    if args.halving_check:
        results["halving"] = halving_check(data[folds[0]][0], args.trials, args.inner_folds)
    summarise(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {args.out}")


def surprise_rows(python: str, folds: list[str], data: dict) -> list[dict]:
    """Surprise's SVD and SVDpp at their defaults, and recfactor's svdpp at the same, A B."""
    from recfactor.models.svdpp import SVDpp

    rows = []
    for f in folds:
        train, test = data[f]
        SVDpp(epochs=1).fit(train)  # the kernels loaded once, outside the timing
        for name in ("SVDpp", "svdpp", "SVD"):
            if name == "svdpp":
                model, seconds = fit("svdpp", {"preset": "surprise"}, train)
                row = {"system": "recfactor svdpp", "fold": f, "rmse": rmse(model, test),
                       "seconds": seconds}  # fmt: skip
            else:
                out = subprocess.run([python, "-c", SURPRISE, str(ML100K), f, name],
                                     capture_output=True, text=True, check=True)  # fmt: skip
                row = {"system": f"Surprise {name}", "fold": f, **json.loads(out.stdout)}
            rows.append(row)
            print(row, flush=True)
    return rows


def grid_rows(python: str, folds: list[str], data: dict, inner: int) -> list[dict]:
    """Surprise's GridSearchCV over SVD and recfactor's tune of svd on the same budget (27
    settings, 3-fold inside each base file), A B per fold; both scored once on the test file."""
    rows = []
    for f in folds:
        train, test = data[f]
        out = subprocess.run([python, "-c", SURPRISE_GRID, str(ML100K), f], capture_output=True,
                             text=True, check=True)  # fmt: skip
        rows.append({"system": "Surprise GridSearchCV SVD", "fold": f, **json.loads(out.stdout)})
        print(rows[-1], flush=True)
        started = time.perf_counter()
        found, _ = tuned("svd", train, GRID_TRIALS, inner)
        model, _ = fit("svd", found.best, train)
        rows.append({"system": "recfactor tune svd", "fold": f, "rmse": rmse(model, test),
                     "seconds": time.perf_counter() - started, "best": found.best,
                     "cv_rmse": found.best_score})  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def halving_check(train, trials: int, inner: int) -> dict:
    """svd tuned from the same trials with and without successive halving, A B."""
    out = {}
    for halving in (True, False):
        found, seconds = tuned("svd", train, trials, inner, halving=halving)
        out["halving" if halving else "full"] = {"best": found.best, "cv_rmse": found.best_score,
                                                 "seconds": seconds}  # fmt: skip
        print(out, flush=True)
    return out


def summarise(results: dict) -> None:
    by_algo: dict[str, list[float]] = {}
    for row in results["tuned"]:
        by_algo.setdefault(row["algo"], []).append(row["test_rmse"])
    print("\ntuned on the base files, scored once on the test files (mean over folds)")
    for algo, values in by_algo.items():
        print(f"  {algo:6s} {np.mean(values):.4f}  folds {[round(v, 4) for v in values]}")
    systems: dict[str, list[dict]] = {}
    for row in results["surprise"] + results.get("grid", []):
        systems.setdefault(row["system"], []).append(row)
    for system, rows in systems.items():
        print(f"  {system:16s} rmse {np.mean([r['rmse'] for r in rows]):.4f}  median fit "
              f"{statistics.median(r['seconds'] for r in rows):.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
