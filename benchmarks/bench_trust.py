"""How steady each user's top 10 is across seeds on MovieLens 100K: one model against a seed
ensemble against bpmf, with their test RMSE.

    python benchmarks/bench_trust.py [--folds 1] [--algos svd,als] [--ensemble 5] [--bfm]

Per fold u{f}.base: each algorithm fitted under seeds 0 and 1 (single models), as two
ensembles of N with no member in common (seeds 0..N-1 and N..2N-1), and bpmf under seeds 0
and 1; the top 10 unrated items of every user compared between the two (mean Jaccard over the
users, and the share of a list's items the other holds; what two random lists would share
beside it), and each model's RMSE on u{f}.test.
bpmf's prediction intervals (``predict --interval``) at 0.5, 0.8 and 0.9: the share of
u{f}.test's ratings inside them (``--bfm``: bfm's too, with the users' and items'
attributes). Results go to benchmarks/results/bench_trust.json.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ML100K = Path(os.environ.get("RECFACTOR_ML100K", ROOT.parent / "shared/data/ml-100k"))
RESULTS = ROOT / "benchmarks" / "results" / "bench_trust.json"


def _pair(models: list, users: np.ndarray, test) -> dict[str, float]:
    """Two models' mean top-10 Jaccard over ``users``, the mean share of a list's 10 items the
    other lists too, and their mean RMSE on ``test``."""
    from recfactor.evaluation.lists import jaccard

    lists = [m.recommend_index(users, 10)[0] for m in models]
    errors = []
    for m in models:
        pred = m.predict(test.user_ids[test.users], test.item_ids[test.items]).values
        errors.append(float(np.sqrt(np.mean((pred - test.ratings) ** 2))))
    jac = jaccard(*lists)
    shared = 2 * jac / (1 + jac)  # |A and B| / 10 for two full lists of 10
    return {"jaccard": float(jac.mean()), "shared": float(shared.mean()),
            "rmse": float(np.mean(errors))}  # fmt: skip


def _coverage(model, test) -> dict[str, float]:
    """The share of ``test``'s ratings inside the model's interval at each level."""
    from recfactor.intervals import intervals

    u = model.user_index(test.user_ids)[test.users]
    i = model.item_index(test.item_ids)[test.items]
    center = model.predict_index(u, i)
    found = {}
    for level in LEVELS:
        low, high = intervals(model, u, i, center, level)
        found[str(level)] = float(((test.ratings >= low) & (test.ratings <= high)).mean())
    return found


# The interval levels whose coverage is measured.
LEVELS = (0.5, 0.8, 0.9)


def main() -> None:
    import recfactor as rf
    from recfactor.evaluation.lists import chance_levels
    from recfactor.io.ratings import read_ratings
    from recfactor.models import model_class

    parser = argparse.ArgumentParser()
    parser.add_argument("--folds", default="1")
    parser.add_argument("--algos", default="svd,als")
    parser.add_argument("--ensemble", type=int, default=5)
    parser.add_argument(
        "--bfm",
        action="store_true",
        help="also bfm's interval coverage (u.user and u.item as attributes)",
    )
    args = parser.parse_args()
    n = args.ensemble
    found: dict[str, dict] = {}
    for fold in args.folds.split(","):
        train = read_ratings(ML100K / f"u{fold}.base")
        test = read_ratings(ML100K / f"u{fold}.test")
        users = np.arange(train.n_users)
        seen = np.bincount(train.users, minlength=train.n_users)
        chance = chance_levels(train.n_items - seen, 10)[0]

        rows = {}
        for algo in args.algos.split(","):
            cls = model_class(algo)
            rows[algo] = _pair([cls(seed=s).fit(train) for s in (0, 1)], users, test)
            pair = [cls(seed=s, ensemble=n).fit(train) for s in (0, n)]
            rows[f"{algo} x{n}"] = _pair(pair, users, test)
        bayesian = [rf.BPMF(seed=s).fit(train) for s in (0, 1)]
        rows["bpmf"] = _pair(bayesian, users, test)
        rows["bpmf"]["coverage"] = _coverage(bayesian[0], test)
        for name, row in rows.items():
            print(f"u{fold} {name:8s} top-10 shared {row['shared']:.3f}, Jaccard "
                  f"{row['jaccard']:.3f} (chance {chance:.4f}) rmse {row['rmse']:.4f}",
                  flush=True)  # fmt: skip
        cover = rows["bpmf"]["coverage"]
        print(f"u{fold} bpmf intervals cover " + ", ".join(f"{v:.3f} at {k}" for k, v in
                                                           cover.items()), flush=True)  # fmt: skip
        if args.bfm:
            from recfactor.io.features import Side, read_features

            side = Side(read_features(ML100K / "u.user", "user"),
                        read_features(ML100K / "u.item", "item"))  # fmt: skip
            cover = _coverage(rf.BFM().fit(train.with_side(side)), test)
            rows["bfm"] = {"coverage": cover}
            said = ", ".join(f"{v:.3f} at {k}" for k, v in cover.items())
            print(f"u{fold} bfm intervals cover {said}", flush=True)
        found[fold] = {"chance": chance, "rows": rows}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"args": vars(args), "folds": found}, indent=1))


if __name__ == "__main__":
    main()
