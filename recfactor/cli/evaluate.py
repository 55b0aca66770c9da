"""`recfactor evaluate`: algorithms x seeds x folds, the spread, and what changes across seeds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from recfactor.cli.common import (
    DEFAULT_MODEL,
    Algo,
    DuplicatesOpt,
    Engine,
    EngineOpt,
    Feedback,
    FeedbackOpt,
    FormatOpt,
    Header,
    ItemCol,
    LayoutOpt,
    Master,
    MissingValue,
    ModelPath,
    Quiet,
    RatingCol,
    Remote,
    Sep,
    SparkConf,
    TimeCol,
    TimeOrdered,
    UserCol,
    Verbose,
    app,
    check_plot,
    check_split_options,
    handle_errors,
    load_model,
    model_params,
    naming,
    read_options,
    require_used,
    tell,
    times_of,
    with_model_flags,
)
from recfactor.cli.helptext import Command
from recfactor.cli.output import OutputOpt, Target
from recfactor.cli.spark import open_on_spark, refuse_on_spark, spark_target


@app.command(cls=Command)
@with_model_flags()
@handle_errors
def evaluate(
    data: Annotated[
        Optional[str],
        typer.Argument(
            metavar="DATA", help="Ratings file [default: the data the saved model was trained on]."
        ),
    ] = None,
    algo: Annotated[
        Optional[list[str]],
        typer.Option(
            "--algo",
            help="Algorithms, comma-separated or repeated, each with its own settings if "
            "wanted: svd:k=50,reg=0.05 [default: baseline,svd, or the saved model's].",
            rich_help_panel="Model",
        ),
    ] = None,
    metric: Annotated[
        Optional[str],
        typer.Option(
            "--metric",
            help="Comma-separated: rmse, mae, precision@K, recall@K, "
            "ndcg@K, map@K, coverage@K [explicit: rmse,mae; implicit: the top-N "
            "metrics @10].",
        ),
    ] = None,
    seeds: Annotated[
        str, typer.Option("--seeds", help="Number of seeds (0..N-1) or a list like 1,7,42.")
    ] = "3",
    folds: Annotated[
        Optional[int], typer.Option("--folds", help="k-fold cross-validation [5].")
    ] = None,
    holdout_per_user: Annotated[
        Optional[float],
        typer.Option(
            "--holdout-per-user",
            help="Hold out N ratings of every user (N >= 1) "
            "or a fraction of them [implicit feedback: 0.2].",
        ),
    ] = None,
    relevant_threshold: Annotated[
        float,
        typer.Option(
            "--relevant-threshold",
            help="Top-N metrics on ratings: test items rated at least this are relevant.",
        ),
    ] = 4.0,
    test_fraction: Annotated[
        Optional[float],
        typer.Option("--test-fraction", help="One random holdout of this fraction instead."),
    ] = None,
    test: Annotated[
        Optional[str], typer.Option("--test", help="A separate test file instead of folds.")
    ] = None,
    split_seed: Annotated[int, typer.Option("--split-seed", min=0, help="Seed of the split.")] = 0,
    time_ordered: TimeOrdered = False,
    time_col: TimeCol = None,
    jobs: Annotated[
        Optional[int],
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Worker processes for the runs [all cores; "
            "small evaluations run in-process]. Results do not depend on it.",
        ),
    ] = None,
    plot: Annotated[
        Optional[Path],
        typer.Option(
            "--plot",
            help="Also draw the per-seed metrics and the factor agreement "
            "between seeds to this PNG (needs recfactor[plot]).",
        ),
    ] = None,
    model: ModelPath = Path(DEFAULT_MODEL),
    sep: Sep = None,
    layout: LayoutOpt = None,
    header: Header = None,
    user_col: UserCol = None,
    item_col: ItemCol = None,
    rating_col: RatingCol = None,
    feedback: FeedbackOpt = Feedback.explicit,
    duplicates: DuplicatesOpt = None,
    missing_value: MissingValue = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
    engine: EngineOpt = Engine.local,
    master: Master = None,
    remote: Remote = None,
    spark_conf: SparkConf = None,
    **model_flags: Any,
) -> None:
    """Cross-validated errors (rmse, mae) or top-N quality (ndcg@10, ...) of each algorithm
    under several seeds, and how they spread."""
    import time

    from recfactor import evaluation as ev

    started, algo = time.perf_counter(), ",".join(algo) if algo else None
    seed_list, target = ev.parse_seeds(seeds), Target(output, fmt)
    target.check()
    check_plot(plot)
    chosen = _splits_chosen(test, test_fraction, folds, holdout_per_user, time_ordered,
                            relevant_threshold, engine)  # fmt: skip
    option_args = (sep, layout, header, user_col, item_col, rating_col, feedback, duplicates,
                   missing_value)  # fmt: skip
    cluster = spark_target(engine, master, remote, spark_conf)
    if data is None and test is not None and cluster is None:
        return _score_saved(model, test, metric, relevant_threshold, option_args, (target, quiet))
    settings = dict(seeds=seed_list, folds=folds, test_fraction=test_fraction,
                    holdout_per_user=holdout_per_user, split_seed=split_seed,
                    metrics=metric.split(",") if metric else None,
                    relevant_threshold=relevant_threshold)  # fmt: skip
    if cluster is not None:
        config = ev.EvalConfig(algos=_algo_specs(algo or "als", feedback.value,
                                                 dict(model_flags)), **settings)  # fmt: skip
        return _evaluate_on_spark(data, test, cluster, config, option_args, dict(model_flags),
                                  (target, plot, quiet))  # fmt: skip
    jobs, rating_scale = _capped_jobs(jobs, quiet), None
    if data is None:
        data, options, algos = _recorded_setup(model, algo, quiet)
        rating_scale = load_model(model, seen=False)[0].rating_scale_
        dataset, test_set = _read_pair(data, test, options)
    else:
        algos, options = _algo_specs(algo, feedback.value, dict(model_flags)), None
        # --folds, or one split (--test, --test-fraction, a holdout: implicit data's default).
        one_split = chosen > 0 or feedback == Feedback.implicit
        n_splits = folds if folds is not None else 1 if one_split else 5
        pays = _reader_pays(data, jobs, algos, len(seed_list), n_splits)
        read = _read_beside_numba if pays else _read_with_flags
        dataset, test_set = read(data, test, option_args)
    read_seconds = time.perf_counter() - started
    times = times_of(data, options or read_options(*option_args), dataset, time_ordered, time_col)
    config = ev.EvalConfig(algos=algos, test=test_set, jobs=jobs, times=times, **settings)
    report, fits, fit_seconds = _run(dataset, config, rating_scale, quiet)
    if verbose:
        tell(f"{data} read (imports included) in {read_seconds:.2f} s; {fits} fits and their "
             f"scores in {fit_seconds:.2f} s with --jobs {jobs}", quiet)  # fmt: skip
    _render(report, target, plot, quiet)


def _score_saved(model, test, metric, relevant_threshold, option_args, output) -> None:
    """The saved model scored on a test file as it stands: no fit."""
    from recfactor import evaluation as ev
    from recfactor.data import read_ratings
    from recfactor.report import write_records

    target, quiet = output
    fitted, _ = load_model(model)
    held = read_ratings(test, read_options(*option_args))
    scored = ev.score_model(fitted, held, metric.split(",") if metric else None,
                            relevant_threshold)  # fmt: skip
    tell(f"scored {model} as saved (no fit) on {held.n_ratings} test ratings of {test}; "
          f"{scored['cold']} cold, predicted by the fallback", quiet)  # fmt: skip
    records = [{"model": str(model), "test": test, "metric": name, "value": value}
               for name, value in scored["metrics"].items()]  # fmt: skip
    with target.open() as kind:
        write_records(records, ["model", "test", "metric", "value"], kind)


def _splits_chosen(
    test, test_fraction, folds, holdout_per_user, time_ordered=False, relevant_threshold=4.0,
    engine=Engine.local,
) -> int:  # fmt: skip
    """How many of --test, --test-fraction, --folds and --holdout-per-user were given (0 or
    1; more is a usage error), each checked; --time-ordered needs a holdout, drawn here."""
    from recfactor.errors import ParameterError

    check_split_options(folds, test_fraction, holdout_per_user, relevant_threshold)
    if time_ordered and engine == Engine.spark:
        raise ParameterError("--time-ordered holdouts are drawn by the local engine",
                             hint="use --engine local, or drop --time-ordered")  # fmt: skip
    if time_ordered and test_fraction is None and holdout_per_user is None:
        raise ParameterError("--time-ordered needs a holdout",
                             hint="give --test-fraction F or --holdout-per-user N")  # fmt: skip
    choices = (test, test_fraction, folds, holdout_per_user)
    chosen = sum(x is not None for x in choices)
    if chosen > 1:
        raise ParameterError("give one of --test, --test-fraction, --folds and --holdout-per-user")
    return chosen


def _evaluate_on_spark(data, test, cluster, config, option_args, flags, output) -> None:
    """The evaluation with its splits drawn and its fits run on Spark (ALS)."""
    from recfactor import spark_evaluation
    from recfactor.errors import ParameterError
    from recfactor.report import progress

    if data is None or test is not None:
        raise ParameterError("--engine spark evaluates DATA by folds or a holdout drawn there",
                             hint="give DATA; drop --test, or use --engine local")  # fmt: skip
    target, plot, quiet = output
    options = read_options(*option_args)
    feedback = options.feedback
    refuse_on_spark([a.name for a in config.algos], options, flags)
    _, frame = open_on_spark(data, cluster, options)
    tell(f"evaluating als on Spark ({cluster.where})", quiet)
    with progress(None, "evaluating on Spark", enabled=not quiet) as advance:
        with naming(data):
            report = spark_evaluation.evaluate(frame, config, feedback, data, progress=advance)
    _render(report, target, plot, quiet)


def _capped_jobs(jobs: int | None, quiet: bool) -> int:
    """--jobs, at most the usable cores (more processes would only take turns on them, each
    holding its memory); all of them by default."""
    from recfactor.workers import available_cores

    if jobs is not None and jobs > available_cores():
        tell(f"note: --jobs {jobs} capped at the {available_cores()} usable cores", quiet)
    return min(jobs or available_cores(), available_cores())


def _algo_specs(algo: str | None, feedback: str, flags: dict[str, Any]) -> list[Any]:
    """The algorithms of --algo, each with the model flags that apply to it and its own
    settings (``svd:k=50,reg=0.05``). With one algorithm every flag must apply to it; beside
    others, each takes the flags that apply to it (the baseline keeps its defaults as the
    reference line). Two settings of one algorithm are two rows."""
    from recfactor.errors import ParameterError
    from recfactor.evaluation import AlgoSpec

    default_algos = "baseline,svd" if feedback == "explicit" else "baseline,svd,als"
    chosen = _parse_algos(algo or default_algos)
    names = [name for name, _ in chosen]
    unknown = [a for a in names if a not in {x.value for x in Algo}]
    if unknown or not names:
        raise ParameterError(
            f"unknown algorithm {', '.join(unknown) or algo!r}",
            hint="choose from " + ", ".join(a.value for a in Algo),
        )
    single = len(set(names)) == 1
    takers = [n for n in dict.fromkeys(names) if n != "baseline" or single]
    if not single:
        require_used(takers, flags, feedback)
    specs = {}
    for name, own in chosen:
        params = model_params(name, flags, feedback, strict=single) if name in takers else {}
        # Settings joined by ';' in the label: a CSV cell without quotes, which `cut -d,` keeps
        # whole (--algo reads it back).
        label = f"{name}:{';'.join(own)}" if own else name
        specs.setdefault(label, AlgoSpec(name, {**params, **_settings(name, own)},
                                         label if own else None))  # fmt: skip
    return list(specs.values())


def _parse_algos(text: str) -> list[tuple[str, list[str]]]:
    """``baseline,svd:k=50,reg=0.05,als`` as (name, settings) pairs: a ``KEY=VALUE`` after an
    algorithm's ``name:`` belongs to it (``;`` separates settings too, as labels write them)."""
    from recfactor.errors import ParameterError

    out: list[tuple[str, list[str]]] = []
    for token in (t.strip() for t in text.replace(";", ",").split(",")):
        if not token:
            continue
        if "=" in token and ":" not in token:
            if not out or not out[-1][1]:
                raise ParameterError(f"--algo: {token!r} follows no algorithm's settings",
                                     hint="write ALGO:KEY=VALUE,KEY=VALUE")  # fmt: skip
            out[-1][1].append(token)
            continue
        name, _, first = token.partition(":")
        out.append((name.strip(), [first.strip()] if first.strip() else []))
    return out


def _settings(algo: str, texts: list[str]) -> dict[str, Any]:
    """``k=50``-style settings as parameters, checked as `tune` checks its space."""
    from recfactor import tuning
    from recfactor.errors import ParameterError

    out = {}
    for dim in tuning.parse_space(texts, algo) if texts else []:
        if dim.choices is None or len(dim.choices) != 1:
            raise ParameterError(f"--algo {algo}: {dim.name} takes one value here",
                                 hint=f"write {algo}:{dim.name}=VALUE")  # fmt: skip
        out[dim.name] = dim.choices[0]
    return out


def _run(dataset: Any, config: Any, rating_scale: Any, quiet: bool) -> tuple[Any, int, float]:
    """The evaluation, one engine call with a progress bar: (report, fits, seconds)."""
    import time

    from recfactor import evaluation as ev
    from recfactor.report import progress

    one_split = any(x is not None for x in (config.test, config.test_fraction,
                                             config.holdout_per_user))  # fmt: skip
    splits = config.folds or (1 if one_split or dataset.feedback == "implicit" else 5)
    seeds = len(config.seeds)
    total = len(config.algos) * seeds * (splits + (1 if seeds > 1 else 0))
    started = time.perf_counter()
    with progress(total, "evaluating", enabled=not quiet) as advance:
        with naming(dataset.source):
            report = ev.evaluate(dataset, config, rating_scale=rating_scale, progress=advance,
                                 note=lambda text: tell(_as_flags(text), quiet))  # fmt: skip
    return report, total, time.perf_counter() - started


def _as_flags(text: str) -> str:
    from recfactor.errors import as_flags

    return as_flags(text).replace("--factors to choose", "-k to choose")


def _render(report: Any, target: Target, plot: Path | None, quiet: bool) -> None:
    """The report on stdout; as CSV (piped), its message goes to stderr too, so that a log
    of the run still says what changes across seeds."""
    import sys

    from recfactor.report import evaluation_message, render_evaluation

    with target.open() as kind:
        render_evaluation(report.to_dict(), kind)
        logged = kind == "csv" and not sys.stdout.isatty()
    if logged:
        for line in evaluation_message(report.to_dict()):
            tell(line, quiet)
    if plot is not None:
        from recfactor.plot import plot_evaluation

        plot_evaluation(report.to_dict(), plot)
        tell(f"wrote {plot}", quiet)


# A rough size of one rating in a text file (MovieLens u.data: 20 bytes), to guess before
# reading whether an evaluation is large enough for worker processes.
BYTES_PER_RATING = 20


# Above this, the data is read in this process: a reader process hands its copy over through a
# pipe (three copies at the peak), and the second it saves is small beside reading such a file.
READER_MAX_BYTES = 256 * 2**20


def _reader_pays(data: str, jobs: int, algos: list, seeds: int, splits: int) -> bool:
    """Whether to read the file in a helper process beside numba's loading: a file (not stdin)
    of at most ``READER_MAX_BYTES``, large enough to look worth worker processes (``splits``:
    k folds, or 1 for a holdout or a test file; evaluate decides again once it is read)."""
    from recfactor import evaluation as ev
    from recfactor.workers import can_fork

    if data == "-" or not os.path.isfile(data) or not can_fork():
        return False
    if os.path.getsize(data) > READER_MAX_BYTES:
        return False
    train_share = (splits - 1) / splits if splits > 1 else 0.8
    ratings = os.path.getsize(data) / BYTES_PER_RATING * train_share
    fits = len(algos) * seeds * (splits + (1 if seeds > 1 else 0))
    return ev.parallel_pays(ratings, fits, jobs)


def _read_pair(data: str, test: str | None, options):
    """The ratings, and the test file if any, read with ``options``."""
    from recfactor.data import read_ratings

    return read_ratings(data, options), read_ratings(test, options) if test is not None else None


def _read_with_flags(data: str, test: str | None, option_args: tuple):
    """:func:`_read_pair` with options built from the command's flags (here, not by the
    caller: they live with the readers, whose module imports pandas)."""
    return _read_pair(data, test, read_options(*option_args))


def _read_beside_numba(data: str, test: str | None, option_args: tuple):
    """:func:`_read_with_flags` in a forked process while this one loads numba; the worker
    processes, forked later from this one, then start with both the data and numba ready."""
    from recfactor.workers import Background, load_numba

    reader = Background(_read_with_flags, data, test, option_args)
    load_numba()
    return reader.result()


def _recorded_setup(model_path: Path, algo: str | None, quiet: bool):
    """The data file, read options and algorithm recorded in a saved model."""
    from recfactor import persist, workflows
    from recfactor.errors import ParameterError

    if algo is not None and algo != persist.read_manifest(model_path)["algorithm"]:
        raise ParameterError(
            "--algo cannot be combined with re-evaluating a saved model",
            hint="give DATA to compare algorithms",
        )
    path, options, spec = workflows.recorded_setup(model_path, lambda t: tell(t, quiet))
    return path, options, [spec]
