"""Default svd and ALS against the bias baseline and the peers' defaults (``--preset``) on
rating sets of several kinds: five folds each (split seed 0, model seed 0).

    python benchmarks/bench_defaults.py

Sets: MovieLens 100K (u.data, when ../shared/data has it), the sample ratings, and synthetic
sets from benchmarks/scale_data.py's generator (lognormal activity, Zipf popularity, biases,
a rank-10 taste, noise): a dense-ish half-star set of 300,000 ratings (5,000 x 2,000), the same
on 1-10 and on -10..10, and a sparse one of MovieLens-latest-small's shape (610 users, 9,700
items, 100,000 half-star ratings). Prints each model's mean RMSE and on how many folds it beat
the baseline; writes benchmarks/results/defaults.json.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ML100K = Path(os.environ.get("RECFACTOR_ML100K", ROOT.parent / "shared/data/ml-100k"))
MODELS = {
    "svd": ("svd", {}),
    "svd --preset surprise": ("svd", {"preset": "surprise"}),
    "als": ("als", {}),
    "als --preset spark": ("als", {"preset": "spark"}),
}


def synthetic(users: int, items: int, n: int, seed: int):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import scale_data

    u, i, r, _ = scale_data.draw(scale_data.Shape(users, items, n, 0.0, True, seed))
    return u, i, r


def sets():
    import recfactor as rf

    def dataset(u, i, r):
        return rf.Dataset.from_arrays(u.astype(str), i.astype(str), r.astype(float))

    if (ML100K / "u.data").exists():
        yield "MovieLens 100K", rf.read_ratings(ML100K / "u.data")
    yield "sample ratings", rf.read_ratings(ROOT / "sample_data/ratings.csv")
    u, i, r = synthetic(5000, 2000, 300_000, 3)
    yield "half stars", dataset(u, i, r)
    yield "1-10", dataset(u, i, r * 2)
    yield "-10..10", dataset(u, i, (r - 2.75) * 4)
    yield "sparse half stars", dataset(*synthetic(610, 9700, 100_000, 5))


def fold_rmse(data, algo: str, settings: dict) -> np.ndarray:
    from recfactor.evaluation import AlgoSpec, EvalConfig, evaluate
    from recfactor.models import model_class

    params = dict(settings)
    preset = params.pop("preset", None)
    if preset:
        params = {**model_class(algo).params_class.preset(preset), **params}
    config = EvalConfig(algos=[AlgoSpec(algo, params)], seeds=1, folds=5, metrics=["rmse"])
    return np.array([run["metrics"]["rmse"] for run in evaluate(data, config).runs])


def main() -> None:
    out = []
    for name, data in sets():
        base = fold_rmse(data, "baseline", {})
        row = {"set": name, "ratings": data.n_ratings, "baseline": float(base.mean())}
        for label, (algo, settings) in MODELS.items():
            rmse = fold_rmse(data, algo, settings)
            row[label] = float(rmse.mean())
            row[f"{label} wins"] = int((rmse < base).sum())
        out.append(row)
        print(" | ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                         for k, v in row.items()), flush=True)  # fmt: skip
    path = ROOT / "benchmarks/results/defaults.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"rows": out, "cores": os.cpu_count()}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
