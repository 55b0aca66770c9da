"""bfm on MovieLens 100K u1..u5 with more and more of what users know, beside myFM with the same
features in the same run; and two cold-start protocols.

    python benchmarks/bench_side.py [--folds 1,2,3,4,5] [--rows a,b,d] [--myfm PYTHON]
        [--epochs 200] [--burn-in 50] [--rank 16] [--likelihood auto] [--cold] [--myfm-ordinal]

Rows: (a) user and item IDs; (b) + the implicit features (each user's rated items and each
item's raters, 1/sqrt(n), from the training ratings only); (d) + the users' and items'
attributes (u.user, u.item, encoded by recfactor.io.features). Each row is fitted by
recfactor's bfm and, with ``--myfm PYTHON`` (an interpreter with myfm installed, never a
recfactor dependency), by myFM's MyFMRegressor with the same feature matrices as relation
blocks, the same rank (``--rank``, bfm's default 16), sweeps and kept draws, alternating
recfactor and myFM fold by fold; bfm with ``--likelihood`` (its default: ordinal on stars).
``--myfm-ordinal`` fits myFM's ordered probit instead (its expected rating scored), to measure
what the ordinal likelihood buys. Printed: each row's mean test RMSE and MAE over the folds and
the fit seconds, per tool.

``--cold``: 10% of the users (then of the items) are held out of u1.base entirely; their u1.test
ratings are predicted from their attributes alone, against the fallback used before (the
baseline: the item's bias for a new user), and recommend's ndcg@10 from attributes against
popularity on the held-out users.

Results go to benchmarks/results/bench_side.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ML100K = Path(os.environ.get("RECFACTOR_ML100K", ROOT.parent / "shared/data/ml-100k"))
RESULTS = ROOT / "benchmarks" / "results" / "bench_side.json"


def _myfm_worker(path: str) -> None:
    """Run in the peer's interpreter: fit MyFMRegressor on the blocks in ``path`` (npz)."""
    import myfm
    import scipy.sparse as sp
    from myfm import RelationBlock

    d = np.load(path, allow_pickle=False)

    def block(prefix: str) -> sp.csr_matrix:
        return sp.csr_matrix((d[f"{prefix}_data"], d[f"{prefix}_indices"], d[f"{prefix}_indptr"]),
                             shape=tuple(d[f"{prefix}_shape"]))  # fmt: skip

    xu, xi = block("xu"), block("xi")
    n_train = len(d["train_y"])
    ordinal = bool(d["ordinal"])
    kind = myfm.MyFMOrderedProbit if ordinal else myfm.MyFMRegressor
    fm = kind(rank=int(d["rank"]), random_seed=int(d["seed"]))
    # The ordered probit takes classes 0..K-1; its prediction is the expected rating.
    levels = np.unique(d["train_y"])
    y = np.searchsorted(levels, d["train_y"]) if ordinal else d["train_y"]
    started = time.perf_counter()
    fm.fit(sp.csr_matrix((n_train, 0)), y,
           X_rel=[RelationBlock(d["train_u"], xu), RelationBlock(d["train_i"], xi)],
           n_iter=int(d["epochs"]), n_kept_samples=int(d["epochs"] - d["burn_in"]),
           group_shapes=[int(g) for g in d["groups"]])  # fmt: skip
    seconds = time.perf_counter() - started
    test_x = sp.csr_matrix((len(d["test_u"]), 0))
    relations = [RelationBlock(d["test_u"], xu), RelationBlock(d["test_i"], xi)]
    if ordinal:
        pred = fm.predict_proba(test_x, X_rel=relations) @ levels
    else:
        pred = fm.predict(test_x, X_rel=relations)
    np.save(path + ".pred.npy", np.clip(pred, 1, 5))
    Path(path + ".seconds").write_text(str(seconds))


def _blocks(train, implicit: bool, side):
    """The user and item blocks (ID, implicit, attributes) and the group sizes, as bfm builds
    them (the same matrices go to myFM)."""
    from recfactor.models.bfm import feature_blocks

    out, groups = [], []
    for own, other, n_own, n_other, ids, what in (
        (train.users, train.items, train.n_users, train.n_items, train.user_ids, "user"),
        (train.items, train.users, train.n_items, train.n_users, train.item_ids, "item"),
    ):
        features = None if side is None else getattr(side, what)
        attributes = None if features is None else (features.rows_for(ids),
                                                     features.encoding.groups())  # fmt: skip
        x, group = feature_blocks(own, other, n_own, n_other, implicit, attributes)
        out.append(x)
        groups += np.bincount(group).tolist()
    return out[0], out[1], groups


def _run_myfm(python, ordinal, train, test, implicit, side, epochs, burn_in, rank, likelihood,
              seed=0):  # fmt: skip
    import scipy.sparse as sp

    xu, xi, groups = _blocks(train, implicit, side)
    u = test.positions_in(train)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "blocks.npz")
        # An ID the training data lacks has no features: an empty last row of its block.
        xu, xi = (sp.vstack([m, sp.csr_matrix((1, m.shape[1]))], format="csr") for m in (xu, xi))
        test_u, test_i = (
            np.where(u[0] < 0, xu.shape[0] - 1, u[0]),
            np.where(u[1] < 0, xi.shape[0] - 1, u[1]),
        )
        arrays = {"train_y": train.ratings, "train_u": train.users, "train_i": train.items,
                  "test_u": test_u, "test_i": test_i,
                  "groups": np.array(groups), "rank": rank, "seed": seed, "epochs": epochs,
                  "burn_in": burn_in, "ordinal": ordinal}  # fmt: skip
        for name, m in (("xu", xu), ("xi", xi)):
            arrays.update({f"{name}_data": m.data, f"{name}_indices": m.indices,
                           f"{name}_indptr": m.indptr,
                           f"{name}_shape": np.array(m.shape)})  # fmt: skip
        np.savez(path, **arrays)
        # myFM draws a progress bar on stderr; the table here says what it found.
        subprocess.run([python, __file__, "--myfm-worker", path], check=True,
                       stderr=subprocess.DEVNULL)  # fmt: skip
        pred = np.load(path + ".pred.npy")
        seconds = float(Path(path + ".seconds").read_text())
    return pred, seconds


def _run_bfm(train, test, implicit, side, epochs, burn_in, rank, likelihood, seed=0):
    import recfactor as rf

    model = rf.BFM(implicit=implicit, epochs=epochs, burn_in=burn_in, factors=rank,
                   likelihood=likelihood, seed=seed)  # fmt: skip
    started = time.perf_counter()
    model.fit(train)
    seconds = time.perf_counter() - started
    pred = model.predict(test.user_ids[test.users], test.item_ids[test.items]).values
    return pred, seconds


def _cold(fold: str, side, epochs: int, burn_in: int) -> dict[str, dict[str, float]]:
    """10% of the users (then of the items) of u{fold}.base held out entirely: their u{fold}.test
    ratings predicted by today's fallback (the default svd's, for an unknown side), and by bfm
    from their attributes; for the users also recommend's ndcg@10 (test items rated 4 or more
    are relevant, training items excluded) from attributes against popularity."""
    import recfactor as rf
    from recfactor import coldstart
    from recfactor.io.ratings import read_ratings
    from recfactor.lists import recommendations

    train = read_ratings(ML100K / f"u{fold}.base")
    test = read_ratings(ML100K / f"u{fold}.test")
    rng = np.random.default_rng(int(fold))
    out = {}
    for what in ("user", "item"):
        ids = train.user_ids if what == "user" else train.item_ids
        codes = train.users if what == "user" else train.items
        held = set(rng.choice(ids, size=len(ids) // 10, replace=False).tolist())
        kept = train.subset(~np.isin(ids[codes], list(held))).compact()
        test_ids = (test.user_ids if what == "user" else test.item_ids)[
            test.users if what == "user" else test.items]  # fmt: skip
        mask = np.isin(test_ids, list(held))
        tu, ti = test.user_ids[test.users][mask], test.item_ids[test.items][mask]
        truth = test.ratings[mask]
        today = rf.SVD().fit(kept).predict(tu, ti).values
        model = rf.BFM(epochs=epochs, burn_in=burn_in).fit(kept.with_side(side))
        names = sorted(held)
        features = side.user if what == "user" else side.item
        place = coldstart.place_users if what == "user" else coldstart.place_items
        placed, _ = place(model, names, features.rows_for(names))
        found = {"today": _scores(today, truth)["rmse"],
                 "bfm_baseline": _scores(model.predict(tu, ti).values, truth)["rmse"],
                 "attributes": _scores(placed.predict(tu, ti).values, truth)["rmse"]}  # fmt: skip
        if what == "user":
            found.update(_ndcg(placed, model, names, tu, ti, truth, recommendations))
        out[what] = found
    return out


def ndcg_at_k(listed: list[str], relevant: set[str], k: int) -> float:
    gains = [1.0 / np.log2(r + 2) for r, item in enumerate(listed[:k]) if item in relevant]
    ideal = sum(1.0 / np.log2(r + 2) for r in range(min(len(relevant), k)))
    return float(sum(gains) / ideal)


def _ndcg(placed, model, users, tu, ti, truth, recommendations) -> dict[str, float]:
    """Mean ndcg@10 over the held-out users with a relevant test item: recommend's list from
    their attributes, and the most popular items (the placed model's lists for users it does
    not know)."""
    scores = {"ndcg_attributes": [], "ndcg_popularity": []}
    for user in users:
        relevant = set(ti[(tu == user) & (truth >= 4)].tolist())
        if not relevant:
            continue
        for key, source in (("ndcg_attributes", placed), ("ndcg_popularity", model)):
            listed = [r["item"] for r in recommendations(source, [user], 10, min_ratings=0)]
            scores[key].append(ndcg_at_k(listed, relevant, 10))
    return {k: float(np.mean(v)) for k, v in scores.items()}


def _scores(pred, truth) -> dict[str, float]:
    return {"rmse": float(np.sqrt(np.mean((pred - truth) ** 2))),
            "mae": float(np.mean(np.abs(pred - truth)))}  # fmt: skip


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--myfm-worker":
        _myfm_worker(sys.argv[2])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--folds", default="1,2,3,4,5")
    parser.add_argument("--rows", default="a,b,d")
    parser.add_argument("--myfm", default=None)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--burn-in", type=int, default=50)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--likelihood", default="auto", choices=("auto", "gaussian", "ordinal"))
    parser.add_argument("--cold", action="store_true")
    parser.add_argument(
        "--myfm-ordinal",
        action="store_true",
        help="myFM's ordered probit (MyFMOrderedProbit) instead of its regressor",
    )
    args = parser.parse_args()
    from recfactor.io.features import Side, read_features
    from recfactor.io.ratings import read_ratings

    side = Side(read_features(ML100K / "u.user", "user"), read_features(ML100K / "u.item", "item"))
    if args.cold:
        found = {f: _cold(f, side, args.epochs, args.burn_in) for f in args.folds.split(",")}
        for fold, sides in found.items():
            for what, row in sides.items():
                print(f"u{fold} {what}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()))
        for what in ("user", "item"):
            keys = found[next(iter(found))][what]
            means = {k: np.mean([found[f][what][k] for f in found]) for k in keys}
            print(f"mean {what}: " + ", ".join(f"{k} {v:.4f}" for k, v in means.items()))
        RESULTS.with_name("bench_side_cold.json").write_text(json.dumps(found, indent=1))
        return
    rows = {"a": (False, None), "b": (True, None), "d": (True, side)}
    results: dict[str, dict] = {}
    for fold in args.folds.split(","):
        train = read_ratings(ML100K / f"u{fold}.base")
        test = read_ratings(ML100K / f"u{fold}.test")
        for row in args.rows.split(","):
            implicit, attrs = rows[row]
            train = train.with_side(attrs)
            same = (train, test, implicit, attrs, args.epochs, args.burn_in, args.rank,
                    args.likelihood)  # fmt: skip
            tools = [("recfactor", functools.partial(_run_bfm, *same))]
            if args.myfm:
                peer = functools.partial(_run_myfm, args.myfm, args.myfm_ordinal, *same)
                tools.append(("myfm", peer))
            if int(fold) % 2 == 0:
                tools.reverse()  # A B, then B A
            for tool, run in tools:
                pred, seconds = run()
                found = {**_scores(pred, test.ratings), "seconds": seconds}
                results.setdefault(row, {}).setdefault(tool, {})[fold] = found
                print(f"u{fold} {row} {tool:9s} rmse {found['rmse']:.4f} mae {found['mae']:.4f} "
                      f"{seconds:.1f} s", flush=True)  # fmt: skip
    print("\nrow  tool       mean rmse  mean mae  mean s")
    for row, tools in results.items():
        for tool, folds in tools.items():
            mean = {m: np.mean([f[m] for f in folds.values()]) for m in ("rmse", "mae", "seconds")}
            print(f"{row}    {tool:9s}  {mean['rmse']:.4f}     {mean['mae']:.4f}    "
                  f"{mean['seconds']:.1f}")  # fmt: skip
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"args": vars(args), "results": results}, indent=1))


if __name__ == "__main__":
    main()
