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

Each similarity is printed beside its chance level: what two unrelated random matrices of the
same shape (and sign) score, since high-dimensional non-negative vectors look alike by chance.
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


def chance_levels(shape: tuple[int, int], nonnegative: bool, seed: int = 0) -> tuple[float, float]:
    """(matched, subspace) similarity of unrelated random matrices of ``shape``: uniform on
    [0, 1) when the model's factors are non-negative, Gaussian otherwise; the mean of a few
    draws from a fixed seed."""
    rng = np.random.default_rng(seed)
    matched, subspace = [], []
    for _ in range(CHANCE_DRAWS):
        if nonnegative:
            a, b = rng.random(shape), rng.random(shape)
        else:
            a, b = rng.standard_normal(shape), rng.standard_normal(shape)
        matched.append(matched_similarity(a, b, signed=not nonnegative))
        subspace.append(subspace_similarity(a, b))
    return float(np.mean(matched)), float(np.mean(subspace))


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
) -> dict[str, Any]:
    """The non-uniqueness record of one algorithm from each seed's item factors (all fitted on
    the same data) and each seed's factor part ``p_u . q_i`` on the same test pairs, with its
    plain-words reading."""
    record = compare(item_factors, interactions, nonnegative)
    return with_reading(algo, record, metric_spread, metric, disagreement)


def compare(
    item_factors: Sequence[np.ndarray | None],
    interactions: Sequence[np.ndarray | None],
    nonnegative: bool,
    chance: tuple[float, float] | None = None,
) -> dict[str, Any] | None:
    """The agreement measures of :func:`measure` without the reading (which needs the metric
    spread, known only when every fold is done); None with fewer than two seeds or no
    factors. ``chance``: the chance levels for the factors' shape, when already measured."""
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
    matched = matched_grid[0, 1:]
    subspace = subspace_grid[0, 1:]
    agreement = [correlation(interactions[0], x) for x in interactions[1:]]
    agreement = [a for a in agreement if a is not None]
    # Seeds are grouped by the measure that sees through the model's own ambiguity.
    pairwise = matched_grid if nonnegative else subspace_grid
    chance_matched, chance_subspace = chance or chance_levels(item_factors[0].shape, nonnegative)
    return {
        "factor_similarity": float(np.mean(matched)),
        "subspace_similarity": float(np.mean(subspace)),
        "interaction_agreement": float(np.mean(agreement)) if agreement else None,
        "chance_factor_similarity": chance_matched,
        "chance_subspace_similarity": chance_subspace,
        "distinct_solutions": distinct_solutions(pairwise),
        "alignment": "permutation and scale" if nonnegative else "rotation",
        "seed_similarity": pairwise.round(6).tolist(),
        "seed_measure": "matched similarity" if nonnegative else "subspace similarity",
        "threshold": THRESHOLD,
    }


def with_reading(
    algo: str,
    record: dict[str, Any] | None,
    metric_spread: float | None,
    metric: str | None,
    disagreement: float | None,
) -> dict[str, Any]:
    """A :func:`compare` record (or None) completed with its plain-words reading."""
    if record is None:
        empty = {
            "factor_similarity": None,
            "subspace_similarity": None,
            "interaction_agreement": None,
            "chance_factor_similarity": None,
            "chance_subspace_similarity": None,
            "distinct_solutions": None,
            "threshold": THRESHOLD,
        }
        return {**empty, "reading": _reading(algo, metric, metric_spread, disagreement, None)}
    return {**record, "reading": _reading(algo, metric, metric_spread, disagreement, record)}


def _reading(
    algo: str,
    metric: str | None,
    spread: float | None,
    disagreement: float | None,
    r: dict[str, Any] | None,
) -> str:
    """One plain sentence (or three) saying what the numbers mean."""
    parts = []
    if metric is not None and spread is not None and np.isfinite(spread):
        parts.append(f"{metric} varies by {spread:.3g} across seeds")
    if disagreement is not None:
        parts.append(f"single predictions differ by {disagreement:.3g} on average")
    if r is None:
        if algo == "baseline" or disagreement == 0:
            parts.append("the model has no random start, so every seed gives the same result")
        return "; ".join(parts) + "." if parts else "Only one seed: nothing to compare."
    matched, subspace = r["factor_similarity"], r["subspace_similarity"]
    chance_m, chance_s = r["chance_factor_similarity"], r["chance_subspace_similarity"]
    agreement = r["interaction_agreement"]
    above = (matched - chance_m) / max(1 - chance_m, 1e-12)
    if matched >= THRESHOLD and r["distinct_solutions"] > 1:
        verdict = (
            f"the factors agree {matched:.2f} on average after matching (chance {chance_m:.2f}), "
            f"but the seeds form {r['distinct_solutions']} distinct solutions at "
            f"{THRESHOLD:g}: close, not unique"
        )
    elif matched >= THRESHOLD:
        if r["alignment"] == "permutation and scale":
            verdict = (
                f"the factors agree {matched:.2f} after matching (chance {chance_m:.2f}): the "
                "solution is unique up to permutation and scale (1 distinct solution)"
            )
        else:
            verdict = f"the factors agree {matched:.2f} after matching (chance {chance_m:.2f})"
    elif subspace >= THRESHOLD:
        verdict = (
            f"the factors span the same subspace ({subspace:.2f}) but match only {matched:.2f} "
            f"one by one (chance {chance_m:.2f}): read the subspace, not single factors"
        )
    elif above < 0.3:
        verdict = (
            f"the factors match {matched:.2f} after alignment (chance {chance_m:.2f}) and their "
            f"subspaces {subspace:.2f} (chance {chance_s:.2f}): barely above chance, so do not "
            "interpret single factors"
        )
    else:
        verdict = (
            f"the factors agree {matched:.2f} after alignment (chance {chance_m:.2f}), subspaces "
            f"{subspace:.2f} (chance {chance_s:.2f}): interpret single factors with care"
        )
    parts.append(verdict)
    if agreement is not None and agreement < 0.5:
        parts.append(
            f"the factor part p.q itself correlates only {agreement:.2f} between seeds: the "
            "biases, not the factors, carry the predictions"
        )
    return "; ".join(parts) + "."
