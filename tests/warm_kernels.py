"""Compile the kernels the tests use, in a process of its own: started by conftest at the
lowest priority when the run begins, it fills the cores the tests leave idle (a command's
start, Spark's JVM) with numba's compiling, which a fresh checkout otherwise does inside the
first test of each model (about 100 s of a cold run). The cache is numba's own, written
whole or not at all, so a test that needs a kernel first compiles it itself as before."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    sys.path.insert(0, str(ROOT))
    import recfactor as rf

    data = rf.read_ratings(str(ROOT / "sample_data" / "ratings.csv"))
    users, items = data.user_ids[data.users[:100]], data.item_ids[data.items[:100]]
    # The first tests fit ALS (tests/test_als.py): it comes last, the others first.
    for model in (rf.SVD(), rf.BPMF(), rf.NMF(), rf.SVDpp(), rf.BFM(), rf.Baseline(),
                  rf.ALS()):  # fmt: skip
        fitted = model.fit(data)
        fitted.predict(users, items)
        fitted.recommend(users[0], n=10)


if __name__ == "__main__":
    main()
