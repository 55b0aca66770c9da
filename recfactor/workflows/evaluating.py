"""The evaluation use cases: a file (or a saved model's own data) evaluated under several
seeds and splits, here or on Spark; a saved model scored on a test file as it stands; a
model's parameters tuned on a file, the best re-run under several seeds and saved."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recfactor.errors import DataError, ParameterError
from recfactor.workflows.training import (
    Note,
    Progress,
    build,
    check_features,
    no_bar,
    silent,
    wants_times,
    with_features,
    with_times,
)


def recorded_setup(model_path: str | os.PathLike, note: Note = silent) -> tuple[str, Any, Any]:
    """The data file, read options and algorithm (an AlgoSpec, the seed left to the
    evaluation) a saved model was trained with, from its lineage; a model trained from stdin
    or updated since has no one file to re-evaluate, and says so."""
    from recfactor import persist
    from recfactor.errors import ModelFileError
    from recfactor.evaluation import AlgoSpec
    from recfactor.lineage import DataRecord, Lineage, file_fingerprint

    manifest = persist.read_manifest(model_path)
    lineage = Lineage.of(manifest, str(model_path))
    data = lineage.data or DataRecord()
    path = data.path
    hint = "give the data file: recfactor evaluate DATA"
    if not path:
        raise DataError(f"{model_path}: the model was trained from stdin or a pipe, so there is "
                        "no file to re-evaluate", hint=hint)  # fmt: skip
    if not Path(path).exists():
        raise DataError(f"{path}: the data this model was trained on is gone", hint=hint)
    if lineage.updates:
        raise DataError(f"{model_path}: was updated with {len(lineage.updates)} more "
                        f"file(s) of ratings since it was trained on {path}",
                        hint="give the data to evaluate on: recfactor evaluate DATA")  # fmt: skip
    if Path(path).is_file() and file_fingerprint(path)["sha256"] != data.sha256:
        note(f"note: {path} changed since the model was trained")
    params = manifest["params"]
    if not isinstance(params, dict):
        raise ModelFileError(f"{model_path}: the manifest's params is not a table")
    feedback = data.read_options.get("feedback", "explicit")
    options = data.options(feedback if isinstance(feedback, str) else "", str(model_path))
    params = {k: v for k, v in params.items() if k != "seed"}
    return path, options, AlgoSpec(manifest["algorithm"], params)


def reevaluate(model_path: str | os.PathLike, *, note: Note = silent, **settings: Any) -> Any:
    """The saved model's algorithm and settings evaluated again on the file it was trained on,
    clipped to its rating scale: ``recfactor evaluate -m MODEL``. ``settings`` are
    EvalConfig's (``seeds``, ``folds``, ``metrics``, ``jobs``, ...); returns the Report."""
    from recfactor.evaluation.splits import SplitSpec

    kinds = ("folds", "test_fraction", "holdout_per_user", "split_seed")
    split = SplitSpec(**{k: settings.pop(k) for k in kinds if k in settings})
    return evaluate_file(None, model_path=model_path, split=split, note=note, **settings)


def evaluate_file(
    source: str | os.PathLike | None,
    algos: Sequence[Any] | None = None,
    *,
    split: Any = None,
    read: Any = None,
    model_path: str | os.PathLike | None = None,
    seeds: int | Sequence[int] = 3,
    metrics: Sequence[str] | None = None,
    relevant_threshold: float = 4.0,
    jobs: int | None = None,
    features: Any = None,
    cluster: Any = None,
    note: Note = silent,
    detail: Note = silent,
    progress: Progress = no_bar,
) -> Any:
    """``recfactor evaluate``: ``algos`` (names, AlgoSpecs or unfitted models; default
    baseline and svd, and als on implicit data) under ``seeds`` on the splits of ``source``
    that ``split`` (a SplitSpec) asks for, read with ``read``. With no ``source``, the saved
    model at ``model_path`` is evaluated again on the file its lineage names, as it was read,
    clipped to its rating scale. ``jobs``: worker processes (all usable cores by default;
    the report does not depend on it); ``features``: the users' and items' attributes (as
    :func:`train_file`'s); ``cluster``: a Spark cluster whose executors run the fits, one task
    each (the same report). Returns the Report."""
    import time

    from recfactor import persist
    from recfactor.evaluation import EvalConfig, evaluate
    from recfactor.evaluation.splits import SplitSpec
    from recfactor.io.options import ReadOptions
    from recfactor.running.workers import capped_jobs

    started, split, scale = time.perf_counter(), split or SplitSpec(), None
    if source is None:
        if model_path is None:
            raise ParameterError("give a ratings file, or a saved model to evaluate again")
        source, read, spec = recorded_setup(model_path, note)
        if algos and any(getattr(a, "name", a) != spec.name for a in algos):
            raise ParameterError("`algo` cannot be combined with re-evaluating a saved model",
                                 hint="give DATA to compare algorithms")  # fmt: skip
        algos, scale = [spec], persist.load(model_path, seen=False)[0].rating_scale_
    read = read or ReadOptions()
    algos = list(algos or (["baseline", "svd"] + (["als"] if read.feedback == "implicit" else [])))
    check_features(features, algos)
    jobs = capped_jobs(jobs, note)
    fits = _fits(len(algos), seeds, split, read.feedback)
    dataset, test = _read_for(str(source), split.test, read, jobs, fits, split)
    if test is not None:
        _note_seen_pairs(dataset, test, split.test, note)
    dataset = with_features(dataset, features, note)
    times = split.times(str(source), read, dataset)
    timed = wants_times(algos)  # the held-out ratings are predicted at their times, too
    if timed and times is not None:  # read once for a time-ordered holdout: the same times
        dataset = dataset.with_times(times)
    dataset = with_times(dataset, str(source), read, timed and times is None)
    test = with_times(test, split.test, read, timed)
    config = EvalConfig(algos=algos, seeds=seeds, test=test, jobs=jobs, times=times,
                        metrics=metrics, relevant_threshold=relevant_threshold,
                        cluster=cluster, **split.settings())  # fmt: skip
    read_seconds, started = time.perf_counter() - started, time.perf_counter()
    from recfactor.spark_progress import on_cluster

    # A fan-out's fits come back together: its stage lines say how many have run.
    with progress("evaluating") as advance, on_cluster(cluster, note):
        if advance is not None:
            advance(0, fits)  # the total, for the bar's time left
        report = evaluate(dataset, config, rating_scale=scale, progress=advance, note=note)
    detail(f"{source} read (imports included) in {read_seconds:.2f} s; {fits} fits and their "
           f"scores in {time.perf_counter() - started:.2f} s with `jobs` {jobs}")  # fmt: skip
    return report


def _fits(algos: int, seeds: Any, split: Any, feedback: str) -> int:
    """How many fits an evaluation runs: each algorithm and seed on each split, and once on
    all the data for the factors' comparison where there are several seeds."""
    n_seeds = seeds if isinstance(seeds, int) else len(seeds)
    return algos * n_seeds * (split.n_splits(feedback) + (n_seeds > 1))


# A rough size of one rating in a text file (MovieLens u.data: 20 bytes), to guess before
# reading whether an evaluation is large enough for worker processes.
BYTES_PER_RATING = 20


# Above this, the data is read in this process: a reader process hands its copy over through a
# pipe (three copies at the peak), and the second it saves is small beside reading such a file.
READER_MAX_BYTES = 256 * 2**20


def _read_for(source: str, test: str | None, read: Any, jobs: int, fits: int, split: Any):
    """The ratings and the test file (if any), read in a forked process while this one loads
    numba where the evaluation looks large enough for worker processes (which then start with
    both ready); here otherwise."""
    from recfactor.evaluation import parallel_pays
    from recfactor.running.workers import Background, can_fork, load_numba

    size = os.path.getsize(source) if source != "-" and os.path.isfile(source) else None
    pays = size is not None and size <= READER_MAX_BYTES and can_fork()
    if pays:
        splits = split.n_splits(read.feedback)
        share = (splits - 1) / splits if splits > 1 else 0.8
        pays = parallel_pays(size / BYTES_PER_RATING * share, fits, jobs)
    if not pays:
        return read_pair(source, test, read)
    reader = Background(read_pair, source, test, read)
    load_numba()
    return reader.result()


def _note_seen_pairs(dataset: Any, test: Any, name: str, note: Note) -> None:
    """Say how many of the test file's pairs the training data also rates: their errors are
    the training error (the test file given as the data, or taken from it and not removed)."""
    both = _pairs_among(dataset.user_ids, dataset.item_ids, dataset.users, dataset.items, test)
    if both:
        note(f"note: {name}: {both:,} of its {test.n_ratings:,} ratings rate pairs the data "
             "rates too; their errors are training errors, not held-out ones")  # fmt: skip


def read_pair(source: str, test: str | None, read: Any) -> tuple[Any, Any]:
    """The ratings, and the test file if any, read with ``read``."""
    from recfactor.io.ratings import read_ratings

    return read_ratings(source, read), read_ratings(test, read) if test is not None else None


def evaluate_on_spark(
    source: str,
    cluster: Any,
    algos: Sequence[Any] = ("als",),
    *,
    split: Any = None,
    read: Any = None,
    progress: Progress = no_bar,
    note: Note = silent,
    **settings: Any,
) -> Any:
    """:func:`evaluate_file` with its splits drawn and its fits run on ``cluster`` (ALS).
    ``settings``: EvalConfig's seeds, metrics and relevant_threshold."""
    from recfactor.cluster import refuse_on_spark
    from recfactor.evaluation import EvalConfig
    from recfactor.evaluation import spark as spark_evaluation
    from recfactor.evaluation.splits import SplitSpec
    from recfactor.io.options import ReadOptions

    split, read = split or SplitSpec(), read or ReadOptions()
    if any(getattr(a, "name", a) != "als" for a in algos):
        # Algorithms MLlib has no version of: each fit is one task on the cluster, run by this
        # engine on folds drawn here (the local report, number for number).
        if source == "-":
            raise ParameterError("`engine` spark reads its data from a path, not stdin")
        cluster.check_local_path(source)
        note(f"evaluating on Spark ({cluster.where}): one task a fit, recfactor's engine")
        return evaluate_file(source, algos, split=split, read=read, cluster=cluster, note=note,
                             progress=progress, **settings)  # fmt: skip
    if split.time_ordered:
        raise ParameterError("`time_ordered` holdouts are drawn by the local engine",
                             hint="use `engine` local, or drop `time_ordered`")  # fmt: skip
    if split.test is not None:
        raise ParameterError("`engine` spark evaluates DATA by folds or a holdout drawn there",
                             hint="drop `test`, or use `engine` local")  # fmt: skip
    config = EvalConfig(algos=list(algos), **split.settings(), **settings)
    params = {k: v for a in config.algos for k, v in getattr(a, "params", {}).items()}
    refuse_on_spark([getattr(a, "name", a) for a in config.algos], read, params)
    from recfactor.spark_progress import stages

    spark, frame = cluster.open(source, read)
    note(f"evaluating als on Spark ({cluster.where})")
    with progress("evaluating on Spark") as advance, stages(spark, note):
        if advance is not None:
            advance(0, _fits(len(config.algos), config.seeds, split, read.feedback))
        return spark_evaluation.evaluate(frame, config, read.feedback, source, progress=advance)


def score_saved(
    model_path: str | os.PathLike,
    test: str,
    *,
    read: Any = None,
    metrics: Sequence[str] | None = None,
    relevant_threshold: float = 4.0,
) -> dict[str, Any]:
    """A saved model scored on a test file as it stands, no fit: ``{"metrics": {name:
    value}, "cold": pairs predicted by the fallback, "ratings": test ratings, "trained": test
    ratings of pairs the model was trained on}``."""
    from recfactor import persist
    from recfactor.evaluation import score_model
    from recfactor.io.ratings import read_ratings

    fitted, _ = persist.load(model_path)
    # At their days where the file has times, without them as predict does where it has not.
    held = with_times(read_ratings(test, read), test, read, wants_times([fitted]), optional=True)
    scored = score_model(fitted, held, list(metrics) if metrics else None, relevant_threshold)
    return {**scored, "ratings": held.n_ratings, "trained": _trained_pairs(fitted, held)}


def _trained_pairs(fitted: Any, held: Any) -> int:
    """How many of ``held``'s ratings rate pairs ``fitted`` was trained on (the seen items it
    keeps): scored, they give training errors, not held-out ones."""
    import numpy as np

    if fitted.seen_indptr_ is None or fitted.seen_items_ is None:
        return 0
    owners = np.repeat(np.arange(len(fitted.seen_indptr_) - 1), np.diff(fitted.seen_indptr_))
    return _pairs_among(fitted.user_ids_, fitted.item_ids_, owners, fitted.seen_items_, held)


def _pairs_among(user_ids: Any, item_ids: Any, users: Any, items: Any, held: Any) -> int:
    """How many of ``held``'s ratings rate one of the pairs (``users``, ``items``), codes
    into ``user_ids`` and ``item_ids``."""
    import numpy as np

    from recfactor.dataset import index_in

    asked_users = index_in(user_ids, held.user_ids)[held.users]
    asked_items = index_in(item_ids, held.item_ids)[held.items]
    known = (asked_users >= 0) & (asked_items >= 0)
    width = len(item_ids)
    pairs = users.astype(np.int64) * width + items
    asked = asked_users[known].astype(np.int64) * width + asked_items[known]
    return int(np.isin(asked, pairs).sum())


@dataclasses.dataclass(frozen=True)
class Tuned:
    """What :func:`tune_file` found: the search (every trial, the best setting), the best
    settings re-run across seeds (empty without ``rerun_seeds``), and the best refitted on
    all the data (None without ``model_path``)."""

    search: Any
    across_seeds: list[dict[str, Any]]
    model: Any = None


def tune_file(
    source: str | os.PathLike,
    algo: str = "svd",
    space: list[str] | None = None,
    *,
    fixed: dict[str, Any] | None = None,
    preset: dict[str, Any] | None = None,
    read: Any = None,
    split: Any = None,
    seed: int = 0,
    rerun_seeds: int = 0,
    model_path: str | os.PathLike | None = None,
    features: Any = None,
    note: Note = silent,
    **search: Any,
) -> Tuned:
    """``recfactor tune``: ``algo``'s parameters searched over ``space`` (texts such as
    ``k=16..256:log2``; default: the declared space of the parameters not ``fixed``; a
    ``preset`` value holds where its parameter is not searched) by
    cross-validation on ``source``, read with ``read``; ``split`` is a SplitSpec (or
    EvalConfig's split settings), ``search`` tuning.search's (``trials``, ``search_kind``,
    ``halving``, ``metric``, ``time_budget``, ``jobs``, ``on_trial``, ``cluster``) and
    ``search_seed``
    (the random search's draws). ``seed`` is the models' seed. With ``model_path`` the best
    is refitted on all of ``source`` and saved with its lineage and the search."""
    from recfactor import persist
    from recfactor.evaluation import tuning
    from recfactor.io.ratings import ReadOptions, read_ratings
    from recfactor.lineage import DataRecord

    read = read or ReadOptions()
    trials = search.get("trials")
    if search.get("search_kind", "random") == "random" and trials is not None and trials < 1:
        raise ParameterError("`trials` must be at least 1")  # before any note of the search
    fixed, preset = dict(fixed or {}), dict(preset or {})
    texts = list(space or [])
    if not texts:
        texts = tuning.default_space(algo, read.feedback, [*fixed, *preset])
        note(f"searching {algo}'s default space: {' '.join(texts)}")
    dims = tuning.parse_space(texts, algo)
    clash = sorted(set(fixed) & {d.name for d in dims})
    if clash:
        raise ParameterError(f"{', '.join(clash)}: both searched and fixed")
    fixed = {**{k: v for k, v in preset.items() if k not in {d.name for d in dims}}, **fixed}
    check_features(features, [algo])
    if model_path is not None:
        persist.check_target(model_path)
    timed = fixed.get("time") or any(d.name == "time" for d in dims)
    dataset = with_times(with_features(read_ratings(source, read), features, note), source,
                         read, bool(timed))  # fmt: skip
    split = split.settings() if hasattr(split, "settings") else split  # a SplitSpec, or a dict
    draws = search.pop("search_seed", 0)
    found = tuning.search(dataset, algo, dims, fixed=fixed, split=split, seed=draws,
                          model_seed=seed, space_text=texts, **search)  # fmt: skip
    jobs, cluster = search.get("jobs"), search.get("cluster")
    reruns = (tuning.across_seeds(dataset, found, rerun_seeds, split, jobs, cluster)
              if rerun_seeds else [])  # fmt: skip
    fitted = None
    if model_path is not None:
        fitted = build(algo, found.best, seed).fit(dataset)
        record = DataRecord.of_file(source, read).to_dict()
        # The search as the file keeps it: without the trials' seconds (no clock in a file).
        search_record = found.to_dict()
        search_record["trials"] = [{k: v for k, v in row.items() if k != "seconds"}
                                   for row in search_record["trials"]]  # fmt: skip
        persist.save(fitted, model_path, {"data": record, "tuning": search_record})
    return Tuned(found, reruns, fitted)
