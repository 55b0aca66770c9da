"""Whole-matrix NMF on a sparse 20,000 x 2,000 matrix: recfactor against scikit-learn.

    python benchmarks/bench_nmf_whole.py [--k 20] [--iterations 200] [--out FILE.json]

Both factorize the same matrix from the same kind of start (NNDSVDa) with the same solver
family (coordinate descent: scikit-learn's cd, recfactor's HALS; and multiplicative updates)
for the same number of iterations (tolerance 0), and report time and the final objective
0.5 ||X - W H||^2. The matrix (generator below, fixed seed) has low-rank structure: counts
placed and sized by a hidden W H (see make_matrix), about 1% of the cells.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recfactor.io.ratings import Dataset  # noqa: E402
from recfactor.models.nmf import NMF, objective  # noqa: E402


def make_matrix(n_rows=20_000, n_cols=2_000, rank=20, density=0.01, seed=0) -> sp.csr_matrix:
    """Interaction counts with low-rank structure in both where they fall and how large they
    are: each entry picks a latent topic from its row's weights, then a column from the topic's
    weights (as in a topic model), and its count is 1 + Poisson(W H) at that cell."""
    rng = np.random.default_rng(seed)
    w = rng.gamma(0.3, 1.0, (n_rows, rank))
    h = rng.gamma(0.3, 1.0, (rank, n_cols))
    n = int(n_rows * n_cols * density)
    rows = rng.integers(0, n_rows, n)
    topic_cdf = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    topics = (topic_cdf[rows] < rng.random(n)[:, None]).sum(axis=1).clip(0, rank - 1)
    column_cdf = np.cumsum(h / h.sum(axis=1, keepdims=True), axis=1)
    cols = np.empty(n, dtype=np.int64)
    for z in range(rank):
        chosen = topics == z
        cols[chosen] = np.searchsorted(column_cdf[z], rng.random(int(chosen.sum())))
    cols = cols.clip(0, n_cols - 1)
    rate = np.einsum("ij,ji->i", w[rows], h[:, cols])
    values = 1.0 + rng.poisson(rate)
    x = sp.csr_matrix((values, (rows, cols)), shape=(n_rows, n_cols))
    x.sum_duplicates()
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "nmf_whole.json"
    )
    args = parser.parse_args()
    x = make_matrix()
    coo = x.tocoo()
    data = Dataset.from_arrays(coo.row, coo.col, coo.data, feedback="implicit")
    # The dataset numbers rows by first appearance: factorize exactly the matrix it holds.
    x = sp.csr_matrix((data.ratings, (data.users, data.items)), shape=(data.n_users, data.n_items))
    print(
        f"matrix {x.shape[0]} x {x.shape[1]}, {x.nnz} non-zeros; k = {args.k}, "
        f"{args.iterations} iterations, init nndsvda"
    )
    NMF(factors=2, epochs=2, init="random").fit(data)  # loads the compiled kernels
    results = {}
    for solver in ("cd", "mu"):
        started = time.perf_counter()
        model = NMF(
            factors=args.k, solver=solver, init="nndsvda", epochs=args.iterations, tol=0.0, seed=0
        ).fit(data)
        ours_s = time.perf_counter() - started
        ours = objective(x, model.user_factors_, model.item_factors_.T)
        row = {
            "recfactor_seconds": ours_s,
            "recfactor_objective": ours,
            "recfactor_iterations": model.n_iter_,
        }
        try:
            from sklearn.decomposition import NMF as SkNMF

            sk = SkNMF(
                n_components=args.k,
                init="nndsvda",
                solver=solver,
                max_iter=args.iterations,
                tol=0.0,
                random_state=0,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                started = time.perf_counter()
                w = sk.fit_transform(x)
                sk_s = time.perf_counter() - started
            theirs = objective(x, w, sk.components_)
            row.update(
                {
                    "sklearn_seconds": sk_s,
                    "sklearn_objective": theirs,
                    "sklearn_iterations": int(sk.n_iter_),
                    "objective_ratio": ours / theirs,
                    "speedup": sk_s / ours_s,
                }
            )
        except ImportError:
            print("scikit-learn not importable: recfactor only", file=sys.stderr)
        results[solver] = row
    print(
        f"{'solver':8} {'recfactor s':>12} {'objective':>14} {'sklearn s':>10} {'objective':>14} "
        f"{'obj ratio':>9} {'speed-up':>8}"
    )
    for solver, r in results.items():
        print(
            f"{solver:8} {r['recfactor_seconds']:12.3f} {r['recfactor_objective']:14.6g} "
            f"{r.get('sklearn_seconds', float('nan')):10.3f} "
            f"{r.get('sklearn_objective', float('nan')):14.6g} "
            f"{r.get('objective_ratio', float('nan')):9.4f} {r.get('speedup', float('nan')):8.2f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
                "date": time.strftime("%Y-%m-%d"),
                "k": args.k,
                "iterations": args.iterations,
                "shape": list(x.shape),
                "nnz": int(x.nnz),
                "results": results,
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
