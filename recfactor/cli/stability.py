"""`recfactor stability`: stable components at each rank."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from recfactor.cli.common import (
    DataArg,
    Quiet,
    app,
    check_plot,
    handle_errors,
    naming,
    tell,
    with_model_flags,
)
from recfactor.cli.groups import OUTPUT, READ, SPARK, SPLIT, with_groups
from recfactor.cli.helptext import Command


@app.command(cls=Command)
@handle_errors
@with_groups
@with_model_flags(skip=("factors",))
def stability(
    data: DataArg,
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
    jobs: Annotated[
        Optional[int],
        typer.Option("--jobs", "-j", min=1, help="Cores for the cross-validation [all]."),
    ] = None,
    plot: Annotated[
        Optional[Path],
        typer.Option("--plot", help="Draw stable components and the metric against k (PNG)."),
    ] = None,
    split: Any = SPLIT.only("folds", "holdout_per_user", "split_seed"),
    read: Any = READ,
    out: Any = OUTPUT,
    cluster: Any = SPARK,
    quiet: Quiet = False,
    **model_flags: Any,
) -> None:
    """How many factors are stable across seeds at each rank k, with the cross-validated
    error beside it: which k to use for prediction, and up to which k to read the factors."""
    from recfactor.evaluation import parse_seeds
    from recfactor.evaluation import stability as st
    from recfactor.io.ratings import read_ratings
    from recfactor.report import progress, render_stability

    names, rank_list, seed_list = st.factor_algos(algo), st.parse_ranks(ranks), parse_seeds(seeds)
    _check_threshold(threshold, plot)
    params = st.checked_params(names, dict(model_flags), read.feedback, rank_list)
    dataset = read_ratings(data, read)
    with naming(dataset.source):
        metric, splits = st.cross_validation(dataset, metric, split) if cv else (None, None)
    reports = []
    with progress(len(names) * len(rank_list) * len(seed_list), f"stability of {algo}",
                  enabled=not quiet) as update:  # fmt: skip
        for name in names:
            found = st.sweep(dataset, name, params[name], rank_list, seed_list, splits, metric,
                             threshold, jobs, update, cluster)  # fmt: skip
            reports.append(found.to_dict())
    with out.open() as kind:
        render_stability(reports, kind)
    if plot is not None:
        from recfactor.plot import plot_stability

        plot_stability(reports, plot)
        tell(f"wrote {plot}", quiet)


def _check_threshold(threshold: float, plot: Path | None) -> None:
    from recfactor.errors import ParameterError

    check_plot(plot)
    if not 0 < threshold <= 1:
        raise ParameterError("--threshold must be above 0 and at most 1")
