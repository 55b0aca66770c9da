"""What the commands do, as Python calls: the command line and ``import recfactor as rf`` run the
same code, so a model trained either way is the same file, byte for byte.

- :func:`train_file`: read a ratings file, fit a model, save it with its lineage (the file's
  SHA-256 and how it was read) and the check of its neighbours across seeds.
- :func:`update_saved`: bring a saved model up to date with a file of new ratings, from the
  files its lineage names (each checked against its SHA-256) or a given base.
- :func:`reevaluate`: a saved model's algorithm and settings evaluated again on the data its
  lineage names, under several seeds and folds (``recfactor evaluate -m MODEL``).
- :func:`tune_file`: search a model's parameters by cross-validation on a file, re-run the best
  under several seeds, refit the best on all of it and save it (``recfactor tune -m``).

Each takes ``note`` (what a command says on stderr) and ``progress`` (a progress bar around
the fit: called with its title, it gives a context whose value is called after each epoch);
neither is needed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from recfactor.errors import DataError, ParameterError

Note = Callable[[str], None]
Progress = Callable[[str], contextlib.AbstractContextManager[Any]]

# A second fit from another seed measures whether `similar`'s lists would survive it: on sets up
# to this size, where a fit takes about a second, a small cost beside the user's own wait.
# Decided by the data, not the clock, so that the same command always writes the same file
# whatever the machine's load.
NEIGHBOURS_CHECK_RATINGS = 200_000


def silent(_: str) -> None:
    pass


def no_bar(_: str) -> contextlib.AbstractContextManager[Any]:
    return contextlib.nullcontext(None)


def build(algo: str, params: dict[str, Any] | None = None, seed: int = 0) -> Any:
    """An unfitted ``algo`` model with ``params`` (by name) and ``seed``."""
    from recfactor.models import model_class

    cls = model_class(algo)
    return cls(cls.params_class(**(params or {}), seed=seed))


def wants_times(algos: Sequence[Any]) -> bool:
    """Whether one of ``algos`` (names, AlgoSpecs or unfitted models) learns from each
    rating's time (bfm's day context)."""
    for algo in algos:
        params = getattr(algo, "params", None)
        wanted = params.get("time") if isinstance(params, dict) else getattr(params, "time", 0)
        if wanted:
            return True
    return False


def with_times(dataset: Any, source: Any, read: Any, wanted: bool, optional: bool = False
               ) -> Any:  # fmt: skip
    """``dataset`` with each rating's time read again from ``source`` where ``wanted`` (a file
    with no time column is refused, or left without times if ``optional``)."""
    if not wanted or dataset is None:
        return dataset
    from recfactor.io.times import read_times

    return dataset.with_times(read_times(source, read, dataset, optional=optional))


def train_file(
    source: str | os.PathLike,
    algo: str = "svd",
    params: dict[str, Any] | None = None,
    *,
    seed: int = 0,
    read: Any = None,
    model_path: str | os.PathLike | None = None,
    rating_scale: tuple[float, float] | None = None,
    features: Any = None,
    note: Note = silent,
    detail: Note = silent,
    progress: Progress = no_bar,
) -> Any:
    """Read ``source`` (a path, or ``-`` for stdin) with ``read`` (a ReadOptions), fit ``algo``
    with ``params`` and ``seed``, and save it to ``model_path`` (when given) with the file's
    lineage and the neighbour check: ``recfactor train``. Returns the fitted model.
    ``features``: the users' and items' attributes (a FeatureFiles of paths, or a Side of
    DataFrames' features), for a model that learns from them (bfm).

    Everything that can be refused (the parameters, the model path) is refused before the
    data is read; the file is hashed on a thread while it is read and fitted. ``detail``
    hears the seconds spent reading and fitting."""
    from recfactor import persist
    from recfactor.io.ratings import ReadOptions, read_ratings
    from recfactor.lineage import DataRecord, fingerprint_in_background
    from recfactor.models.svd import default_rank_within

    read = read or ReadOptions()
    params = dict(params or {})
    prototype = build(algo, params, seed)
    check_features(features, [algo])
    if model_path is not None:
        persist.check_target(model_path)
    fingerprint = fingerprint_in_background(source) if str(source) != "-" else None
    loading = _load_kernels_beside(prototype, source)
    started = time.perf_counter()
    dataset = with_times(with_features(read_ratings(source, read), features, note), source,
                         read, wants_times([prototype]))  # fmt: skip
    read_seconds = time.perf_counter() - started
    loading.join()
    if algo == "svd":  # its default rank, lowered for a matrix too small for a truncated SVD
        shape = (dataset.n_users, dataset.n_items)
        params, said = default_rank_within(params, read.feedback, lambda: [shape])
        if said is not None:
            note(said)
    fitted = build(algo, params, seed)
    fitted.validate(dataset)
    note(f"training {algo} on {dataset.n_ratings} ratings "
         f"({dataset.n_users} users x {dataset.n_items} items)")  # fmt: skip
    # Nothing reads the ratings' order after the fit except the neighbour check's second fit
    # (on smaller data): elsewhere the fit need not put them back.
    keep_order = dataset.n_ratings <= NEIGHBOURS_CHECK_RATINGS
    with progress(f"training {algo}") as step:
        fitted.fit(dataset, rating_scale=rating_scale, on_epoch=step, keep_order=keep_order)
    run, most = getattr(fitted, "epochs_run_", None), getattr(fitted.params, "epochs", None)
    stopped = f" ({run} of {most} epochs: the held-out ratings stopped gaining)" if (
        run and most and run < most) else ""  # fmt: skip
    detail(f"read {source} in {read_seconds:.3f} s; fit in {fitted.fit_seconds_:.3f} s{stopped}")
    if model_path is not None:
        found = fingerprint() if fingerprint is not None else {}
        extra = {"data": DataRecord.from_fingerprint(found, read).to_dict(),
                 "neighbours": neighbours_check(fitted, dataset, rating_scale)}  # fmt: skip
        # The ratings go before the save loads the file back to check it: else the two
        # copies of the model met them (the peak of a 24M-rating train).
        del dataset
        persist.save(fitted, model_path, extra)
    return fitted


def train_on_spark(
    source: str,
    cluster: Any,
    algo: str = "als",
    params: dict[str, Any] | None = None,
    *,
    seed: int = 0,
    read: Any = None,
    model_path: str | os.PathLike | None = None,
    features: Any = None,
    note: Note = silent,
    progress: Progress = no_bar,
) -> Any:
    """:func:`train_file` with the fit on ``cluster`` (a :class:`recfactor.cluster.Cluster`):
    MLlib's ALS, saved as the local engine's model file with the data's lineage (a local
    file's SHA-256; a folder of parts or a cluster's path named alone)."""
    from recfactor import persist, spark_engine
    from recfactor.cluster import refuse_on_spark
    from recfactor.io.options import ReadOptions
    from recfactor.lineage import DataRecord

    read = read or ReadOptions()
    check_features(features, [algo])  # MLlib's ALS takes none
    refuse_on_spark([algo], read, params or {})
    model = build(algo, params, seed)
    spark_engine.spark_params(model.params, read.feedback)  # refused before Spark starts
    if model_path is not None:
        persist.check_target(model_path)
    spark, frame = cluster.open(str(source), read)
    note(f"training als on Spark ({cluster.where})")
    from recfactor.spark_progress import stages

    with progress("training on Spark") as advance, stages(spark, note):
        fitted = spark_engine.train_als(frame, model.params, read.feedback, str(source),
                                        progress=advance)  # fmt: skip
    if model_path is not None:
        extra = {"engine": "spark", "spark_version": spark.version, "master": cluster.where}
        record = DataRecord.of_file(str(source), read).to_dict()
        persist.save(fitted, model_path, {"data": record, **extra})
    return fitted


def check_features(features: Any, algos: list[Any]) -> None:
    """Attributes are for a model that learns from them: refused, before any work, where none
    of ``algos`` (names or specs) does."""
    if not features:
        return
    from recfactor.models import model_class

    names = [getattr(a, "name", a) for a in algos]
    if not any(getattr(model_class(n), "takes_features", False) for n in names):
        raise ParameterError("`user_features` and `item_features` are for `algo` bfm",
                             hint="use `algo` bfm, or drop the features")  # fmt: skip


def with_features(dataset: Any, features: Any, note: Note = silent) -> Any:
    """``dataset`` with the users' and items' attributes of ``features`` (a FeatureFiles, read
    here, or a Side), or as it is without them. ``note`` hears how many of the ratings' users
    (items) have no row, where some do: a file of another ID scheme in part, or cut short."""
    if not features:
        return dataset
    from recfactor.dataset import index_in

    side = features.read() if hasattr(features, "read") else features
    for what, ids in (("user", dataset.user_ids), ("item", dataset.item_ids)):
        found = getattr(side, what, None)
        missing = 0 if found is None else int((index_in(found.ids, ids) < 0).sum())
        if 0 < missing < len(ids):  # none at all is refused by the fit (recfactor.models.bfm)
            note(f"note: {found.source}: {missing:,} of the ratings' {len(ids):,} {what}s have "
                 "no row; they are known by their ratings alone")  # fmt: skip
    return dataset.with_side(side)


def neighbours_check(fitted: Any, dataset: Any, scale: Any) -> dict[str, Any] | None:
    """How many of each item's nearest neighbours another seed keeps (recfactor.neighbours),
    measured on small sets (NEIGHBOURS_CHECK_RATINGS); None otherwise."""
    from recfactor.neighbours import neighbour_stability

    if fitted.item_factors_ is None or dataset.n_ratings > NEIGHBOURS_CHECK_RATINGS:
        return None
    params = dataclasses.replace(fitted.params, seed=fitted.params.seed + 1)
    other = type(fitted)(params).fit(dataset, rating_scale=scale, training_error=False)
    return neighbour_stability(fitted, other)


def _load_kernels_beside(model: Any, source: Any) -> Any:
    """Load the fit's compiled kernels on a thread while this one reads the data.

    Loading them is mostly Python (numba's import and cache), Arrow's parse is not, so on two
    cores the two overlap (0.6 s of a 7.5 s train on 9 million ratings). A failure here is left
    for the fit, which loads them again and reports it.
    """
    import threading

    def load() -> None:
        try:
            from recfactor.io.plain import may_scan

            if may_scan(source):  # the reader's first: it wants them before the fit does
                from recfactor.kernels import plaintext

                plaintext.warm_up()
            model._prepare()
            from recfactor.kernels import pairs

            pairs.warm_up()
        except Exception:
            pass

    thread = threading.Thread(target=load, name="recfactor-load-kernels", daemon=True)
    thread.start()
    return thread


def update_saved(
    new: str | os.PathLike,
    model_path: str | os.PathLike,
    *,
    output: str | os.PathLike | None = None,
    base: str | os.PathLike | None = None,
    epochs: int | None = None,
    read: Any = None,
    features: Any = None,
    progress: Progress = no_bar,
) -> Any:
    """The model at ``model_path`` brought up to date with the ratings of ``new`` (read with
    ``read``; its feedback is the model's) and saved to ``output`` (default: in place,
    atomically), with its lineage extended: ``recfactor update``. The ratings it was trained
    on come from the files its lineage names (each checked against its SHA-256) or from
    ``base``; ``features``: the users' and items' attributes again, for a model that learned
    from them (bfm). Returns the :class:`recfactor.update.Update`."""
    from recfactor import persist
    from recfactor import update as updating
    from recfactor.io.ratings import ReadOptions, read_ratings
    from recfactor.lineage import DataRecord, Lineage

    target = output or model_path
    persist.check_target(target)
    fitted, manifest = persist.load(model_path)
    read = dataclasses.replace(read or ReadOptions(), feedback=fitted.feedback_)
    extra = read_ratings(new, read)
    side = _update_features(fitted, features)
    sources = _base_sources(model_path, manifest, base, fitted.feedback_)
    dataset = read_ratings(sources[0][0], sources[0][1])
    for path, options, _ in sources[1:]:
        dataset = updating.combine(dataset, read_ratings(path, options))
    dataset = dataset.with_side(side)
    params = {} if epochs is None else {"epochs": epochs}
    _check_epochs(fitted, params)
    with progress(f"updating {fitted.name}") as step:
        done = updating.update(fitted, dataset, extra, params, on_epoch=step)
    lineage = Lineage(sources[0][2], tuple(s[2] for s in sources[1:]))
    lineage = lineage.then(DataRecord.of_file(new, read))
    persist.save(done.model, target, {**lineage.to_manifest(), "updated_from": str(model_path)})
    return done


def _update_features(fitted: Any, features: Any) -> Any:
    """The attributes a model that learned from them is updated with: the same files, read
    with its encoding (refused where missing: a refit without them is another model)."""
    encodings = getattr(fitted, "encodings_", None) or {}
    if getattr(fitted.params, "time", False):
        raise ParameterError("a bfm model fitted with `time` is brought up to date by training "
                             "it again", hint="recfactor train ... --algo bfm --time")  # fmt: skip
    missing = [w for w in ("user", "item") if encodings.get(w) and not getattr(features, w, None)]
    if missing:
        flags = " and ".join(f"`{w}_features`" for w in missing)
        raise ParameterError(f"this model learned from {flags}: give them again",
                             hint="the same files it was trained with, or newer ones")  # fmt: skip
    if not features:
        return None
    check_features(features, [fitted.name])
    return features.read(encodings)


def _check_epochs(fitted: Any, params: dict[str, Any]) -> None:
    """``epochs`` where the model's declarations say its fit uses them."""
    from recfactor.models.flags import model_flags

    solver = getattr(fitted.params, "solver", None)
    if params and not model_flags()["epochs"].applies(fitted.name, fitted.feedback_, solver):
        raise ParameterError(f"`epochs` does not apply to this {fitted.name} model",
                             hint="drop it: the model is refitted as it was trained")  # fmt: skip


def _base_sources(model: str | os.PathLike, manifest: dict[str, Any], base: Any, feedback: str):
    """(path, read options, record) of each file of ratings the model was trained on: ``base``,
    or the data and updates its lineage names, each checked against its SHA-256."""
    from recfactor.io.ratings import ReadOptions
    from recfactor.lineage import DataRecord, Lineage, file_fingerprint

    if base is not None:
        options = ReadOptions(feedback=feedback)
        return [(str(base), options, DataRecord.of_file(base, options))]
    records = Lineage.of(manifest, str(model)).records() or [DataRecord()]
    sources = []
    hint = "give the ratings it was trained on (all of them) with `base` FILE"
    for k, record in enumerate(records):
        path = record.path
        if not path:
            raise DataError(f"{model}: was trained from stdin or a pipe", hint=hint)
        if not Path(path).is_file():
            raise DataError(f"{path}: the ratings {model} was trained on are gone", hint=hint)
        if record.sha256 is None:
            raise DataError(f"{path}: {model} recorded no SHA-256 of it, so it cannot be "
                            "checked for changes", hint=hint)  # fmt: skip
        if file_fingerprint(path)["sha256"] != record.sha256:
            raise DataError(f"{path}: changed since {model} was trained on it", hint=hint)
        where = "data" if k == 0 else f"updates[{k - 1}]"
        sources.append((path, record.options(feedback, str(model), where), record))
    return sources
