"""The non-uniqueness measures on cases whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from recfactor.evaluation.nonunique import (
    chance_levels,
    distinct_solutions,
    matched_similarity,
    measure,
    orthonormal_basis,
    subspace_similarity,
)


def test_identical_runs_agree_fully_and_disagree_nowhere():
    rng = np.random.default_rng(0)
    q = rng.random((50, 4))
    inner = rng.random(200)
    record = measure("nmf", [q, q.copy(), q.copy()], [inner, inner, inner], True, 0.0, "rmse",
                     0.0)  # fmt: skip
    assert record["factor_similarity"] == pytest.approx(1.0)
    assert record["subspace_similarity"] == pytest.approx(1.0)
    assert record["interaction_agreement"] == pytest.approx(1.0)
    assert record["distinct_solutions"] == 1
    assert "unique up to permutation and scale" in record["reading"]


def test_permuted_and_rescaled_nmf_solution_is_the_same_solution():
    rng = np.random.default_rng(1)
    q = rng.random((40, 5))
    other = q[:, [3, 0, 4, 1, 2]] * np.array([2.0, 0.5, 7.0, 1.5, 0.1])
    assert matched_similarity(q, other, signed=False) == pytest.approx(1.0)
    different = rng.random((40, 5))
    assert matched_similarity(q, different, signed=False) < 0.95
    inner = rng.random(100)
    record = measure("nmf", [q, other, q * 3.0], [inner, inner, 3.0 * inner], True, 0.0, "rmse",
                     0.0)  # fmt: skip
    assert record["factor_similarity"] == pytest.approx(1.0)
    assert record["distinct_solutions"] == 1 and record["factor_grade"] == "the same"
    assert distinct_solutions(np.array([[1, 1, 0.5], [1, 1, 0.5], [0.5, 0.5, 1]])) == 2


def test_rotated_svd_solution_has_zero_principal_angles_but_other_factors():
    rng = np.random.default_rng(2)
    q = rng.standard_normal((60, 6))
    rotation = ortho_group.rvs(6, random_state=3)
    rotated = q @ rotation
    assert subspace_similarity(q, rotated) == pytest.approx(1.0)
    assert matched_similarity(q, rotated, signed=True) < 0.9
    sign_flipped = q * np.array([1, -1, 1, -1, 1, 1])
    assert matched_similarity(q, sign_flipped, signed=True) == pytest.approx(1.0)
    p = rng.standard_normal((30, 6))
    # p q' is unchanged when p is rotated the same way: the interactions agree exactly.
    inner = np.einsum("ij,ij->i", p[np.arange(30) % 30], q[:30])
    inner_rotated = np.einsum("ij,ij->i", (p @ rotation)[np.arange(30)], rotated[:30])
    np.testing.assert_allclose(inner, inner_rotated, atol=1e-10)
    record = measure("svd", [q, rotated], [inner, inner_rotated], False, 0.001, "rmse", 0.0)
    assert "same subspace" in record["reading"]


def test_chance_levels_keep_the_columns_and_are_fixed_by_their_seed():
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((100, 10)), rng.standard_normal((100, 10))
    signed_matched, signed_subspace = chance_levels(a, b, signed=True)
    positive_matched, _ = chance_levels(np.abs(a), np.abs(b), signed=False)
    assert 0.0 < signed_matched < 0.5 and 0.0 < signed_subspace < 0.6
    assert positive_matched > 0.6  # non-negative vectors look alike by chance
    assert chance_levels(a, b, signed=True) == (signed_matched, signed_subspace)


def test_a_shared_mean_direction_does_not_pass_for_agreement():
    """ALS without biases puts the mean rating into every factor column. Two unrelated
    solutions with such a column mean match well under the report's matching; their chance
    level must match as well, so the reading stays at chance."""
    rng = np.random.default_rng(8)
    a = rng.standard_normal((300, 10)) * 0.5 + 1.5
    b = rng.standard_normal((300, 10)) * 0.5 + 1.5
    matched = matched_similarity(a, b, signed=True)
    chance, _ = chance_levels(a, b, signed=True)
    assert matched > 0.8  # the shared direction alone
    assert matched - chance < 0.02
    record = measure("als", [a, b], [rng.random(50), rng.random(50)], False, 0.001, "rmse", 0.1)
    assert record["factor_grade"] == "at chance"
    assert "interpret single factors with care" not in record["reading"]


def test_k_at_least_the_items_is_not_informative_and_counts_by_predictions():
    """With as many factors as items every solution spans the whole space: a subspace
    similarity of 1 that any two solutions reach, which must not be read as agreement."""
    rng = np.random.default_rng(9)
    seeds = [rng.standard_normal((20, 20)) for _ in range(3)]
    inner = [rng.standard_normal(200) for _ in range(3)]  # predictions that disagree
    record = measure("svd", seeds, inner, False, 0.01, "rmse", 1.7)
    assert record["subspace_similarity"] == pytest.approx(1.0)
    assert record["chance_subspace_similarity"] >= 0.95
    assert record["subspace_grade"] == "not informative"
    assert record["seed_measure"] == "p.q correlation" and record["distinct_solutions"] == 3
    assert "not informative at this k" in record["reading"]
    assert "same subspace" not in record["reading"]


def test_the_factors_gain_is_read_against_the_baseline_algorithm_only_when_measured():
    rng = np.random.default_rng(10)
    q = [rng.standard_normal((40, 4)) for _ in range(2)]
    inner = [rng.standard_normal(100) for _ in range(2)]  # p.q uncorrelated between seeds
    better = measure("svd", q, inner, False, 0.001, "rmse", 0.2, factor_gain=0.021)
    assert "add nothing" not in better["reading"]
    assert "rmse is 0.021 better than the baseline algorithm's" in better["reading"]
    assert "correlates only" in better["reading"]
    worse = measure("svd", q, inner, False, 0.001, "rmse", 0.2, factor_gain=-0.004)
    assert "0.004 worse): the factors add nothing here" in worse["reading"]
    unmeasured = measure("svd", q, inner, False, 0.001, "rmse", 0.2)
    assert "baseline" not in unmeasured["reading"]


def test_evaluate_measures_the_factors_against_the_baseline_fitted_alone():
    """The gain an evaluation reports is the baseline algorithm's error minus the model's on
    the same folds: evaluating both side by side gives the same difference."""
    from recfactor.dataset import Dataset
    from recfactor.evaluation.runner import evaluate

    rng = np.random.default_rng(4)
    p, qq = rng.normal(0, 0.7, (80, 3)), rng.normal(0, 0.7, (60, 3))
    truth = 3 + rng.normal(0, 0.5, (80, 1)) + p @ qq.T
    u, i = np.nonzero(rng.random(truth.shape) < 0.4)
    data = Dataset.from_arrays(u, i, truth[u, i] + rng.normal(0, 0.3, len(u)))
    report = evaluate(data, algos=["baseline", "svd"], seeds=[0, 1], folds=3, metrics=["rmse"])
    mean = {r["algo"]: r["mean"] for r in report.summary if r["metric"] == "rmse"}
    svd = next(r for r in report.nonuniqueness if r["algo"] == "svd")
    assert svd["factor_gain"] == pytest.approx(mean["baseline"] - mean["svd"], abs=1e-9)
    assert svd["factor_gain"] > 0.1  # planted factors: far better than the biases


@pytest.mark.parametrize(
    ("value", "chance", "words"),
    [(0.75, 0.76, "at chance"), (0.84, 0.77, "weakly above chance"), (0.93, 0.08, "close"),
     (0.65, 0.2, "partly alike"), (0.995, 0.5, "the same"), (1.0, 0.97, "not informative"),
     # each boundary from both sides: a fifth, half and four fifths of the way to 1 (chance
     # 0.5: 0.6, 0.75, 0.9), 0.99 for the same, 0.95 chance for not informative
     (0.5999, 0.5, "at chance"), (0.6001, 0.5, "weakly above chance"),
     (0.7499, 0.5, "weakly above chance"), (0.7501, 0.5, "partly alike"),
     (0.8999, 0.5, "partly alike"), (0.9001, 0.5, "close"), (0.9899, 0.5, "close"),
     (0.99, 0.5, "the same"), (0.9, 0.9499, "at chance"), (0.9, 0.95, "not informative"),
     # below a fifth of the way: "at chance" up to 1.5 times chance, "weak" beyond it
     (0.15, 0.1, "at chance"), (0.1501, 0.1, "weak"), (0.31, 0.2, "weak"),
     (0.23, 0.1, "weak"), (0.05, 0.0, "weak"), (0.0, 0.0, "at chance")],
)  # fmt: skip
def test_readings_are_graded_by_the_distance_from_chance(value, chance, words):
    from recfactor.evaluation.nonunique import grade

    assert grade(value, chance) == words


def test_no_value_above_one_and_a_half_times_chance_reads_at_chance():
    from recfactor.evaluation.nonunique import grade, grade_words

    assert grade_words(0.31, 0.2) == "1.55x chance, weak"
    assert grade_words(0.23, 0.1) == "2.3x chance, weak"
    assert grade_words(0.84, 0.81) == "at chance"
    for chance in np.linspace(0.0, 0.94, 48):
        for value in np.linspace(0.0, 0.98, 50):
            if value > 1.5 * chance:
                assert grade(value, chance) != "at chance", (value, chance)


def test_baseline_has_no_factors_to_compare():
    record = measure("baseline", [None, None], [None, None], False, 0.0, "rmse", 0.0)
    assert record["factor_similarity"] is None and record["distinct_solutions"] is None
    assert "same result" in record["reading"]


def test_assignment_finds_the_optimum_of_scipy():
    from scipy.optimize import linear_sum_assignment

    from recfactor.evaluation.nonunique import assignment, pairing

    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 8, 40):
        cost = rng.random((n, n))
        ours = assignment(cost)
        rows, cols = linear_sum_assignment(cost)
        assert sorted(ours.tolist()) == list(range(n))
        assert cost[np.arange(n), ours].sum() == pytest.approx(cost[rows, cols].sum())
    wide = rng.random((3, 5))
    rows, cols = pairing(wide)
    best_rows, best_cols = linear_sum_assignment(-wide)
    assert wide[rows, cols].sum() == pytest.approx(wide[best_rows, best_cols].sum())
    tall_rows, tall_cols = pairing(wide.T)
    assert wide.T[tall_rows, tall_cols].sum() == pytest.approx(wide[rows, cols].sum())


@pytest.mark.parametrize(
    ("case", "rank"), [("random", 6), ("nearly dependent", 5), ("zero column", 5)]
)
def test_orthonormal_basis_spans_the_columns(case, rank):
    """The fast (Cholesky) basis and its SVD fallback: orthonormal, as many columns as the
    numerical rank, and spanning the same space as the columns, including when a column is
    (nearly) a combination of others or zero."""
    rng = np.random.default_rng(4)
    a = rng.standard_normal((200, 6))
    if case == "nearly dependent":
        a[:, 5] = a[:, 0] + 1e-9 * rng.standard_normal(200)
    if case == "zero column":
        a[:, 2] = 0.0
    basis = orthonormal_basis(a)
    np.testing.assert_allclose(basis.T @ basis, np.eye(rank), atol=1e-8)
    # Every column of a is reproduced by its projection onto the basis.
    np.testing.assert_allclose(basis @ (basis.T @ a), a, atol=1e-7)


def test_rank_deficient_factors_compare_by_the_space_they_use():
    rng = np.random.default_rng(5)
    # One user's worth of information: every column a multiple of the same vector, with
    # different multiples (and signs) in two seeds. The same solution.
    shape = rng.standard_normal(50)
    seed_a = np.outer(shape, rng.standard_normal(4))
    seed_b = np.outer(shape, rng.standard_normal(4))
    assert subspace_similarity(seed_a, seed_b) == pytest.approx(1.0)
    assert matched_similarity(seed_a, seed_b, signed=True) == pytest.approx(1.0)
    # Unused components (zero columns) in both: the same solution too.
    used = rng.random((50, 2))
    padded = np.hstack([used, np.zeros((50, 2))])
    assert matched_similarity(padded, padded[:, ::-1], signed=False) == pytest.approx(1.0)
    assert subspace_similarity(padded, padded[:, ::-1]) == pytest.approx(1.0)
    # A plane against one of its lines: one of two directions shared.
    plane = rng.standard_normal((50, 2))
    line = np.hstack([plane[:, :1], np.zeros((50, 1))])
    assert subspace_similarity(plane, line) == pytest.approx(0.5)
    assert subspace_similarity(np.zeros((50, 2)), np.zeros((50, 2))) == 1.0
