"""Accuracy and speed on MovieLens 100K splits u1..u5, beside Surprise in the same run.

    python benchmarks/bench_ml100k.py [--data DIR] [--folds 1,2,3,4,5] [--out FILE.json] [--bpmf]

Prints one row per algorithm (means over the folds) and writes every figure to JSON
(default benchmarks/results/ml100k.json). Surprise's BaselineOnly and SVD run when
scikit-surprise is importable (pip install scikit-surprise; not a recfactor dependency).
The one-off numba compile is timed separately and is not part of any fit time. Every fit
runs three times and the fastest counts, for recfactor and Surprise alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recfactor.io.ratings import read_ratings  # noqa: E402
from recfactor.models.baseline import Baseline  # noqa: E402
from recfactor.models.nmf import NMF  # noqa: E402
from recfactor.models.svd import SVD  # noqa: E402


def default_data() -> Path:
    return Path(os.environ.get("RECFACTOR_ML100K", ROOT.parent / "shared" / "data" / "ml-100k"))


def rmse_mae(truth: np.ndarray, estimate: np.ndarray) -> tuple[float, float]:
    err = np.asarray(estimate) - truth
    return float(np.sqrt(np.mean(err**2))), float(np.mean(np.abs(err)))


REPEATS = 3  # each fit runs this many times; the fastest counts, for every library alike


def run_recfactor(make, train, test) -> dict[str, float]:
    fits = []
    for _ in range(REPEATS):
        model = make()
        model.fit(train)
        fits.append(model.fit_seconds_)
    started = time.perf_counter()
    estimate = model.predict(test.user_ids[test.users], test.item_ids[test.items]).values
    predict_s = time.perf_counter() - started
    rmse, mae = rmse_mae(test.ratings, estimate)
    return {"rmse": rmse, "mae": mae, "fit_s": min(fits), "predict_s": predict_s}


def run_surprise(algo, data_dir: Path, fold: int) -> dict[str, float]:
    from surprise import Dataset, Reader
    from surprise.model_selection import PredefinedKFold

    reader = Reader(line_format="user item rating timestamp", sep="\t")
    files = [(str(data_dir / f"u{fold}.base"), str(data_dir / f"u{fold}.test"))]
    data = Dataset.load_from_folds(files, reader=reader)
    trainset, testset = next(PredefinedKFold().split(data))
    fits = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        algo.fit(trainset)
        fits.append(time.perf_counter() - started)
    fit_s = min(fits)
    started = time.perf_counter()
    predictions = algo.test(testset)
    predict_s = time.perf_counter() - started
    truth = np.array([p.r_ui for p in predictions])
    rmse, mae = rmse_mae(truth, np.array([p.est for p in predictions]))
    return {"rmse": rmse, "mae": mae, "fit_s": fit_s, "predict_s": predict_s}


def biased_nmf_seeds(data_dir: Path, seeds=range(10)) -> dict[str, list[float]]:
    """Test RMSE on u1 of biased NMF under seeds 0..9 (Surprise's alongside when present)."""
    train = read_ratings(data_dir / "u1.base")
    test = read_ratings(data_dir / "u1.test")
    out = {"recfactor nmf biased": []}
    for seed in seeds:
        out["recfactor nmf biased"].append(
            run_recfactor(lambda seed=seed: NMF(bias=True, seed=seed), train, test)["rmse"]
        )
    try:
        import surprise
    except ImportError:
        return out
    out["surprise NMF biased"] = [
        run_surprise(surprise.NMF(biased=True, random_state=seed), data_dir, 1)["rmse"]
        for seed in seeds
    ]
    return out


def predict_process_seconds(data_dir: Path, workdir: Path, repeats: int = 5) -> float:
    """Wall time of the whole `recfactor predict --user U --item I` process (best of N)."""
    model = workdir / "ml100k.model"
    cli = [sys.executable, "-m", "recfactor"]
    subprocess.run(
        [*cli, "train", str(data_dir / "u1.base"), "-m", str(model), "-q"],
        check=True,
        capture_output=True,
    )
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(
            [*cli, "predict", "-m", str(model), "--user", "1", "--item", "20"],
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--folds", default="1,2,3,4,5")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ml100k.json")
    parser.add_argument("--bpmf", action="store_true", help="add bpmf at its defaults")
    args = parser.parse_args()
    if not (args.data / "u1.base").exists():
        sys.exit(f"MovieLens 100K not found at {args.data}; set RECFACTOR_ML100K or --data")
    folds = [int(f) for f in args.folds.split(",")]

    from recfactor.kernels.sgd import warm_up

    started = time.perf_counter()
    warm_up()
    compile_s = time.perf_counter() - started

    algos = {
        "recfactor baseline": lambda tr, te, f: run_recfactor(Baseline, tr, te),
        "recfactor svd": lambda tr, te, f: run_recfactor(
            lambda: SVD(seed=f, preset="surprise"), tr, te
        ),
        "recfactor nmf": lambda tr, te, f: run_recfactor(lambda: NMF(seed=f), tr, te),
    }
    if args.bpmf:  # recfactor's own most accurate model, at its defaults
        from recfactor.models.bpmf import BPMF

        algos["recfactor bpmf"] = lambda tr, te, f: run_recfactor(lambda: BPMF(seed=f), tr, te)
    try:
        import surprise

        algos["surprise BaselineOnly"] = lambda tr, te, f: run_surprise(
            surprise.BaselineOnly(verbose=False), args.data, f
        )
        algos["surprise SVD"] = lambda tr, te, f: run_surprise(
            surprise.SVD(random_state=f), args.data, f
        )
        algos["surprise NMF"] = lambda tr, te, f: run_surprise(
            surprise.NMF(random_state=f), args.data, f
        )
    except ImportError:
        print("scikit-surprise not importable: comparing recfactor only", file=sys.stderr)

    results: dict[str, list[dict[str, float]]] = {name: [] for name in algos}
    for fold in folds:
        train = read_ratings(args.data / f"u{fold}.base")
        test = read_ratings(args.data / f"u{fold}.test")
        for name, run in algos.items():
            results[name].append({"fold": fold, **run(train, test, fold)})

    means = {
        name: {
            k: float(np.mean([r[k] for r in runs])) for k in ("rmse", "mae", "fit_s", "predict_s")
        }
        for name, runs in results.items()
    }
    print(f"MovieLens 100K, folds u{args.folds}: means over folds")
    print(f"{'algorithm':24} {'RMSE':>7} {'MAE':>7} {'fit s':>8} {'predict s':>10}")
    for name, m in means.items():
        print(
            f"{name:24} {m['rmse']:7.4f} {m['mae']:7.4f} {m['fit_s']:8.4f} {m['predict_s']:10.4f}"
        )
    ratios = {}
    for ours, theirs in (
        ("recfactor svd", "surprise SVD"),
        ("recfactor baseline", "surprise BaselineOnly"),
        ("recfactor nmf", "surprise NMF"),
    ):
        if theirs in means:
            ratios[ours] = {
                "rmse_difference": means[ours]["rmse"] - means[theirs]["rmse"],
                "fit_speedup": means[theirs]["fit_s"] / means[ours]["fit_s"],
            }
            print(
                f"{ours} vs {theirs}: RMSE {ratios[ours]['rmse_difference']:+.4f}, "
                f"fit {ratios[ours]['fit_speedup']:.1f}x faster"
            )
    print(f"numba compile or cache load (one-off, not in fit times): {compile_s:.3f} s")
    biased = biased_nmf_seeds(args.data)
    for name, values in biased.items():
        print(
            f"{name}, u1, seeds 0-9: RMSE min {min(values):.4f} max {max(values):.4f} "
            f"spread {max(values) - min(values):.4f}"
        )
    predict_s = predict_process_seconds(args.data, args.out.parent.resolve())
    print(f"recfactor predict --user U --item I, whole process (best of 5): {predict_s:.3f} s")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": {
                    "cpu_count": os.cpu_count(),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                },
                "date": time.strftime("%Y-%m-%d"),
                "folds": folds,
                "runs": results,
                "means": means,
                "ratios": ratios,
                "numba_compile_s": compile_s,
                "biased_nmf_u1_seeds": biased,
                "predict_process_s": predict_s,
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
