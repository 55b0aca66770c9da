"""Top-N lists across seeds: Jaccard and rank-biased overlap of known lists, their chance
levels against simulated random rankings, the quartile breakdowns, and evaluate's report."""

from __future__ import annotations

import numpy as np
import pytest

from recfactor.evaluation.lists import chance_levels, compare_lists, jaccard, rbo
from tests.cli import rows, run


def test_jaccard_and_rbo_of_known_lists():
    a = np.array([[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4], [1, 2, -1, -1]])
    b = np.array([[1, 2, 3, 4], [4, 3, 2, 1], [5, 6, 7, 8], [2, 9, -1, -1]])
    np.testing.assert_allclose(jaccard(a, b), [1.0, 1.0, 0.0, 1 / 3])
    ranked = rbo(a, b, p=0.5)
    assert ranked[0] == pytest.approx(1.0) and ranked[2] == pytest.approx(0.0)
    # Reversed: agreement 0, 0, 2/3, 1 at depths 1..4; RBO_ext = X4/4 p^4 + (1-p)/p sum.
    p = 0.5
    expected = p**4 + (1 - p) / p * ((2 / 3) * p**3 + 1 * p**4)
    assert ranked[1] == pytest.approx(expected)


def test_chance_levels_match_random_rankings():
    rng = np.random.default_rng(0)
    candidates = np.array([40, 100, 400])
    n, draws = 10, 4000
    jac, ranked = [], []
    for c in candidates:
        a = np.array([rng.permutation(c)[:n] for _ in range(draws)])
        b = np.array([rng.permutation(c)[:n] for _ in range(draws)])
        jac.append(jaccard(a, b).mean())
        ranked.append(rbo(a, b).mean())
    chance_jac, chance_rbo = chance_levels(candidates, n)
    # The formula is exact for the overlap; for Jaccard (a ratio) it is within 2%.
    assert chance_jac == pytest.approx(np.mean(jac), rel=0.03)
    assert chance_rbo == pytest.approx(np.mean(ranked), rel=0.03)


def test_breakdowns_by_activity_and_popularity():
    """Users 0-3 (least active) swap their whole list between seeds, users 4-7 keep it; the
    rarest items are the ones that move."""
    popular = np.array([[0, 1], [0, 1], [0, 1], [0, 1], [2, 3], [2, 3], [2, 3], [2, 3]])
    rare = np.array([[4, 5], [4, 5], [4, 5], [4, 5], [2, 3], [2, 3], [2, 3], [2, 3]])
    activity = np.array([1, 1, 2, 2, 9, 9, 10, 10])
    popularity = np.array([50, 40, 30, 20, 1, 1, 0, 0])  # quartiles: 6,7 | 4,5 | 2,3 | 0,1
    found = compare_lists([popular, rare], np.full(8, 6), activity, popularity)
    assert found["list_jaccard"] == pytest.approx(0.5)
    assert found["list_jaccard_by_activity"] == [0.0, 0.0, 1.0, 1.0]
    kept = found["list_kept_by_popularity"]
    assert kept == [None, 0.0, 1.0, 0.0]  # none of the 0-rated; 4,5 and 0,1 move; 2,3 stay
    assert compare_lists([popular], np.full(8, 6), activity, popularity) is None


def test_evaluate_reports_list_overlap_in_every_format(tmp_path):
    sample = "sample_data/ratings.csv"
    csv = rows(run("evaluate", sample, "--algo", "svd,als", "--seeds", 2, "-q").output)
    listed = {(r["algo"], r["metric"]): float(r["value"]) for r in csv if r["seed"] == "all"}
    for algo in ("svd", "als"):
        assert 0 < listed[(algo, "chance_jaccard@10")] < listed[(algo, "jaccard@10")] <= 1
        assert (algo, "jaccard@10_activity_q4") in listed
        assert (algo, "kept@10_popularity_q1") in listed
    import json

    found = json.loads(run("evaluate", sample, "--algo", "svd", "--seeds", 2, "-q",
                           "--format", "json").output)  # fmt: skip
    record = found["nonuniqueness"][0]
    assert record["list_jaccard"] == pytest.approx(listed[("svd", "jaccard@10")], abs=1e-6)
    assert len(record["list_jaccard_by_activity"]) == 4
    assert "top-10 lists overlap" in record["reading"]
    table = run("evaluate", sample, "--algo", "svd", "--seeds", 2, "--format", "table")
    assert "Each user's top 10 across seeds" in table.output
