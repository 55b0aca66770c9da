"""How much of a factorization is determined by the data, measured across seeds.

A factorization ``R ~ P Q'`` is never unique: ``P Q' = (P A)(Q A^-T)'`` for any invertible
``A``. NMF narrows ``A`` to permutations and scalings (when the solution is unique at all);
SVD and ALS leave any rotation. So factors from two seeds must be aligned before they can be
compared, with the alignment each model allows:

- matched similarity: columns scaled to unit length and paired one to one (Hungarian method
  on cosine similarity; absolute cosine where a column's sign is arbitrary);
- subspace similarity: the mean cosine of the principal angles between the column spaces,
  blind to any rotation;
- interaction agreement: the correlation of ``p_u . q_i`` itself between seeds, blind to
  every re-parametrisation: whether the factors learned the same thing at all.

Each similarity is printed beside its chance level, measured on the factors themselves: the
same comparison after the rows of every column of one solution are shuffled independently.
That keeps what says nothing about which item is which (each column's values: its mean, its
spread, its sign, its zeros) and destroys the rest, so a direction every column shares (ALS
without biases puts the mean rating into every column) cannot pass for agreement. A measure
whose chance level is 0.95 or more cannot tell solutions apart at that shape (k at least the
number of items: every solution spans the whole space) and is reported as not informative.
Readings are graded by the fraction of the way from chance to 1 (README, "How to read it").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

THRESHOLD = 0.99  # two solutions are "the same" at or above this similarity
CHANCE_DRAWS = 4


def _unit_columns(a: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=0)
    return a / np.where(norms > 0, norms, 1.0)


def assignment(cost: np.ndarray) -> np.ndarray:
    """The column assigned to each row of a square ``cost`` matrix so that the total cost is
    least (the Hungarian method with potentials, O(k^3), its inner step vectorised).

    Written here rather than imported from scipy.optimize, whose import alone takes longer
    than every comparison in a report (about 0.9 s).
    """
    cost = np.asarray(cost, dtype=np.float64)
    n = cost.shape[0]
    u = np.zeros(n + 1)
    v = np.zeros(n + 1)
    match = np.zeros(n + 1, dtype=np.int64)  # match[j]: the row (1-based) holding column j
    way = np.zeros(n + 1, dtype=np.int64)
    for i in range(1, n + 1):
        match[0] = i
        j0 = 0
        least = np.full(n + 1, np.inf)
        used = np.zeros(n + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = match[j0]
            free = ~used[1:]
            reduced = cost[i0 - 1] - u[i0] - v[1:]
            better = free & (reduced < least[1:])
            least[1:][better] = reduced[better]
            way[1:][better] = j0
            candidates = np.where(free, least[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[match[used]] += delta
            v[used] -= delta
            least[1:][free] -= delta
            j0 = j1
            if match[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            match[j0] = match[j1]
            j0 = j1
    columns = np.empty(n, dtype=np.int64)
    columns[match[1:] - 1] = np.arange(n)
    return columns


def matched_similarity(a: np.ndarray, b: np.ndarray, signed: bool) -> float:
    """Mean cosine of the columns of ``a`` and ``b`` (n x k) after the best one-to-one pairing.

    ``signed``: compare absolute cosines, for factors whose signs are arbitrary (SVD, ALS).
    With different numbers of columns, the smaller set is paired into the larger. Two zero
    columns (a component both solutions left unused, as NMF can) are the same, cosine 1.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    cosine = np.clip(_unit_columns(a).T @ _unit_columns(b), -1.0, 1.0)
    if signed:
        cosine = np.abs(cosine)
    unused_a, unused_b = ~a.any(axis=0), ~b.any(axis=0)
    cosine[np.outer(unused_a, unused_b)] = 1.0
    rows, cols = pairing(cosine)
    return float(cosine[rows, cols].mean())


def pairing(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the best one-to-one pairing of a rectangular ``score`` matrix,
    maximising the total; as many pairs as the smaller side has."""
    rows, cols = score.shape
    if rows > cols:
        theirs, ours = pairing(score.T)
        order = np.argsort(ours)
        return ours[order], theirs[order]
    square = np.zeros((cols, cols))
    square[:rows] = -score
    return np.arange(rows), assignment(square)[:rows]


# Directions whose singular value is below this fraction of the largest do not count as part
# of a factor matrix's column space (float32 factors carry noise near 1e-7 of it).
RANK_RTOL = 1e-4


def orthonormal_basis(a: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the column space of ``a``: as many columns as its numerical
    rank (one-user data, heavy regularisation or unused components make factors rank
    deficient, and a full basis would then add arbitrary directions to the comparison).

    ``a R^-1`` with ``R`` the Cholesky factor of ``a' a``: a k x k problem instead of a
    decomposition of the tall matrix, ten times faster. Squaring the condition number costs
    accuracy, so the result is checked, and the left singular vectors above ``RANK_RTOL``
    are used when it is not orthonormal to 1e-8 (nearly dependent or zero columns).
    """
    a = np.asarray(a, np.float64)
    try:
        lower = np.linalg.cholesky(a.T @ a)
        basis = a @ np.linalg.inv(lower).T
        if np.abs(basis.T @ basis - np.eye(a.shape[1])).max() < 1e-8:
            return basis
    except np.linalg.LinAlgError:
        pass
    left, singular, _ = np.linalg.svd(a, full_matrices=False)
    rank = (
        int(np.sum(singular > RANK_RTOL * singular[0])) if singular.size and singular[0] > 0 else 0
    )
    return left[:, :rank]


def subspace_similarity(a: np.ndarray, b: np.ndarray, bases: bool = False) -> float:
    """Mean cosine of the principal angles between the column spaces of ``a`` and ``b``: the
    singular values of ``Qa' Qb`` (Bjorck and Golub), over the larger of the two ranks, so a
    direction only one side has counts as orthogonal. ``bases``: ``a`` and ``b`` are already
    orthonormal bases, so that one basis per matrix serves many comparisons."""
    qa = a if bases else orthonormal_basis(a)
    qb = b if bases else orthonormal_basis(b)
    dimension = max(qa.shape[1], qb.shape[1])
    if dimension == 0:
        return 1.0  # both all zero: the same (empty) space
    if min(qa.shape[1], qb.shape[1]) == 0:
        return 0.0
    cosines = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return float(np.clip(cosines, 0.0, 1.0).sum() / dimension)


def correlation(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson correlation, or None when either side is constant."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def chance_levels(a: np.ndarray, b: np.ndarray, signed: bool, seed: int = 0) -> tuple[float, float]:
    """(matched, subspace) similarity of ``a`` and ``b`` once the rows of each column of ``b``
    are shuffled independently (the permutation null): the mean of a few shuffles drawn from
    a fixed seed."""
    rng = np.random.default_rng(seed)
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    basis = orthonormal_basis(a)
    matched, subspace = [], []
    for _ in range(CHANCE_DRAWS):
        shuffled = rng.permuted(b, axis=0)
        matched.append(matched_similarity(a, shuffled, signed))
        subspace.append(subspace_similarity(basis, orthonormal_basis(shuffled), bases=True))
    return float(np.mean(matched)), float(np.mean(subspace))


# At or above this chance level a measure cannot tell solutions apart.
NOT_INFORMATIVE = 0.95
# Grades of a similarity by the fraction of the way from its chance level to 1 (and THRESHOLD
# for "the same"); the README gives the same table.
GRADES = ((0.8, "close"), (0.5, "partly alike"), (0.2, "weakly above chance"))
# Below the last grade, a value more than this many times its chance level is not "at chance"
# (0.31 against a chance of 0.08 is four times it) but "weak", said with the ratio.
AT_CHANCE_RATIO = 1.5


def lift(value: float, chance: float) -> float:
    """The fraction of the way from ``chance`` to 1 that ``value`` goes (negative below it)."""
    return (value - chance) / max(1.0 - chance, 1e-12)


def grade(value: float | None, chance: float | None) -> str | None:
    """A similarity in words true of both its distance to 1 and its chance level: "not
    informative", "the same", "close", "partly alike", "weakly above chance", "weak" (less
    than a fifth of the way to 1, but more than 1.5 times chance) or "at chance"."""
    if value is None or chance is None:
        return None
    if chance >= NOT_INFORMATIVE:
        return "not informative"
    if value >= THRESHOLD:
        return "the same"
    share = lift(value, chance)
    found = next((words for floor, words in GRADES if share >= floor), None)
    if found is not None:
        return found
    return "weak" if value > AT_CHANCE_RATIO * max(chance, 0.0) else "at chance"


def grade_words(value: float, chance: float) -> str:
    """:func:`grade` as a reading prints it: a weak value with its multiple of chance
    ("2.3x chance, weak")."""
    words = grade(value, chance)
    if words == "weak":
        ratio = value / chance if chance > 0 else float("inf")
        if not np.isfinite(ratio):
            return "above a chance of 0, weak"
        # Two decimals near the 1.5 boundary, so that the figure never reads as 1.5.
        return f"{ratio:.2f}x chance, weak" if ratio < 2 else f"{ratio:.1f}x chance, weak"
    return words


def distinct_solutions(similarity: np.ndarray, threshold: float = THRESHOLD) -> int:
    """How many groups the seeds form when a seed joins the first earlier group whose
    representative it matches at ``threshold`` or above (``similarity`` is seeds x seeds)."""
    representatives: list[int] = []
    for s in range(similarity.shape[0]):
        if not any(similarity[r, s] >= threshold for r in representatives):
            representatives.append(s)
    return len(representatives)


def measure(
    algo: str,
    item_factors: Sequence[np.ndarray],
    interactions: Sequence[np.ndarray],
    nonnegative: bool,
    metric_spread: float | None,
    metric: str | None,
    disagreement: float | None,
    factor_gain: float | None = None,
) -> dict[str, Any]:
    """The non-uniqueness record of one algorithm from each seed's item factors (all fitted on
    the same data) and each seed's factor part ``p_u . q_i`` on the same test pairs, with its
    plain-words reading. ``factor_gain``: how much the model's error improves on the baseline
    algorithm's (see :func:`with_reading`)."""
    record = compare(item_factors, interactions, nonnegative)
    return with_reading(algo, record, metric_spread, metric, disagreement, factor_gain)


def compare(
    item_factors: Sequence[np.ndarray | None],
    interactions: Sequence[np.ndarray | None],
    nonnegative: bool,
) -> dict[str, Any] | None:
    """The agreement measures of :func:`measure` without the reading (which needs the metric
    spread, known only when every fold is done); None with fewer than two seeds or no
    factors."""
    seeds = len(item_factors)
    if seeds < 2 or item_factors[0] is None:
        return None
    signed = not nonnegative
    bases = [orthonormal_basis(q) for q in item_factors]
    matched_grid = np.ones((seeds, seeds))
    subspace_grid = np.ones((seeds, seeds))
    for a in range(seeds):
        for b in range(a + 1, seeds):
            subspace_grid[a, b] = subspace_grid[b, a] = subspace_similarity(
                bases[a], bases[b], bases=True
            )
            if nonnegative or a == 0:
                matched_grid[a, b] = matched_grid[b, a] = matched_similarity(
                    item_factors[a], item_factors[b], signed
                )
    matched = float(np.mean(matched_grid[0, 1:]))
    subspace = float(np.mean(subspace_grid[0, 1:]))
    agreement_grid = _agreement_grid(interactions)
    agreement = None if agreement_grid is None else float(np.mean(agreement_grid[0, 1:]))
    chance_matched, chance_subspace = chance_levels(item_factors[0], item_factors[1], signed)
    # Seeds are grouped by the measure that sees through the model's own ambiguity, when it
    # can tell solutions apart at this shape; else by what they predict.
    if nonnegative and chance_matched < NOT_INFORMATIVE:
        pairwise, seed_measure = matched_grid, "matched similarity"
    elif not nonnegative and chance_subspace < NOT_INFORMATIVE:
        pairwise, seed_measure = subspace_grid, "subspace similarity"
    elif agreement_grid is not None:
        pairwise, seed_measure = agreement_grid, "p.q correlation"
    else:
        pairwise, seed_measure = None, None
    return {
        "factor_similarity": matched,
        "subspace_similarity": subspace,
        "interaction_agreement": agreement,
        "chance_factor_similarity": chance_matched,
        "chance_subspace_similarity": chance_subspace,
        "factor_grade": grade(matched, chance_matched),
        "subspace_grade": grade(subspace, chance_subspace),
        "distinct_solutions": None if pairwise is None else distinct_solutions(pairwise),
        "alignment": "permutation and scale" if nonnegative else "rotation",
        "seed_similarity": None if pairwise is None else pairwise.round(6).tolist(),
        "seed_measure": seed_measure,
        "threshold": THRESHOLD,
    }


def _agreement_grid(interactions: Sequence[np.ndarray | None]) -> np.ndarray | None:
    """Correlation of every two seeds' factor parts ``p.q`` (None where any is missing or
    constant)."""
    if any(x is None for x in interactions):
        return None
    seeds = len(interactions)
    grid = np.ones((seeds, seeds))
    for a in range(seeds):
        for b in range(a + 1, seeds):
            value = correlation(interactions[a], interactions[b])
            if value is None:
                return None
            grid[a, b] = grid[b, a] = value
    return grid


def with_reading(
    algo: str,
    record: dict[str, Any] | None,
    metric_spread: float | None,
    metric: str | None,
    disagreement: float | None,
    factor_gain: float | None = None,
    fold_spread: float | None = None,
    shift: float | None = None,
) -> dict[str, Any]:
    """A :func:`compare` record (or None) completed with its plain-words reading and the
    factors' gain (``factor_gain``: the metric of the baseline algorithm fitted alone minus the
    model's, on the same test folds; None where there is nothing to compare); ``fold_spread``:
    how far the metric moves across folds (the split) beside the seeds' spread (the model's
    start); ``shift``: the predictions' mean absolute difference between seeds."""
    compared = record
    if record is None:
        record = {
            "factor_similarity": None,
            "subspace_similarity": None,
            "interaction_agreement": None,
            "chance_factor_similarity": None,
            "chance_subspace_similarity": None,
            "distinct_solutions": None,
            "threshold": THRESHOLD,
        }
    extra = {"fold_spread": fold_spread, "shift": shift}
    reading = _reading(algo, metric, metric_spread, disagreement, compared, factor_gain, **extra)
    return {**record, "factor_gain": factor_gain, "fold_spread": fold_spread, "reading": reading}


def _reading(
    algo: str,
    metric: str | None,
    spread: float | None,
    disagreement: float | None,
    r: dict[str, Any] | None,
    gain: float | None,
    fold_spread: float | None = None,
    shift: float | None = None,
) -> str:
    """Plain sentences saying what the numbers mean, each claim backed by a number printed
    beside it."""
    parts = []
    if metric is not None and spread is not None and np.isfinite(spread):
        text = f"{metric} varies by {spread:.3g} across seeds"
        if fold_spread is not None:
            text += f" (the model's start) and by {fold_spread:.3g} across folds (the split)"
        parts.append(text)
    if disagreement is not None:
        text = f"single predictions differ by {disagreement:.3g} on average"
        if shift is not None:
            text += f" (RMS; mean absolute shift {shift:.3g})"
        parts.append(text)
    if r is None:
        if algo == "baseline" or disagreement == 0:
            parts.append("the model has no random start, so every seed gives the same result")
        return "; ".join(parts) + "." if parts else "Only one seed: nothing to compare."
    parts.append(_factor_verdict(r))
    agreement = r["interaction_agreement"]
    if gain is not None and metric is not None:
        if gain > 0:
            text = (f"{metric} is {gain:.3g} better than the baseline algorithm's (mu + b_u + "
                    "b_i fitted alone): what the factors add")  # fmt: skip
            if agreement is not None and agreement < 0.5:
                text += f", though their part p.q correlates only {agreement:.2f} between seeds"
            parts.append(text)
        else:
            parts.append(
                f"{metric} is no better than the baseline algorithm's (mu + b_u + b_i fitted "
                f"alone; {-gain:.3g} worse): the factors add nothing here"
            )
    elif agreement is not None and agreement < 0.5:
        parts.append(f"the factor part p.q correlates only {agreement:.2f} between seeds")
    return "; ".join(parts) + "."


def list_reading(r: dict[str, Any]) -> str:
    """The list agreement of :func:`recfactor.evaluation.lists.compare_lists` in words, each
    figure beside its chance level."""
    n = r["list_n"]
    jac, chance = r["list_jaccard"], r["chance_list_jaccard"]
    by_activity = [x for x in r["list_jaccard_by_activity"] if x is not None]
    kept = r["list_kept_by_popularity"]
    text = (f"top-{n} lists overlap {jac:.2f} between seeds (Jaccard; chance {chance:.3f}, "
            f"{lift(jac, chance):.2f} of the way to 1: {grade_words(jac, chance)}), rank-biased "
            f"overlap {r['list_rbo']:.2f} (chance {r['chance_list_rbo']:.3f})")  # fmt: skip
    if len(by_activity) == 4:
        text += (f"; least active users' lists {by_activity[0]:.2f}, most active "
                 f"{by_activity[-1]:.2f}")  # fmt: skip
    if kept[0] is not None and kept[-1] is not None:
        text += (f"; listed items kept by the other seed: {kept[-1]:.2f} of the most rated, "
                 f"{kept[0]:.2f} of the least rated")  # fmt: skip
    return text


def _factor_verdict(r: dict[str, Any]) -> str:
    matched, subspace = r["factor_similarity"], r["subspace_similarity"]
    chance_m, chance_s = r["chance_factor_similarity"], r["chance_subspace_similarity"]
    nonnegative = r["alignment"] == "permutation and scale"
    distinct, measure_name = r["distinct_solutions"], r["seed_measure"]

    def said(name: str, value: float, chance: float) -> str:
        words = grade(value, chance)
        if words == "not informative":
            return f"{name} {value:.2f} is not informative at this k (chance {chance:.2f})"
        return (f"{name} {value:.2f} (chance {chance:.2f}, {lift(value, chance):.2f} of the way "
                f"to 1: {grade_words(value, chance)})")  # fmt: skip

    first = (
        said("matched", matched, chance_m) if nonnegative else said("subspace", subspace, chance_s)
    )
    second = (
        said("subspace", subspace, chance_s) if nonnegative else said("matched", matched, chance_m)
    )
    lead = grade(matched, chance_m) if nonnegative else grade(subspace, chance_s)
    counted = (
        f"; {distinct} distinct solution{'s' if distinct != 1 else ''} by {measure_name}"
        if distinct is not None
        else ""
    )
    if lead == "not informative":
        advice = "the factors cannot be compared at this k; " + (
            "solutions are counted by what they predict"
            if distinct is not None
            else "choose a smaller k"
        )
    elif lead == "the same" and nonnegative and distinct == 1:
        advice = "the solution is unique up to permutation and scale"
    elif lead == "the same" and distinct == 1:
        advice = ("the factors span the same subspace: read the subspace, not single factors"
                  if not nonnegative else "the same solution")  # fmt: skip
    elif lead == "the same":
        advice = "close, not unique"
    elif lead == "close":
        advice = "interpret single factors with care"
    elif lead in ("partly alike", "weakly above chance", "weak"):
        advice = "do not interpret single factors"
    else:
        advice = "the factors are not determined by the data: do not interpret them"
    return f"factors {first}; {second}{counted}: {advice}"
