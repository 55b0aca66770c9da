"""`recfactor stability`: stable components at each rank."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from recfactor.cli.common import (
    DuplicatesOpt,
    Feedback,
    FeedbackOpt,
    FormatOpt,
    Header,
    ItemCol,
    LayoutOpt,
    MissingValue,
    Quiet,
    RatingCol,
    Sep,
    UserCol,
    app,
    check_plot,
    check_split_options,
    handle_errors,
    model_params,
    naming,
    read_options,
    require_used,
    split_plan,
    tell,
    with_model_flags,
)
from recfactor.cli.helptext import Command
from recfactor.cli.output import OutputOpt, Target


@app.command(cls=Command)
@with_model_flags(skip=("factors",))
@handle_errors
def stability(
    data: Annotated[str, typer.Argument(metavar="DATA", help="Ratings file or -.")],
    algo: Annotated[
        str,
        typer.Option(
            "--algo", help="Any model with factors, or several: svd,als.", rich_help_panel="Model"
        ),
    ] = "nmf",
    ranks: Annotated[
        str, typer.Option("--ranks", help="Ranks to try: LOW..HIGH[:STEP] or a list like 2,4,8.")
    ] = "2..10",
    seeds: Annotated[
        str, typer.Option("--seeds", help="Number of seeds (0..N-1) or a list like 1,7,42.")
    ] = "10",
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold", help="Similarity at which a component counts as the same across seeds."
        ),
    ] = 0.9,
    metric: Annotated[
        Optional[str],
        typer.Option(
            "--metric", help="Cross-validated metric beside each k [rmse; implicit: ndcg@10]."
        ),
    ] = None,
    cv: Annotated[
        bool, typer.Option("--cv/--no-cv", help="Measure the cross-validated metric.")
    ] = True,
    folds: Annotated[
        Optional[int], typer.Option("--folds", help="k-fold cross-validation [5].")
    ] = None,
    holdout_per_user: Annotated[
        Optional[float],
        typer.Option("--holdout-per-user", help="Per-user holdout [implicit feedback: 0.2]."),
    ] = None,
    split_seed: Annotated[int, typer.Option("--split-seed", min=0, help="Seed of the split.")] = 0,
    jobs: Annotated[
        Optional[int],
        typer.Option("--jobs", "-j", min=1, help="Cores for the cross-validation [all]."),
    ] = None,
    plot: Annotated[
        Optional[Path],
        typer.Option("--plot", help="Draw stable components and the metric against k (PNG)."),
    ] = None,
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
    **model_flags: Any,
) -> None:
    """How many factors are stable across seeds at each rank k, with the cross-validated
    error beside it: which k to use for prediction, and up to which k to read the factors."""
    from recfactor import evaluation as ev
    from recfactor import stability as st
    from recfactor.data import read_ratings
    from recfactor.errors import ParameterError
    from recfactor.report import progress, render_stability

    names = _factor_algos(algo)
    rank_list = st.parse_ranks(ranks)
    seed_list = ev.parse_seeds(seeds)
    if not 0 < threshold <= 1:
        raise ParameterError("--threshold must be above 0 and at most 1")
    check_split_options(folds, None, holdout_per_user, 4.0)
    check_plot(plot)
    target = Target(output, fmt)
    target.check()
    params = _checked_params(names, dict(model_flags), feedback.value, rank_list)
    options = read_options(
        sep, layout, header, user_col, item_col, rating_col, feedback, duplicates, missing_value
    )
    dataset = read_ratings(data, options)
    metric, splits = _cross_validation(dataset, cv, metric, folds, holdout_per_user, split_seed)
    reports = []
    total = len(names) * len(rank_list) * len(seed_list)
    with progress(total, f"stability of {algo}", enabled=not quiet) as update:
        for name in names:
            report = st.sweep(dataset, name, params[name], rank_list, seed_list, splits, metric,
                              threshold, jobs, update)  # fmt: skip
            reports.append(report.to_dict())
    with target.open() as kind:
        render_stability(reports, kind)
    if plot is not None:
        from recfactor.plot import plot_stability

        plot_stability(reports, plot)
        tell(f"wrote {plot}", quiet)


def _factor_algos(algo: str) -> list[str]:
    from recfactor.errors import ParameterError
    from recfactor.models import ALGORITHMS

    factored = [a for a in ALGORITHMS if a != "baseline"]  # every model with factors
    names = list(dict.fromkeys(a.strip() for a in algo.split(",") if a.strip()))
    wrong = [a for a in names if a not in factored]
    if wrong or not names:
        raise ParameterError(
            f"--algo {', '.join(wrong) or algo!r}: stability compares the factors of "
            + ", ".join(factored),
            hint="the baseline has no factors",
        )
    return names


def _checked_params(
    names: list[str], flags: dict[str, Any], feedback: str, ranks: list[int]
) -> dict[str, dict[str, Any]]:
    """Each algorithm's parameters from the flags, every rank checked before the data is
    read."""
    from recfactor import workflows

    single = len(names) == 1
    if not single:
        require_used(names, flags, feedback)
    params = {name: model_params(name, flags, feedback, strict=single) for name in names}
    for name in names:
        for k in ranks:
            workflows.build(name, {**params[name], "factors": k}, 0)
    return params


def _cross_validation(dataset, cv, metric, folds, holdout_per_user, split_seed):  # fmt: skip
    """(metric, splits) of the error beside each rank, or (None, None) with --no-cv."""
    if not cv:
        return None, None
    from recfactor.metrics import parse_metrics

    implicit = dataset.feedback == "implicit"
    chosen = parse_metrics(metric or ("ndcg@10" if implicit else "rmse"))[0]
    if implicit and folds is None and holdout_per_user is None:
        holdout_per_user = 0.2
    with naming(dataset.source):
        splits, _ = split_plan(dataset, folds, None, None, holdout_per_user, split_seed, True)
    return chosen, splits
