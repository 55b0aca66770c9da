"""The algorithms x seeds x folds loop: each run fitted and scored (in worker processes where
that pays), then the summary across seeds and what changes between them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from recfactor.errors import DataError, ParameterError
from recfactor.evaluation.config import (
    AlgoSpec,
    EvalConfig,
    Report,
    as_spec,
    metric_list,
    seed_list,
)
from recfactor.evaluation.metrics import ERROR_METRICS, cutoff, is_topn, topn
from recfactor.evaluation.seeds import prediction_disagreement, summarise
from recfactor.evaluation.splits import Split, SplitSpec
from recfactor.running.workers import parallel_pays

if TYPE_CHECKING:  # imported for annotations only: importing the readers imports pandas
    from recfactor.dataset import Dataset


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
    test_name = None if config.test is None else config.test.source
    split = SplitSpec(config.folds, config.test_fraction, config.holdout_per_user, test_name,
                      config.split_seed, time_ordered=config.times is not None)  # fmt: skip
    splits, info = split.plan(data, note, config.times)
    algos = _accepted(_within_ranks([as_spec(a) for a in config.algos], data, splits, note),
                      data, note)  # fmt: skip
    report = cross_validate(
        data, algos, seeds, metrics, splits=splits, test=config.test, split_info=info,
        rating_scale=rating_scale, progress=progress,
        relevant_threshold=config.relevant_threshold if data.feedback == "explicit" else None,
        jobs=config.jobs, cluster=config.cluster,
    )  # fmt: skip
    _note_undefined(report, metrics, note)
    return report


def _note_undefined(report: Report, metrics: Sequence[str], note: Callable | None) -> None:
    """A note for each metric no run could score (shown as nan): no test user had an item
    to rank that counts as relevant (one item in all, say)."""
    for metric in metrics:
        values = [run["metrics"].get(metric) for run in report.runs]
        if note is not None and values and not any(v is not None and v == v for v in values):
            note(f"note: {metric} is undefined on every split: no test user had an unseen "
                 "relevant item to rank")  # fmt: skip


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
    estimate = estimated(model, test, users, items)
    scores: dict[str, Any] = {m: ERROR_METRICS[m](test.ratings, estimate) for m in errors}
    threshold = relevant_threshold if feedback == "explicit" else None
    scores.update(_topn_scores(model, test, users, items, wanted, threshold))
    return {"metrics": {m: scores[m] for m in wanted}, "pairs": test.n_ratings,
            "cold": int(((users < 0) | (items < 0)).sum())}  # fmt: skip


def estimated(model: Any, held: Dataset, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """The model's predictions of the held-out pairs: at each rating's time where the model
    has a day context and the held-out ratings their times, as predict does on a file of
    pairs with times."""
    estimate = model.predict_index(users, items)
    if getattr(model, "day_factors_", None) is not None and held.times is not None:
        estimate = model.at_days(estimate, users, items, held.times)
    return estimate


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
    cluster: Any = None,
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
    one at a time, in this process. ``cluster``: a Spark cluster whose executors run each
    (algorithm, seed, fold) fit as one task, with this engine (the same report).
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
    yardstick = _baseline_predictions(folds, rating_scale, train.feedback, algos)
    context = (folds, metrics, rating_scale, relevant_threshold, whole, fit, yardstick)
    # Per algorithm and seed: item factors from the fit to all the data, and the factor part
    # p.q on the first fold's test pairs (as the predictions, on data no seed trained on).
    factors: dict[str, dict[int, np.ndarray | None]] = {spec.tag: {} for spec in algos}
    inner: dict[str, dict[int, np.ndarray | None]] = {spec.tag: {} for spec in algos}
    lists: dict[str, dict[int, np.ndarray]] = {spec.tag: {} for spec in algos}
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
            lists[spec.tag][seed] = view[2]
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
        from recfactor.running.workers import available_cores

        jobs = available_cores()
    if fit is not None:
        jobs = 1
    if cluster is not None:
        from recfactor.evaluation import fanout

        outcomes = fanout.run(cluster, _run_one, tasks, context, on_result)
    else:
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
            _with_lists(
                _nonuniqueness(
                    spec, comparisons[spec.tag], joined[spec.tag], summary, metrics[0], runs
                ),
                _list_agreement(whole, [lists[spec.tag].get(int(x)) for x in seeds]),
            )
            for spec in algos
        ],
    )


def _run_one(
    spec: AlgoSpec, seed: int, position: int, context: tuple
) -> tuple[dict[str, Any], np.ndarray, tuple[np.ndarray | None, np.ndarray | None]]:
    """Fit one (algorithm, seed, fold) and score it: (run record, test predictions, factors).

    For the ``WHOLE`` position: fit all the data, and return only its factors."""
    from recfactor.models import model_class
    from recfactor.models.ensemble import spaced_seed

    folds, metrics, rating_scale, relevant_threshold, whole, fit, yardstick = context
    cls = model_class(spec.name)
    own_seed = spaced_seed(seed, spec.params)
    model = cls(cls.params_class(**{**spec.params, "seed": own_seed}))
    if fit is None:

        def fit(model: Any, dataset: Dataset, fold: int, rating_scale: Any) -> None:
            model.fit(dataset, rating_scale=rating_scale, training_error=False)

    if position == WHOLE:
        from recfactor.evaluation.lists import list_users, top_lists

        fit(model, whole, WHOLE, rating_scale)
        latent = model.latent_factors()
        lists = top_lists(model, list_users(whole.n_users), LIST_N)
        return None, None, (None if latent is None else latent[1].astype(float), None, lists)
    fold, fold_train, fold_test, (test_users, test_items) = folds[position]
    fit(model, fold_train, fold, rating_scale)
    estimate = estimated(model, fold_test, test_users, test_items)
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
    bias_only = None if yardstick is None or not _measured(model) else yardstick[position]
    if bias_only is not None:
        # The baseline algorithm on the same fold: what the factors add, measured.
        run["bias_only_metrics"] = {
            m: ERROR_METRICS[m](fold_test.ratings, bias_only) for m in metrics if not is_topn(m)
        }
    view = _factor_view(model, test_users, test_items) if position == 0 else (None, None)
    return run, estimate, view


# A task on this "fold" fits all the data, for the factor comparisons across seeds.
WHOLE = -1
# The length of the lists compared across seeds (each user's top-N on the fit to all the data).
LIST_N = 10


def _baseline_predictions(
    folds: list, rating_scale: Any, feedback: str, algos: Sequence[AlgoSpec]
) -> list[np.ndarray] | None:
    """Each fold's test predictions by the baseline algorithm (``mu + b_u + b_i``, recfactor's
    baseline at its defaults) fitted alone to the fold's training set: what a model with
    factors is measured against, made once per fold, not once per model and seed. None for
    implicit data, or when no algorithm has factors. (A jointly fitted model's own biases are
    no standalone predictor: on one set they scored twice as far from the baseline as the
    factors' real gain.)"""
    if feedback != "explicit" or all(spec.name == "baseline" for spec in algos):
        return None
    from recfactor.models import model_class

    out = []
    for _, fold_train, _, (users, items) in folds:
        baseline = model_class("baseline")().fit(fold_train, rating_scale=rating_scale,
                                                 training_error=False)  # fmt: skip
        out.append(baseline.predict_index(users, items))
    return out


def _measured(model: Any) -> bool:
    """Whether the model's factors are measured against the baseline: explicit, with factors."""
    return (
        model.name != "baseline"
        and model.user_factors_ is not None
        and model.feedback_ == "explicit"
    )


def _with_lists(record: dict[str, Any], lists: dict[str, Any] | None) -> dict[str, Any]:
    """A non-uniqueness record with its list agreement, and the reading that says it."""
    if lists is None:
        return record
    from recfactor.evaluation.nonunique import list_reading

    reading = record.get("reading") or ""
    return {**record, **lists, "reading": reading.rstrip(".") + "; " + list_reading(lists) + "."}


def _list_agreement(whole: Dataset, lists: list[np.ndarray | None]) -> dict[str, Any] | None:
    """How the seeds' top-N lists on ``whole`` agree (recfactor.evaluation.lists)."""
    from recfactor.evaluation.lists import compare_lists, list_users

    users = list_users(whole.n_users)
    activity = np.bincount(whole.users, minlength=whole.n_users)
    popularity = np.bincount(whole.items, minlength=whole.n_items)
    return compare_lists(lists, whole.n_items - activity[users], activity[users], popularity)


def _nonnegative(spec: AlgoSpec) -> bool:
    return spec.name == "nmf" or bool(spec.params.get("nonnegative"))


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

        from recfactor.running import blas

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
    from recfactor.running import blas
    from recfactor.running.workers import Workers

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
    from recfactor.models.scoring import pair_dots

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
    from recfactor.evaluation.nonunique import compare
    from recfactor.running import blas

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
    from recfactor.evaluation.nonunique import with_reading

    disagreement = prediction_disagreement(list(predictions.values()))
    row = next(r for r in summary if r["algo"] == spec.tag and r["metric"] == metric)
    own = [r for r in runs if r["algo"] == spec.tag]
    gain = None
    if own and all(metric in r.get("bias_only_metrics", {}) for r in own):
        gain = float(np.mean([r["bias_only_metrics"][metric] - r["metrics"][metric] for r in own]))
    by_fold: dict[int, list[float]] = {}
    for r in own:
        by_fold.setdefault(r["fold"], []).append(r["metrics"][metric])
    means = [float(np.mean(v)) for v in by_fold.values()]
    record = with_reading(
        spec.name,
        comparison,
        row["max"] - row["min"] if len(predictions) > 1 else None,  # one seed: no spread
        metric,
        disagreement["prediction_disagreement"],
        gain,
        fold_spread=max(means) - min(means) if len(means) > 1 else None,
        shift=disagreement["prediction_shift"],
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
