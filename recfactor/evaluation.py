"""Splits, the algorithms x seeds x folds loop, and the summary across seeds.

Splits are drawn from ``split_seed`` alone and shared by every model seed, so any difference
between seeds comes from the model, never from the data it saw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from recfactor.errors import DataError, ParameterError
from recfactor.metrics import ERROR_METRICS, cutoff, is_topn, topn
from recfactor.models.base import MAX_SEED

if TYPE_CHECKING:  # imported for annotations only: importing data.py imports pandas
    from recfactor.data import Dataset


@dataclass(frozen=True)
class Split:
    """One train/test partition of a dataset (indices into its ratings)."""

    fold: int
    train: np.ndarray
    test: np.ndarray


def _split_rng(seed: int) -> np.random.Generator:
    if seed < 0:
        raise ParameterError("`split_seed` must be at least 0")
    return np.random.default_rng(seed)


def kfold(n_ratings: int, folds: int, seed: int) -> list[Split]:
    """``folds`` disjoint test sets covering every rating once, drawn from ``seed``."""
    if folds < 2:
        raise ParameterError("`folds` must be at least 2")
    if n_ratings < folds:
        raise DataError(
            f"{n_ratings} ratings cannot be cut into {folds} folds",
            hint=f"use `folds` {max(n_ratings, 2)} or fewer",
        )
    order = _split_rng(seed).permutation(n_ratings)
    bounds = np.linspace(0, n_ratings, folds + 1).round().astype(np.int64)
    splits = []
    for f in range(folds):
        test = np.sort(order[bounds[f] : bounds[f + 1]])
        train = np.sort(np.concatenate([order[: bounds[f]], order[bounds[f + 1] :]]))
        splits.append(Split(f, train, test))
    return splits


def holdout(
    n_ratings: int, fraction: float, seed: int, latest: np.ndarray | None = None
) -> list[Split]:
    """One random test set of about ``fraction`` of the ratings (at least one rating); with
    ``latest`` (an order of the ratings, latest first: :func:`latest_first`), the latest
    ``fraction`` instead."""
    if not 0.0 < fraction < 1.0:
        raise ParameterError("`test_fraction` must be between 0 and 1")
    n_test = round(n_ratings * fraction)
    if n_test < 1 or n_test >= n_ratings:
        raise DataError(
            f"a test fraction of {fraction:g} of {n_ratings} ratings leaves an empty side",
            hint="use more data or another `test_fraction`",
        )
    order = _split_rng(seed).permutation(n_ratings) if latest is None else latest
    return [Split(0, np.sort(order[n_test:]), np.sort(order[:n_test]))]


def latest_first(dataset: Dataset, times: np.ndarray) -> np.ndarray:
    """The ratings in order of time, latest first; of two at the same time, the later line
    first (a log is written in the order things happen)."""
    lines = dataset.line_numbers()
    lines = np.arange(dataset.n_ratings) if lines is None else lines
    if len(times) != dataset.n_ratings:
        raise ParameterError("`times` needs one time per rating")
    return np.lexsort((-lines, -np.asarray(times, dtype=np.float64)))


@dataclass(frozen=True)
class AlgoSpec:
    """An algorithm name and the parameters to build it with (the seed is set per run);
    ``label`` names it in the report where one algorithm runs with several settings
    (``"svd:k=50"``)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str | None = None

    @property
    def tag(self) -> str:
        return self.label or self.name


@dataclass
class Report:
    """What ``evaluate`` found; ``to_dict`` is the JSON contract of DESIGN section 2."""

    dataset: dict[str, Any]
    split: dict[str, Any]
    runs: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    nonuniqueness: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "runs": self.runs,
            "summary": self.summary,
            "nonuniqueness": self.nonuniqueness,
        }

    def render(self, fmt: str = "table") -> None:
        """Print the report as ``recfactor evaluate`` does: ``table``, ``csv`` or ``json``."""
        from recfactor.report import render_evaluation

        render_evaluation(self.to_dict(), fmt)


def plan_splits(
    dataset: Dataset,
    folds: int | None = None,
    test_fraction: float | None = None,
    test: str | None = None,
    holdout_per_user: float | None = None,
    split_seed: int = 0,
    note: Callable[[str], None] | None = None,
    times: np.ndarray | None = None,
) -> tuple[list[Split] | None, dict[str, Any]]:
    """The train/test splits asked for (k-fold, 5 folds, by default) and how to describe them;
    ``test`` names a separate test set (then no splits). ``note`` hears of a change to what was
    asked (fewer folds than ratings). ``times`` (one per rating) makes a holdout hold out the
    latest ratings (of all, or of each user) instead of random ones."""
    if test is not None:
        return None, {"kind": "test-file", "test": test, "description": f"test file {test}"}
    if times is not None and test_fraction is None and holdout_per_user is None:
        raise ParameterError("a time-ordered split is a holdout",
                             hint="give `test_fraction` or `holdout_per_user`")  # fmt: skip
    drawn = f"split seed {split_seed}" if times is None else "the latest held out"
    if test_fraction is not None:
        latest = None if times is None else latest_first(dataset, times)
        return holdout(dataset.n_ratings, test_fraction, split_seed, latest), {
            "kind": "holdout",
            "test_fraction": test_fraction,
            "split_seed": split_seed,
            "time_ordered": times is not None,
            "description": f"holdout {test_fraction:g}, {drawn}",
        }
    if holdout_per_user is not None:
        return per_user_holdout(dataset, holdout_per_user, split_seed, times), {
            "kind": "per-user holdout",
            "holdout_per_user": holdout_per_user,
            "split_seed": split_seed,
            "time_ordered": times is not None,
            "description": f"per-user holdout {holdout_per_user:g}, {drawn}",
        }
    wanted = 5 if folds is None else folds
    if wanted < 2:
        raise ParameterError("`folds` must be at least 2")
    if dataset.n_ratings < 2:
        raise DataError(
            f"{dataset.source}: {dataset.n_ratings} rating is too few to hold any out",
            hint="evaluate needs at least two ratings",
        )
    k = min(wanted, dataset.n_ratings)
    if k < wanted and note is not None:
        note(f"note: only {dataset.n_ratings} ratings; using {k} folds")
    return kfold(dataset.n_ratings, k, split_seed), {
        "kind": "kfold",
        "folds": k,
        "split_seed": split_seed,
        "description": f"{k}-fold, split seed {split_seed}",
    }


@dataclass(frozen=True)
class EvalConfig:
    """What :func:`evaluate` runs.

    ``algos``: algorithm names (``"svd"``), :class:`AlgoSpec` (a name and parameters) or
    unfitted models (``SVD(factors=50)``: their parameters, the seed aside). ``seeds``: a count
    (0..N-1) or the seeds themselves. The split: ``folds`` (k-fold; 5 by default for ratings),
    ``test_fraction`` (one random holdout), ``holdout_per_user`` (N ratings, or a fraction, of
    every user; 0.2 by default for implicit data) or ``test`` (a separate Dataset), drawn from
    ``split_seed``. ``metrics``: ``rmse``, ``mae``, ``ndcg@10``, ... (default: rmse and mae for
    ratings, the top-N metrics at 10 for implicit data). ``jobs``: cores (default all); the
    report does not depend on it.
    """

    algos: Sequence[Any] = ("baseline", "svd")
    seeds: int | Sequence[int] = 3
    folds: int | None = None
    test_fraction: float | None = None
    holdout_per_user: float | None = None
    test: Dataset | None = None
    split_seed: int = 0
    metrics: Sequence[str] | None = None
    relevant_threshold: float = 4.0
    jobs: int | None = None
    # Each rating's time (recfactor.times.read_times): a holdout then holds out the latest.
    times: np.ndarray | None = None


def evaluate(
    data: Dataset,
    config: EvalConfig | None = None,
    *,
    rating_scale: tuple[float, float] | None = None,
    progress: Callable[[], None] | None = None,
    note: Callable[[str], None] | None = None,
    **settings: Any,
) -> Report:
    """Every algorithm of ``config`` (or of ``EvalConfig(**settings)``) under every seed on
    every split of ``data``: the report ``recfactor evaluate`` prints (``report.render()``,
    ``report.to_dict()``). ``rating_scale`` clips predictions (default: the ratings' range);
    ``progress()`` is called as each fit ends; ``note(text)`` hears what was changed from what
    was asked (fewer folds than asked, svd's default rank lowered for a small matrix)."""
    if config is None:
        config = EvalConfig(**settings)
    elif settings:
        raise ParameterError("give either an EvalConfig or its settings, not both")
    seeds, metrics = seed_list(config), metric_list(config, data.feedback)
    implicit = data.feedback == "implicit"
    given = (config.test, config.test_fraction, config.folds, config.holdout_per_user)
    chosen = [x is not None for x in given]
    if sum(chosen) > 1:
        raise ParameterError("give one of `test`, `test_fraction`, `folds` and `holdout_per_user`")
    holdout_size = config.holdout_per_user
    if implicit and sum(chosen) == 0:
        holdout_size = 0.2
    test_name = None if config.test is None else config.test.source
    splits, info = plan_splits(data, config.folds, config.test_fraction, test_name,
                               holdout_size, config.split_seed, note, config.times)  # fmt: skip
    algos = _accepted(_within_ranks([_as_spec(a) for a in config.algos], data, splits, note),
                      data, note)  # fmt: skip
    return cross_validate(
        data, algos, seeds, metrics, splits=splits, test=config.test, split_info=info,
        rating_scale=rating_scale, progress=progress,
        relevant_threshold=config.relevant_threshold if data.feedback == "explicit" else None,
        jobs=config.jobs,
    )  # fmt: skip


def score_model(
    model: Any,
    test: Dataset,
    metrics: Sequence[str] | None = None,
    relevant_threshold: float = 4.0,
) -> dict[str, Any]:
    """A fitted model's scores on ``test`` as it stands, with no fit: ``metrics`` (default:
    rmse and mae for ratings, the top-N metrics at 10 for implicit data), and how many test
    pairs were cold (scored by the fallback, as in use)."""
    from recfactor.dataset import index_in

    model._require_fitted()
    feedback = model.feedback_ or test.feedback
    wanted = metric_list(EvalConfig(metrics=metrics), feedback)
    errors = [m for m in wanted if not is_topn(m)]
    if errors and feedback != "explicit":
        raise ParameterError(f"{', '.join(errors)} measure rating error, which implicit "
                             "feedback does not have", hint="use top-N metrics")  # fmt: skip
    users = index_in(model.user_ids_, test.user_ids)[test.users]
    items = index_in(model.item_ids_, test.item_ids)[test.items]
    estimate = model.predict_index(users, items)
    scores: dict[str, Any] = {m: ERROR_METRICS[m](test.ratings, estimate) for m in errors}
    threshold = relevant_threshold if feedback == "explicit" else None
    scores.update(_topn_scores(model, test, users, items, wanted, threshold))
    return {"metrics": {m: scores[m] for m in wanted}, "pairs": test.n_ratings,
            "cold": int(((users < 0) | (items < 0)).sum())}  # fmt: skip


def _accepted(algos: list[AlgoSpec], data: Dataset, note: Any) -> list[AlgoSpec]:
    """The algorithms that accept ``data`` (NMF refuses negative ratings, ...): beside others,
    one that refuses is left out, and ``note`` hears which and why; alone, its refusal is the
    error."""
    from recfactor.errors import RecfactorError
    from recfactor.models import model_class

    kept, refusals = [], []
    for spec in algos:
        cls = model_class(spec.name)
        try:
            cls(cls.params_class(**spec.params)).validate(data)
            kept.append(spec)
        except RecfactorError as exc:
            refusals.append((spec, exc))
    if not kept:
        raise refusals[0][1]
    for spec, exc in refusals:
        if note is not None:
            note(f"note: left out {spec.tag}: {exc.message}")
    return kept


def seed_list(config: EvalConfig) -> list[int]:
    """``config``'s seeds: 0..N-1 for a count, else the seeds given (each once)."""
    if isinstance(config.seeds, int) and not 1 <= config.seeds <= MAX_SEEDS:
        raise ParameterError(f"`seeds`: a count must be between 1 and {MAX_SEEDS}")
    seeds = (list(range(config.seeds)) if isinstance(config.seeds, int)
             else list(dict.fromkeys(int(s) for s in config.seeds)))  # fmt: skip
    if not seeds or any(not 0 <= s <= MAX_SEED for s in seeds) or len(seeds) > MAX_SEEDS:
        raise ParameterError(f"seeds must be a count up to {MAX_SEEDS} or as many integers "
                             f"between 0 and {MAX_SEED}")  # fmt: skip
    return seeds


def metric_list(config: EvalConfig, feedback: str) -> list[str]:
    """``config``'s metrics (rmse and mae for ratings, the top-N metrics at 10 for implicit
    feedback by default), checked."""
    from recfactor.metrics import parse_metrics

    return parse_metrics(
        ",".join(config.metrics) if config.metrics else
        ("precision,recall,ndcg,map,coverage" if feedback == "implicit" else "rmse,mae")
    )  # fmt: skip


def _within_ranks(
    algos: list[AlgoSpec], data: Dataset, splits: Sequence[Split] | None, note: Any
) -> list[AlgoSpec]:
    """svd's default rank lowered where a truncated SVD of the data, or of a training fold,
    could not take it (``models.svd.default_rank_within``)."""
    from recfactor.models.svd import default_rank_within

    def shapes() -> list[tuple[int, int]]:  # of the whole data and each training fold
        def used(index: np.ndarray, n: int) -> int:
            return int(np.count_nonzero(np.bincount(index, minlength=n)))

        return [(data.n_users, data.n_items)] + [
            (used(data.users[s.train], data.n_users), used(data.items[s.train], data.n_items))
            for s in splits or []
        ]

    out = []
    for spec in algos:
        params = spec.params
        if spec.name == "svd":
            params, said = default_rank_within(spec.params, data.feedback, shapes)
            if said is not None and note is not None:
                note(said)
        out.append(AlgoSpec(spec.name, params, spec.label))
    return out


def _as_spec(algo: Any) -> AlgoSpec:
    if isinstance(algo, AlgoSpec):
        return algo
    if isinstance(algo, str):
        from recfactor.models import model_class

        model_class(algo)  # an unknown name fails here, with the names that exist
        return AlgoSpec(algo)
    params = getattr(algo, "params", None)
    if params is None or not hasattr(algo, "name"):
        raise ParameterError(f"not an algorithm: {algo!r}", hint="give a name such as 'svd'")
    settings = params.to_dict()
    settings.pop("seed", None)
    return AlgoSpec(algo.name, settings)


def cross_validate(
    train: Dataset,
    algos: Sequence[AlgoSpec],
    seeds: Sequence[int],
    metrics: Sequence[str],
    splits: Sequence[Split] | None = None,
    test: Dataset | None = None,
    split_info: dict[str, Any] | None = None,
    rating_scale: tuple[float, float] | None = None,
    progress: Callable[[], None] | None = None,
    relevant_threshold: float | None = None,
    jobs: int | None = None,
    fit: Callable[..., None] | None = None,
) -> Report:
    """Fit every algorithm under every seed on every split and score the test ratings.

    Either ``splits`` (partitions of ``train``) or ``test`` (a separate test set, matched by
    ID) is given. Ratings whose user or item is absent from a training fold are predicted by
    the cold-start fallback, as they would be in use. Top-N metrics (``ndcg@10``, ...) rank
    every item a user did not have in the training fold; the user's test items are the
    relevant ones (for ratings, those rated at least ``relevant_threshold``). ``jobs`` is the
    number of cores to use (default all): that many worker processes of one thread each (or,
    for small evaluations, this process with that many threads); every run is deterministic,
    so the report does not depend on it.

    ``fit(model, dataset, fold, rating_scale)`` fits on another engine (Spark) instead of
    ``model.fit``; ``fold`` is the split's number, or ``WHOLE`` for all the data. Its fits run
    one at a time, in this process.
    """
    if (splits is None) == (test is None):
        raise ValueError("give exactly one of splits and test")
    errors = [m for m in metrics if not is_topn(m)]
    if errors and train.feedback != "explicit":
        raise ParameterError(
            f"{', '.join(errors)} measure rating error, which implicit feedback does not have",
            hint="use top-N metrics: `metric` ndcg@10,precision@10,recall@10,map@10,coverage@10",
        )
    ranked = [m for m in metrics if is_topn(m)]
    held = test if test is not None else train
    if ranked and held.feedback == "explicit" and relevant_threshold is not None:
        if not (held.ratings >= relevant_threshold).any():
            raise DataError(
                f"{held.source}: no rating is {relevant_threshold:g} or more, so "
                f"{', '.join(ranked)} would find no relevant items",
                hint=f"lower `relevant_threshold` (the ratings run {held.ratings.min():g} to "
                f"{held.ratings.max():g})",
            )
    if rating_scale is None and train.feedback == "explicit":
        rating_scale = (float(train.ratings.min()), float(train.ratings.max()))
    folds = _materialise(train, splits, test)
    tasks = [
        (spec, int(seed), position)
        for spec in algos
        for seed in seeds
        for position in range(len(folds))
    ]
    # With several seeds, each is also fitted once to all the data: the factors compared
    # across seeds are those of the data set itself, not of a fold that lacks its test part
    # (on the food matrix a 20% holdout alone turns one NMF solution into two).
    whole = train.compact()
    if len(seeds) > 1:
        # The longer fits to all the data first: in worker processes they then run beside the
        # folds' fits.
        tasks = [(spec, int(seed), WHOLE) for spec in algos for seed in seeds] + tasks
    context = (folds, metrics, rating_scale, relevant_threshold, whole, fit)
    # Per algorithm and seed: item factors from the fit to all the data, and the factor part
    # p.q on the first fold's test pairs (as the predictions, on data no seed trained on).
    factors: dict[str, dict[int, np.ndarray | None]] = {spec.tag: {} for spec in algos}
    inner: dict[str, dict[int, np.ndarray | None]] = {spec.tag: {} for spec in algos}
    comparisons: dict[str, dict[str, Any] | None] = {}
    # The comparisons of an algorithm's seeds are made as soon as their fits are in, while
    # worker processes go on with the other folds.
    waiting = {spec.tag: 0 for spec in algos}
    for spec, _, position in tasks:
        waiting[spec.tag] += position in (WHOLE, 0)

    def on_result(k: int, result: tuple) -> None:
        spec, seed, position = tasks[k]
        view = result[2]
        if position == WHOLE:
            factors[spec.tag][seed] = view[0]
        else:
            if position == 0:
                inner[spec.tag][seed] = view[1]
            if progress is not None:
                progress()
        if position in (WHOLE, 0):
            waiting[spec.tag] -= 1
            if waiting[spec.tag] == 0:
                comparisons[spec.tag] = _compare(spec, seeds, factors[spec.tag], inner[spec.tag])

    if jobs is None:
        from recfactor.workers import available_cores

        jobs = available_cores()
    if fit is not None:
        jobs = 1
    outcomes = _run_tasks(tasks, context, jobs, on_result)
    runs: list[dict[str, Any]] = []
    test_predictions: dict[str, dict[int, list[np.ndarray]]] = {}
    for (spec, seed, position), (run, estimate, _) in zip(tasks, outcomes):
        if position == WHOLE:
            continue
        runs.append(run)
        test_predictions.setdefault(spec.tag, {}).setdefault(seed, []).append(estimate)
    joined = {
        name: {seed: np.concatenate(parts) for seed, parts in by_seed.items()}
        for name, by_seed in test_predictions.items()
    }
    dataset_info = {
        "source": train.source,
        "users": train.n_users,
        "items": train.n_items,
        "ratings": train.n_ratings,
        "feedback": train.feedback,
    }
    summary = summarise(runs, metrics)
    return Report(
        dataset=dataset_info,
        split={**(split_info or {}), "relevant_threshold": relevant_threshold},
        runs=runs,
        summary=summary,
        nonuniqueness=[
            _nonuniqueness(spec, comparisons[spec.tag], joined[spec.tag], summary, metrics[0], runs)
            for spec in algos
        ],
    )


def _run_one(
    spec: AlgoSpec, seed: int, position: int, context: tuple
) -> tuple[dict[str, Any], np.ndarray, tuple[np.ndarray | None, np.ndarray | None]]:
    """Fit one (algorithm, seed, fold) and score it: (run record, test predictions, factors).

    For the ``WHOLE`` position: fit all the data, and return only its factors."""
    from recfactor.models import model_class

    folds, metrics, rating_scale, relevant_threshold, whole, fit = context
    cls = model_class(spec.name)
    model = cls(cls.params_class(**{**spec.params, "seed": seed}))
    if fit is None:

        def fit(model: Any, dataset: Dataset, fold: int, rating_scale: Any) -> None:
            model.fit(dataset, rating_scale=rating_scale, training_error=False)

    if position == WHOLE:
        fit(model, whole, WHOLE, rating_scale)
        latent = model.latent_factors()
        return None, None, (None if latent is None else latent[1].astype(float), None)
    fold, fold_train, fold_test, (test_users, test_items) = folds[position]
    fit(model, fold_train, fold, rating_scale)
    estimate = model.predict_index(test_users, test_items)
    scores = {m: ERROR_METRICS[m](fold_test.ratings, estimate) for m in metrics if not is_topn(m)}
    scores.update(
        _topn_scores(model, fold_test, test_users, test_items, metrics, relevant_threshold)
    )
    run = {
        "algo": spec.tag,
        "seed": seed,
        "fold": fold,
        "metrics": {m: scores[m] for m in metrics},
        "fit_seconds": model.fit_seconds_,  # excludes the one-off kernel load
    }
    bias_only = _bias_only(model, test_users, test_items)
    if bias_only is not None:
        # The same model without its factors: what the factors add, measured, not assumed.
        run["bias_only_metrics"] = {
            m: ERROR_METRICS[m](fold_test.ratings, bias_only) for m in metrics if not is_topn(m)
        }
    view = _factor_view(model, test_users, test_items) if position == 0 else (None, None)
    return run, estimate, view


# A task on this "fold" fits all the data, for the factor comparisons across seeds.
WHOLE = -1


def _bias_only(model: Any, u: np.ndarray, i: np.ndarray) -> np.ndarray | None:
    """The predictions of ``model``'s own ``mu + b_u + b_i`` (clipped as its predictions are),
    for models whose predictions add factors to biases; None for others."""
    if not model.uses_bias_ or model.user_factors_ is None or model.feedback_ != "explicit":
        return None
    estimate = np.full(len(u), model.global_mean_)
    known_u, known_i = u >= 0, i >= 0
    if model.user_bias_ is not None:
        estimate[known_u] += model.user_bias_[u[known_u]]
    if model.item_bias_ is not None:
        estimate[known_i] += model.item_bias_[i[known_i]]
    return model._clip(estimate)


def _nonnegative(spec: AlgoSpec) -> bool:
    return spec.name == "nmf" or bool(spec.params.get("nonnegative"))


# Below this many ratings x fits, worker processes cost more to start than they save.
PARALLEL_MIN_WORK = 2_000_000


def parallel_pays(ratings_per_fit: float, fits: int, jobs: int) -> bool:
    """Whether ``fits`` fits of about ``ratings_per_fit`` ratings are worth worker processes."""
    return jobs > 1 and fits > 1 and ratings_per_fit * fits >= PARALLEL_MIN_WORK


def _run_tasks(
    tasks: list, context: tuple, jobs: int, on_result: Callable[[int, Any], None]
) -> list:
    """Every task's result, in task order, from this process or ``jobs`` worker processes;
    ``on_result(k, result)`` is called as task ``k`` finishes."""
    folds = context[0]
    ratings_per_fit = sum(len(fold[1].ratings) for fold in folds) / len(folds)
    if not parallel_pays(ratings_per_fit, len(tasks), jobs):
        # In this process: jobs caps the compiled kernels' threads, so --jobs 1 is one core.
        # BLAS runs one thread, as in the workers, so that results do not depend on --jobs.
        import numba

        from recfactor import blas

        before = numba.get_num_threads()
        numba.set_num_threads(max(1, min(jobs, numba.config.NUMBA_NUM_THREADS)))
        try:
            out = []
            with blas.threads(1):
                for k, task in enumerate(tasks):
                    out.append(_run_one(*task, context))
                    on_result(k, out[-1])
        finally:
            numba.set_num_threads(before)
        return out
    from recfactor import blas
    from recfactor.workers import Workers

    # The workers get the folds once, when they start (by inheritance where they are forked),
    # and each task names only its algorithm, seed and fold. One BLAS thread here before they
    # fork, so that they inherit it rather than restart OpenBLAS's threads to set it.
    with (
        blas.threads(1),
        Workers(min(jobs, len(tasks)), [spec.name for spec, _, _ in tasks], context) as workers,
    ):
        return workers.run(_run_one, tasks, on_result)


def _factor_view(
    model: Any, u: np.ndarray, i: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """A model's item factors and its factor part p_u . q_i on the test pairs (user and item
    indices in the model, -1 unknown) it knows."""
    from recfactor.models.base import pair_dots

    if model.item_factors_ is None:
        return None, None
    known = (u >= 0) & (i >= 0)
    # As the predictions compute it, a block of pairs at a time: a float64 copy of every
    # test pair's factor rows took 1 GB and 2 s per seed on a million ratings.
    inner = pair_dots(model.user_factors_, model.item_factors_, u[known], i[known])
    # The factors compared across seeds are one fit's (bpmf: its last draw's); the factor
    # part is what the model predicts with.
    return model.latent_factors()[1].astype(np.float64), inner


def _compare(
    spec: AlgoSpec,
    seeds: Sequence[int],
    factors: dict[int, np.ndarray | None],
    inner: dict[int, np.ndarray | None],
) -> dict[str, Any] | None:
    """The agreement measures of one algorithm's seeds (see ``nonunique.compare``)."""
    from recfactor import blas
    from recfactor.nonunique import compare

    item_factors = [factors.get(int(seed)) for seed in seeds]
    with blas.threads(1):  # as the tasks, so that nothing in a report depends on --jobs
        return compare(item_factors, [inner.get(int(seed)) for seed in seeds], _nonnegative(spec))


def _nonuniqueness(
    spec: AlgoSpec,
    comparison: dict[str, Any] | None,
    predictions: dict[int, np.ndarray],
    summary: list[dict[str, Any]],
    metric: str,
    runs: list[dict[str, Any]],
) -> dict[str, Any]:
    from recfactor.nonunique import with_reading

    disagreement = prediction_disagreement(list(predictions.values()))
    row = next(r for r in summary if r["algo"] == spec.tag and r["metric"] == metric)
    own = [r for r in runs if r["algo"] == spec.tag]
    gain = None
    if own and all(metric in r.get("bias_only_metrics", {}) for r in own):
        gain = float(np.mean([r["bias_only_metrics"][metric] - r["metrics"][metric] for r in own]))
    record = with_reading(
        spec.name,
        comparison,
        row["max"] - row["min"],
        metric,
        disagreement["prediction_disagreement"],
        gain,
    )
    return {"algo": spec.tag, **disagreement, **record}


def _topn_scores(
    model: Any,
    test: Dataset,
    test_users: np.ndarray,
    test_items: np.ndarray,
    metrics: Sequence[str],
    threshold: float | None,
) -> dict[str, float]:
    """Top-N metrics of ``model`` on the users of ``test`` that it knows (``test_users`` and
    ``test_items``: each test rating's indices in the model, -1 unknown)."""
    wanted = [m for m in metrics if is_topn(m)]
    if not wanted:
        return {}
    relevant = np.ones(test.n_ratings, dtype=bool)
    if test.feedback == "explicit" and threshold is not None:
        relevant = test.ratings >= threshold
    users = test_users[relevant]
    items = test_items[relevant]
    known_users = np.unique(users[users >= 0])
    row_of = np.full(len(model.user_ids_), -1, dtype=np.int64)
    row_of[known_users] = np.arange(len(known_users))
    counted = users >= 0
    n_relevant = np.bincount(row_of[users[counted]], minlength=len(known_users))
    reachable = counted & (items >= 0)
    largest = max(cutoff(m) for m in wanted)
    top, _ = model.recommend_index(known_users, largest, exclude_seen=True)
    out = {}
    for k in sorted({cutoff(m) for m in wanted}):
        values = topn(top, row_of[users[reachable]], items[reachable], n_relevant,
                      len(model.item_ids_), k)  # fmt: skip
        for name, value in values.items():
            out[f"{name}@{k}"] = value
    return out


def per_user_holdout(
    dataset: Dataset, size: float, seed: int, times: np.ndarray | None = None
) -> list[Split]:
    """For every user, hold out ``size`` of their ratings: a count when ``size >= 1``, else a
    fraction (rounded). Every user keeps at least one training rating. Drawn from ``seed``;
    with ``times`` (one per rating), each user's latest ratings instead."""
    if size <= 0:
        raise ParameterError("`holdout_per_user` must be positive")
    if times is None:
        rank = _split_rng(seed).random(dataset.n_ratings)
    else:
        rank = np.empty(dataset.n_ratings)
        rank[latest_first(dataset, times)] = np.arange(dataset.n_ratings)
    order = np.lexsort((rank, dataset.users))
    counts = np.bincount(dataset.users, minlength=dataset.n_users)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    position = np.empty(dataset.n_ratings, dtype=np.int64)
    position[order] = np.arange(dataset.n_ratings) - starts[dataset.users[order]]
    wanted = np.full(dataset.n_users, int(size)) if size >= 1 else np.rint(counts * size)
    n_test = np.minimum(wanted.astype(np.int64), counts - 1)
    is_test = position < n_test[dataset.users]
    if not is_test.any():
        raise DataError(
            f"{dataset.source}: a per-user holdout of {size:g} leaves no test ratings",
            hint="hold out more per user, or use `folds`",
        )
    return [Split(0, np.flatnonzero(~is_test), np.flatnonzero(is_test))]


def _materialise(
    train: Dataset, splits: Sequence[Split] | None, test: Dataset | None
) -> list[tuple[int, Dataset, Dataset, tuple[np.ndarray, np.ndarray]]]:
    """(fold, training set, test set, test ratings' user and item indices in the training
    set) per split: a model keeps its training set's vocabularies, so the lookup by ID is made
    once per fold here, not once per model."""
    if test is not None:
        pairs = [(0, train.compact(), test)]
    else:
        assert splits is not None
        pairs = [(s.fold, train.subset(s.train).compact(), train.subset(s.test)) for s in splits]
    return [(fold, fit, held, held.positions_in(fit)) for fold, fit, held in pairs]


def seed_means(runs: Sequence[dict[str, Any]], metric: str) -> dict[tuple[str, int], float]:
    """Each (algo, seed)'s metric averaged over folds."""
    grouped: dict[tuple[str, int], list[float]] = {}
    for run in runs:
        grouped.setdefault((run["algo"], run["seed"]), []).append(run["metrics"][metric])
    return {key: float(np.mean(values)) for key, values in grouped.items()}


def summarise(runs: Sequence[dict[str, Any]], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Mean, standard deviation, min and max across seeds of the fold-averaged metrics."""
    summary = []
    algos = list(dict.fromkeys(run["algo"] for run in runs))
    for metric in metrics:
        means = seed_means(runs, metric)
        for algo in algos:
            values = np.array([v for (a, _), v in means.items() if a == algo])
            summary.append(
                {
                    "algo": algo,
                    "metric": metric,
                    "mean": float(values.mean()),
                    "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                    "min": float(values.min()),
                    "max": float(values.max()),
                }
            )
    return summary


def prediction_disagreement(predictions: Sequence[np.ndarray]) -> dict[str, float | None]:
    """How far the seeds' predictions on the same test ratings are from each other.

    ``prediction_disagreement`` is the RMS difference averaged over all pairs of seeds;
    ``max_prediction_spread`` the largest spread (max - min over seeds) of any single prediction.
    Both are None with a single seed.
    """
    if len(predictions) < 2:
        return {"prediction_disagreement": None, "max_prediction_spread": None}
    stack = np.vstack(predictions)
    pairs = [
        float(np.sqrt(np.mean((stack[a] - stack[b]) ** 2)))
        for a in range(len(stack))
        for b in range(a + 1, len(stack))
    ]
    spread = stack.max(axis=0) - stack.min(axis=0)
    return {
        "prediction_disagreement": float(np.mean(pairs)),
        "max_prediction_spread": float(spread.max()),
    }


# Each seed is a model fitted per fold: beyond this, a count is a typo.
MAX_SEEDS = 10_000


def parse_seeds(text: str) -> list[int]:
    """``"5"`` means seeds 0..4; ``"1,7,42"`` means those seeds."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ParameterError(
            f"`seeds` takes a count or a comma-separated list of integers, not {text!r}"
        ) from None
    if not values:
        raise ParameterError("`seeds` is empty")
    if len(values) == 1 and "," not in text:
        if not 1 <= values[0] <= MAX_SEEDS:
            raise ParameterError(
                f"`seeds`: a count must be between 1 and {MAX_SEEDS}",
                hint="give a list (1,7,42) for particular seeds",
            )
        return list(range(values[0]))
    if any(not 0 <= v <= MAX_SEED for v in values):
        raise ParameterError(f"seeds must be between 0 and {MAX_SEED}")
    if len(values) > MAX_SEEDS:
        raise ParameterError(f"`seeds` lists more than {MAX_SEEDS} seeds")
    return list(dict.fromkeys(values))
