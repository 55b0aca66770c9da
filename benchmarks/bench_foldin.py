"""Users folded in from their ratings against a model trained without them, against the same
users in a model trained with them: MovieLens 100K u1.

    python benchmarks/bench_foldin.py [--share 0.1] [--draws 3]

For each draw (seed 0, 1, ...), ``--share`` of u1.base's users are held out: one model is
trained on the rest and the held-out users are folded in from their u1.base ratings
(``recfactor.foldin``), another is trained on all of u1.base. Both are scored on those users'
u1.test ratings. svd and als at their defaults. Results go to benchmarks/results/foldin.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
ML100K = Path(os.environ.get("RECFACTOR_ML100K", ROOT.parent / "shared/data/ml-100k"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", type=float, default=0.1)
    parser.add_argument("--draws", type=int, default=3)
    args = parser.parse_args()
    import recfactor as rf
    from recfactor.foldin import fold_in

    names = ["user", "item", "rating", "t"]
    kinds = {"user": str, "item": str}
    base = pd.read_csv(ML100K / "u1.base", sep="\t", names=names, dtype=kinds)
    test = pd.read_csv(ML100K / "u1.test", sep="\t", names=names, dtype=kinds)
    everyone = rf.Dataset.from_frame(base[["user", "item", "rating"]])
    rows = []
    for draw in range(args.draws):
        users = base.user.unique()
        held = set(np.random.default_rng(draw).choice(users, round(args.share * len(users)),
                                                      replace=False))  # fmt: skip
        rest = rf.Dataset.from_frame(base[~base.user.isin(held)][["user", "item", "rating"]])
        history = rf.Dataset.from_frame(base[base.user.isin(held)][["user", "item", "rating"]])
        scored = test[test.user.isin(held)]
        for algo in ("svd", "als"):
            cls = {"svd": rf.SVD, "als": rf.ALS}[algo]
            trained = cls(seed=0).fit(everyone)
            without = cls(seed=0).fit(rest)
            started = time.perf_counter()
            folded, _, _ = fold_in(without, history)
            seconds = time.perf_counter() - started

            def rmse(model, scored=scored):
                estimate = model.predict(scored.user.to_numpy(), scored.item.to_numpy()).values
                return float(np.sqrt(np.mean((estimate - scored.rating.to_numpy()) ** 2)))

            row = {"draw": draw, "algo": algo, "users": len(held), "test_ratings": len(scored),
                   "trained_with": rmse(trained), "folded_in": rmse(folded),
                   "cold_fallback": rmse(without), "fold_seconds": seconds}  # fmt: skip
            row["difference"] = row["folded_in"] - row["trained_with"]
            rows.append(row)
            print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()},
                  flush=True)  # fmt: skip
    out = ROOT / "benchmarks/results/foldin.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "cores": os.cpu_count()}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
