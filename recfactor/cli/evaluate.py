"""`recfactor evaluate`: algorithms x seeds x folds, the spread, and what changes across seeds."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from recfactor.cli.common import (
    DEFAULT_MODEL,
    ModelPath,
    Quiet,
    Verbose,
    app,
    check_plot,
    engine_note,
    handle_errors,
    naming,
    tell,
    with_model_flags,
)
from recfactor.cli.groups import FEATURES, OUTPUT, READ, SPARK, SPLIT, with_groups
from recfactor.cli.helptext import Command


@app.command(cls=Command)
@handle_errors
@with_groups
@with_model_flags()
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
            "wanted: svd:k=50;reg=0.05 [default: baseline,svd, or the saved model's].",
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
    relevant_threshold: Annotated[
        float,
        typer.Option(
            "--relevant-threshold",
            help="Top-N metrics on ratings: test items rated at least this are relevant.",
        ),
    ] = 4.0,
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
    split: Any = SPLIT,
    read: Any = READ,
    features: Any = FEATURES,
    out: Any = OUTPUT,
    cluster: Any = SPARK,
    quiet: Quiet = False,
    verbose: Verbose = False,
    **model_flags: Any,
) -> None:
    """Cross-validated errors (rmse, mae) or top-N quality (ndcg@10, ...) of each algorithm
    under several seeds, and how they spread."""
    from recfactor import workflows
    from recfactor.evaluation import parse_seeds
    from recfactor.evaluation.config import algo_specs
    from recfactor.report import progress

    _check_threshold(relevant_threshold)
    check_plot(plot)
    metrics, algo = metric.split(",") if metric else None, ",".join(algo) if algo else None
    if data is None and split.test is not None and cluster is None:
        return _score_saved(model, split.test, read, metrics, relevant_threshold, out, quiet)
    settings = dict(seeds=parse_seeds(seeds), metrics=metrics, note=lambda t: engine_note(t, quiet),
                    relevant_threshold=relevant_threshold,
                    progress=lambda title: progress(None, title, enabled=not quiet))  # fmt: skip
    algos = algo_specs(algo, read.feedback, dict(model_flags)) if data or algo else None
    with naming(data, split.test, features.user, features.item) if data else nullcontext():
        if cluster is not None:
            spark_algos = algo_specs(algo or "als", read.feedback, dict(model_flags))
            report = workflows.evaluate_on_spark(data, cluster, spark_algos, split=split,
                                                 read=read, **settings)  # fmt: skip
        else:
            report = workflows.evaluate_file(
                data, algos, split=split, model_path=model, read=read if data else None,
                jobs=jobs, features=features, **settings,
                detail=lambda text: engine_note(text, quiet or not verbose))  # fmt: skip
    _render(report, out, plot, quiet)


def _check_threshold(threshold: float) -> None:
    import math

    from recfactor.errors import ParameterError

    if not math.isfinite(threshold):
        raise ParameterError("--relevant-threshold must be a finite number")


def _score_saved(model, test, read, metrics, relevant_threshold, out, quiet) -> None:
    """The saved model scored on a test file as it stands: no fit."""
    from recfactor import workflows
    from recfactor.report import write_records

    scored = workflows.score_saved(model, test, read=read, metrics=metrics,
                                   relevant_threshold=relevant_threshold)  # fmt: skip
    trained = f"; {scored['trained']} rate pairs it was trained on" if scored["trained"] else ""
    tell(f"scored {model} as saved (no fit) on {scored['ratings']} test ratings of {test}; "
          f"{scored['cold']} cold, predicted by the fallback{trained}", quiet)  # fmt: skip
    records = [{"model": str(model), "test": test, "metric": name, "value": value}
               for name, value in scored["metrics"].items()]  # fmt: skip
    with out.open() as kind:
        write_records(records, ["model", "test", "metric", "value"], kind)


def _render(report: Any, target: Any, plot: Path | None, quiet: bool) -> None:
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
