"""How many factors are stable at each rank: the rank sweep behind ``recfactor stability``.

For every rank k, each seed is fitted to all the data and its item factors compared with the
other seeds' (the matching of :mod:`recfactor.evaluation.nonunique`):

- stable components: for NMF (determined up to permutation and scale), a component is stable
  when its median best match among the other seeds' components is at or above the threshold
  and it does not repeat another component of its own seed;
  for SVD and ALS (determined up to rotation), the stable dimension is the number of
  principal-angle cosines at or above it, the median over pairs of seeds;
- instability: staNMF's (Wu et al. 2016), one minus the mean best-match correlation of the
  components in both directions, averaged over pairs of seeds (0: every seed the same);
- for NMF, the cophenetic correlation and dispersion of the consensus matrix (Brunet et al.
  2004; Kim and Park 2007), items clustered by their largest component;
- the share of users and items with fewer ratings than k, whose factors the data cannot
  determine;
- the cross-validated error of seed 0 (evaluate's folds), beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recfactor.errors import ParameterError, RecfactorError

STABLE_THRESHOLD = 0.9


@dataclass
class StabilityReport:
    """One row per rank, and what to make of them."""

    algo: str
    dataset: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    best_rank: int | None = None  # the lowest cross-validated error
    readable_rank: int | None = None  # the largest rank whose components are all stable
    components: list[list[str]] = field(default_factory=list)  # at readable_rank
    reading: str = ""
    baseline: float | None = None  # the baseline algorithm's metric on the same folds

    def to_dict(self) -> dict[str, Any]:
        return {
            "algo": self.algo,
            "dataset": self.dataset,
            "rows": self.rows,
            "best_rank": self.best_rank,
            "readable_rank": self.readable_rank,
            "components": self.components,
            "baseline": self.baseline,
            "reading": self.reading,
        }


def parse_ranks(text: str) -> list[int]:
    """``"2..30"``, ``"2..30:4"`` (a step), ``"2,4,8"`` or ``"5"``."""
    try:
        if ".." in text:
            span, _, step = text.partition(":")
            low, high = (int(x) for x in span.split(".."))
            ranks = list(range(low, high + 1, int(step) if step else 1))
        else:
            ranks = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ParameterError(
            f"`ranks` takes LOW..HIGH[:STEP] or a list, not {text!r}", hint="e.g. `ranks` 2..30"
        ) from None
    if not ranks or min(ranks) < 1 or max(ranks) > 10_000:
        raise ParameterError("`ranks` must lie between 1 and 10000", hint="e.g. `ranks` 2..30")
    return sorted(set(ranks))


def sweep(
    data: Any,
    algo: str,
    params: dict[str, Any],
    ranks: Sequence[int],
    seeds: Sequence[int],
    splits: Sequence[Any] | None,
    metric: str | None,
    threshold: float = STABLE_THRESHOLD,
    jobs: int | None = None,
    progress: Callable[[], None] | None = None,
    cluster: Any = None,
) -> StabilityReport:
    """The rank sweep of ``algo`` (with ``params``) on ``data``; ``splits`` and ``metric``
    give the cross-validated error of seed 0 (None: no error column). ``cluster``: a Spark
    cluster whose executors run the fits, one task each (the same report)."""
    from recfactor.evaluation import AlgoSpec, cross_validate
    from recfactor.models import model_class

    if len(seeds) < 2:
        raise ParameterError("stability compares seeds: give `seeds` 2 or more")
    cls = model_class(algo)
    nonnegative = algo == "nmf" or bool(params.get("nonnegative"))
    whole = data.compact()
    user_counts = np.bincount(whole.users, minlength=whole.n_users)
    item_counts = np.bincount(whole.items, minlength=whole.n_items)
    report = StabilityReport(
        algo,
        {"source": data.source, "users": data.n_users, "items": data.n_items,
         "ratings": data.n_ratings, "feedback": data.feedback},
    )  # fmt: skip
    for k in ranks:  # every rank checked against the data before the first fit
        try:
            cls(cls.params_class(**{**params, "factors": k})).validate(whole)
        except RecfactorError as exc:
            raise type(exc)(
                f"rank {k} of `ranks`: {exc.template}", hint=exc.hint_template
            ) from None

    fitted = _fit_all(whole, algo, params, ranks, seeds, jobs, progress, cluster)
    from recfactor.evaluation.lists import compare_lists, list_users

    listed = list_users(whole.n_users)
    stable_factors: dict[int, np.ndarray] = {}
    for k in ranks:
        factors = [fitted[(k, int(seed))][0] for seed in seeds]
        user_factors = [fitted[(k, int(seed))][1] for seed in seeds]
        row: dict[str, Any] = {"algo": algo, "k": k}
        row.update(_stable(factors, nonnegative, threshold))
        row["distinct_solutions"] = _distinct(factors, nonnegative)
        row["instability"] = instability(factors, signed=not nonnegative)
        if algo == "nmf":
            row.update(consensus(factors))
            # Where the sparsity sits: the share of zero weights in W (users) and H (items).
            row["zeros_w"] = float(np.mean([sparsity(w) for w in user_factors]))
            row["zeros_h"] = float(np.mean([sparsity(h) for h in factors]))
        lists = compare_lists([fitted[(k, int(seed))][2] for seed in seeds],
                              whole.n_items - user_counts[listed], user_counts[listed],
                              item_counts)  # fmt: skip
        row["list_jaccard"] = lists["list_jaccard"]
        row["chance_list_jaccard"] = lists["chance_list_jaccard"]
        row["users_under_k"] = float(np.mean(user_counts < k))
        row["items_under_k"] = float(np.mean(item_counts < k))
        if splits is not None and metric is not None:
            spec = AlgoSpec(algo, {**params, "factors": k})
            result = cross_validate(data, [spec], [seeds[0]], [metric], splits=splits, jobs=jobs,
                                    cluster=cluster)  # fmt: skip
            row[metric] = float(result.summary[0]["mean"])
        shown = row.pop("_shown_seed", 0)
        report.rows.append(
            {key: round(v, 4) if isinstance(v, float) else v for key, v in row.items()}
        )
        if row["stable_components"] == k:
            stable_factors[k] = factors[shown]  # a seed whose every component is stable
    if splits is not None and metric is not None and data.feedback == "explicit":
        # The yardstick every rank must beat: the baseline algorithm on the same folds.
        result = cross_validate(data, [AlgoSpec("baseline", {})], [seeds[0]], [metric],
                                splits=splits, jobs=jobs, cluster=cluster)  # fmt: skip
        report.baseline = round(float(result.summary[0]["mean"]), 4)
    _conclude(report, metric, stable_factors, whole)
    return report


def _fit_all(
    whole: Any,
    algo: str,
    params: dict[str, Any],
    ranks: Sequence[int],
    seeds: Sequence[int],
    jobs: int | None,
    progress: Callable[[], None] | None,
    cluster: Any = None,
) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(item factors, user factors, top-N lists) of every (rank, seed) fitted to ``whole``: in
    worker processes when the work pays for them (evaluate's workers, one thread each; the fits
    are the same whatever runs them), as tasks on ``cluster``, else here."""
    from recfactor.evaluation import parallel_pays
    from recfactor.running.workers import Workers, available_cores

    calls = [(algo, params, k, int(seed)) for k in ranks for seed in seeds]
    jobs = min(jobs or available_cores(), available_cores())
    done = (lambda k, result: progress()) if progress is not None else (lambda k, result: None)
    if cluster is not None:
        from recfactor.evaluation import fanout

        results = fanout.run(cluster, _fit_factors, calls, whole, done)
    elif parallel_pays(whole.n_ratings, len(calls), jobs):
        from recfactor.running import blas

        with blas.threads(1), Workers(min(jobs, len(calls)), [algo], whole) as workers:
            results = workers.run(_fit_factors, calls, done)
    else:
        results = []
        for k, call in enumerate(calls):
            results.append(_fit_factors(*call, whole))
            done(k, results[-1])
    return {(call[2], call[3]): result for call, result in zip(calls, results)}


# The length of the lists compared across seeds at each rank (each user's top-N).
LIST_N = 10


def _fit_factors(
    algo: str, params: dict[str, Any], k: int, seed: int, whole: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from recfactor.models import model_class
    from recfactor.models.ensemble import spaced_seed

    cls = model_class(algo)
    model = cls(cls.params_class(**{**params, "factors": k, "seed": spaced_seed(seed, params)}))
    model.fit(whole, training_error=False)
    users, items = model.latent_factors()  # one fit's factors (bpmf: its last draw's)
    from recfactor.evaluation.lists import list_users, top_lists

    lists = top_lists(model, list_users(whole.n_users), LIST_N)  # the model's own lists
    return np.asarray(items, dtype=np.float64), np.asarray(users, dtype=np.float64), lists


def _stable(factors: list[np.ndarray], nonnegative: bool, threshold: float) -> dict[str, Any]:
    """Stable components (NMF) or the stable dimension (rotation-ambiguous models) of the
    seeds' item factors, and the median similarity behind it."""
    from recfactor.evaluation.nonunique import _unit_columns, orthonormal_basis

    k = factors[0].shape[1]
    if nonnegative:
        # Each component of each seed: its best match in every other seed, the median over
        # them; a seed's count of components at or above the threshold; the median count.
        units = [_unit_columns(f) for f in factors]
        counts, medians = [], []
        for s, unit in enumerate(units):
            best = np.array([(unit.T @ other).max(axis=1) for t, other in enumerate(units)
                             if t != s])  # fmt: skip
            median = np.median(best, axis=0)
            unused = ~factors[s].any(axis=0)
            median[unused] = 0.0
            # A component that repeats another of the same seed (one solution's component
            # shared between two) is not a component of its own, however stable.
            own = unit.T @ unit
            np.fill_diagonal(own, 0.0)
            median[own.max(axis=1, initial=0.0) >= threshold] = 0.0
            medians.append(median)
            counts.append(int(np.sum(median >= threshold)))
        return {
            "stable_components": int(np.median(counts)),
            "median_similarity": float(np.median(np.concatenate(medians))),
            "_shown_seed": int(np.argmax(counts)),
        }
    bases = [orthonormal_basis(f) for f in factors]
    counts, cosines = [], []
    for t in range(1, len(bases)):
        values = np.linalg.svd(bases[0].T @ bases[t], compute_uv=False)
        values = np.r_[values, np.zeros(max(k - len(values), 0))][:k]
        counts.append(int(np.sum(values >= threshold)))
        cosines.append(values)
    informative = k < factors[0].shape[0]
    return {
        "stable_components": int(np.median(counts)) if informative else None,
        "median_similarity": float(np.median(np.concatenate(cosines))),
    }


def _distinct(factors: list[np.ndarray], nonnegative: bool) -> int | None:
    """Distinct solutions among the seeds at ``nonunique.THRESHOLD`` (as evaluate counts
    them): by matched similarity for NMF, by subspace similarity otherwise; None where that
    measure cannot tell solutions apart (k at least the number of items)."""
    from recfactor.evaluation.nonunique import (
        THRESHOLD,
        distinct_solutions,
        matched_similarity,
        orthonormal_basis,
        subspace_similarity,
    )

    seeds = len(factors)
    if not nonnegative and factors[0].shape[1] >= factors[0].shape[0]:
        return None
    bases = None if nonnegative else [orthonormal_basis(f) for f in factors]
    grid = np.ones((seeds, seeds))
    for a in range(seeds):
        for b in range(a + 1, seeds):
            grid[a, b] = grid[b, a] = (
                matched_similarity(factors[a], factors[b], signed=False)
                if nonnegative
                else subspace_similarity(bases[a], bases[b], bases=True)
            )
    return distinct_solutions(grid, THRESHOLD)


def sparsity(matrix: np.ndarray) -> float:
    """The share of a factor matrix's entries that are zero (below 1e-6 of its largest)."""
    largest = float(np.abs(matrix).max()) if matrix.size else 0.0
    return float(np.mean(np.abs(matrix) <= 1e-6 * largest)) if largest > 0 else 1.0


def instability(factors: list[np.ndarray], signed: bool) -> float:
    """staNMF's instability: for every pair of seeds, one minus the mean of each component's
    best correlation with the other seed's components, in both directions; the mean over
    pairs (Wu et al. 2016, with absolute correlations where signs are arbitrary)."""
    centred = []
    for f in factors:
        c = f - f.mean(axis=0)
        norms = np.linalg.norm(c, axis=0)
        centred.append(c / np.where(norms > 0, norms, 1.0))
    values = []
    for a in range(len(centred)):
        for b in range(a + 1, len(centred)):
            corr = centred[a].T @ centred[b]
            if signed:
                corr = np.abs(corr)
            k = corr.shape[0]
            values.append(1.0 - (corr.max(axis=1).sum() + corr.max(axis=0).sum()) / (2 * k))
    return float(np.mean(values))


def consensus(factors: list[np.ndarray]) -> dict[str, float | None]:
    """The cophenetic correlation and dispersion of the consensus matrix of items clustered
    by their largest component (Brunet et al. 2004; Kim and Park 2007): both 1 when every
    seed puts the same items together."""
    n = factors[0].shape[0]
    together = np.zeros((n, n))
    for f in factors:
        labels = np.argmax(f / np.maximum(f.max(axis=0), 1e-300), axis=1)
        together += labels[:, None] == labels[None, :]
    together /= len(factors)
    dispersion = float(np.mean(4.0 * (together - 0.5) ** 2))
    cophenetic = None
    if n >= 3:
        from scipy.cluster.hierarchy import cophenet, linkage
        from scipy.spatial.distance import squareform

        distance = squareform(1.0 - together, checks=False)
        if np.ptp(distance) > 0:
            cophenetic = float(cophenet(linkage(distance, method="average"), distance)[0])
        else:
            cophenetic = 1.0
    return {"cophenetic": cophenetic, "dispersion": dispersion}


def _conclude(
    report: StabilityReport, metric: str | None, stable: dict[int, np.ndarray], whole: Any
) -> None:
    rows = report.rows
    if metric is not None and rows and metric in rows[0]:
        from recfactor.evaluation.metrics import is_topn

        values = [r[metric] for r in rows]
        pick = int(np.argmax(values) if is_topn(metric) else np.argmin(values))
        report.best_rank = rows[pick]["k"]
    all_stable = [r["k"] for r in rows if r["stable_components"] == r["k"]]
    report.readable_rank = max(all_stable) if all_stable else None
    if report.readable_rank is not None:
        q = stable[report.readable_rank]
        report.components = [_top_items(q[:, f], whole.item_ids) for f in range(q.shape[1])]
    parts = []
    from recfactor.evaluation.metrics import is_topn

    beaten = None
    if report.baseline is not None and report.best_rank is not None and not is_topn(metric):
        best = min(r[metric] for r in rows)
        beaten = best < report.baseline
    if beaten is False:
        parts.append(
            f"every k tried scores worse on {metric} than the baseline algorithm (mu + b_u + b_i, "
            f"{report.baseline:.4f} on the same folds; the best k, {report.best_rank}, "
            f"{min(r[metric] for r in rows):.4f}): its factors add nothing to predictions here; "
            "use the baseline, or another algorithm"
        )
    elif report.best_rank is not None:
        parts.append(
            f"for prediction use k = {report.best_rank} (the best cross-validated {metric}"
            + (f"; the baseline algorithm: {report.baseline:.4f})" if beaten else ")")
        )
    if report.readable_rank is None:
        parts.append("at no k tried are all the factors stable across seeds: do not read them")
    else:
        shown = "; ".join(" + ".join(c) for c in report.components[:8])
        more = " ..." if len(report.components) > 8 else ""
        parts.append(
            f"the factors can be read up to k = {report.readable_rank}, the largest k whose "
            f"components are all stable ({shown}{more})"
        )
    report.reading = "; ".join(parts) + "."


def _top_items(column: np.ndarray, item_ids: np.ndarray, share: float = 0.5) -> list[str]:
    """The items that make up a component: those with at least ``share`` of its largest
    absolute weight (at most five)."""
    weight = np.abs(column)
    if weight.max() <= 0:
        return ["(unused)"]
    order = np.argsort(-weight, kind="stable")[:5]
    return [str(item_ids[j]) for j in order if weight[j] >= share * weight.max()]


def factor_algos(algo: str) -> list[str]:
    """The models of ``algo`` (``svd,als``), each one with factors."""
    from recfactor.models import ALGORITHMS

    factored = [a for a in ALGORITHMS if a != "baseline"]  # every model with factors
    names = list(dict.fromkeys(a.strip() for a in algo.split(",") if a.strip()))
    wrong = [a for a in names if a not in factored]
    if wrong or not names:
        raise ParameterError(
            f"`algo` {', '.join(wrong) or algo!r}: stability compares the factors of "
            + ", ".join(factored),
            hint="the baseline has no factors",
        )
    return names


def checked_params(
    names: list[str], flags: dict[str, Any], feedback: str, ranks: list[int]
) -> dict[str, dict[str, Any]]:
    """Each algorithm's parameters from the flags, every rank checked before the data is
    read."""
    from recfactor.models import model_class
    from recfactor.models.flags import model_params, require_used

    single = len(names) == 1
    if not single:
        require_used(names, flags, feedback)
    params = {name: model_params(name, flags, feedback, strict=single) for name in names}
    for name in names:
        for k in ranks:
            model_class(name).params_class(**{**params[name], "factors": k})
    return params


def cross_validation(dataset: Any, metric: str | None, split: Any) -> tuple[str, Any]:
    """(metric, splits) of the error measured beside each rank: ``metric`` (rmse; ndcg@10 on
    implicit data) on the splits of ``split`` (a SplitSpec, its default rule applied)."""
    from recfactor.evaluation.metrics import parse_metrics

    implicit = dataset.feedback == "implicit"
    chosen = parse_metrics(metric or ("ndcg@10" if implicit else "rmse"))[0]
    splits, _ = split.plan(dataset)
    return chosen, splits
