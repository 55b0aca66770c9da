"""`recfactor tune`: search a model's parameters by cross-validation, refit the best."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from recfactor.cli.common import (
    Algo,
    AlgoOpt,
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
    check_split_options,
    handle_errors,
    model_params,
    naming,
    read_options,
    tell,
    with_model_flags,
)
from recfactor.cli.helptext import Command
from recfactor.cli.output import OutputOpt, Target


@app.command(cls=Command)
@with_model_flags()
@handle_errors
def tune(
    data: Annotated[str, typer.Argument(metavar="DATA", help="Ratings file or -.")],
    algo: AlgoOpt = Algo.svd,
    space: Annotated[
        Optional[list[str]],
        typer.Option(
            "--space",
            help="A searched parameter: NAME=LOW..HIGH[:log|log2] or "
            "NAME=A,B,C (repeatable), e.g. k=16..256:log2, reg=1e-3..1:log.",
        ),
    ] = None,
    space_file: Annotated[
        Optional[Path],
        typer.Option("--space-file", help='A TOML file of NAME = "LOW..HIGH:log" lines.'),
    ] = None,
    search: Annotated[
        str, typer.Option("--search", help="random, or grid (every point when --trials is 0).")
    ] = "random",
    trials: Annotated[int, typer.Option("--trials", min=0, help="Settings to try.")] = 20,
    halving: Annotated[
        bool,
        typer.Option(
            "--halving/--no-halving", help="Successive halving over epochs (iterative models)."
        ),
    ] = True,
    time_budget: Annotated[
        Optional[float],
        typer.Option(
            "--time-budget",
            min=0,
            help="Stop the search after this many seconds (a trial still running then is "
            "dropped after its current fit).",
        ),
    ] = None,
    metric: Annotated[
        Optional[str],
        typer.Option(
            "--metric",
            help="What to optimise: rmse, mae, ndcg@10, ... [rmse; implicit: precision@10].",
        ),
    ] = None,
    folds: Annotated[Optional[int], typer.Option("--folds", help="k-fold [5].")] = None,
    test_fraction: Annotated[
        Optional[float], typer.Option("--test-fraction", help="One random holdout instead.")
    ] = None,
    holdout_per_user: Annotated[
        Optional[float], typer.Option("--holdout-per-user", help="Per-user holdout instead.")
    ] = None,
    split_seed: Annotated[int, typer.Option("--split-seed", min=0, help="Seed of the split.")] = 0,
    search_seed: Annotated[
        int, typer.Option("--search-seed", min=0, help="Seed of the random search's draws.")
    ] = 0,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="The model's seed: the trials' fits and -m's.")
    ] = 0,
    seeds: Annotated[
        int, typer.Option("--seeds", min=0, help="Re-run the best 3 settings under N seeds.")
    ] = 0,
    jobs: Annotated[
        Optional[int], typer.Option("--jobs", "-j", min=1, help="Cores for each trial [all].")
    ] = None,
    model: Annotated[
        Optional[Path], typer.Option("--model", "-m", help="Refit the best on all DATA, save.")
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
    """Search ALGO's parameters by cross-validation: every trial, the best setting, and (with
    -m) the best refitted on all of DATA."""
    from recfactor import tuning

    check_split_options(folds, test_fraction, holdout_per_user, 4.0)
    target = Target(output, fmt)
    target.check()
    fixed = model_params(algo.value, dict(model_flags), feedback.value)
    texts = list(space or []) + _space_file(space_file)
    if not texts:
        texts = tuning.default_space(algo.value, feedback.value, list(fixed))
        tell(f"searching {algo.value}'s default space: {' '.join(texts)}", quiet)
    dims = tuning.parse_space(texts, algo.value)
    given = {k: v for k, v in model_flags.items() if k != "preset"}
    clash = sorted(set(model_params(algo.value, given, feedback.value)) & {d.name for d in dims})
    fixed = {k: v for k, v in fixed.items() if k not in {d.name for d in dims}}
    if clash:
        from recfactor.errors import ParameterError

        raise ParameterError(f"{', '.join(clash)}: both searched and fixed by a flag")
    _check_model_target(model, output)
    from recfactor import workflows

    options = read_options(sep, layout, header, user_col, item_col, rating_col, feedback,
                            duplicates, missing_value)  # fmt: skip
    split = {"folds": folds, "test_fraction": test_fraction, "holdout_per_user": holdout_per_user,
             "split_seed": split_seed}  # fmt: skip
    with naming(data if data != "-" else "<stdin>"):
        tuned = workflows.tune_file(
            data, algo.value, texts, fixed=fixed, read=options, split=split, seed=seed,
            rerun_seeds=seeds, model_path=model, trials=trials, search_kind=search,
            search_seed=search_seed, halving=halving, metric=metric, time_budget=time_budget,
            jobs=jobs, on_trial=_progress_note(quiet or target.kind() == "table"),
        )  # fmt: skip
    with target.open() as kind:
        _render(tuned.search, tuned.across_seeds, kind, quiet)
    if model is not None:
        tell(f"wrote {model}: the best setting refitted on all of {data}", quiet)


def _check_model_target(model: Path | None, output: Path | None) -> None:
    """-m and -o refused before the search where they name one file (the model path itself
    is checked by the workflow, before it reads the data)."""
    if model is None:
        return
    from recfactor import targets
    from recfactor.errors import ParameterError

    targets.claim(model, ParameterError, "-m")
    if output is not None and str(output) != "-":
        targets.claim(output, ParameterError, "-o")


def _space_file(path: Path | None) -> list[str]:
    if path is None:
        return []
    from recfactor.errors import DataError

    try:
        import tomllib
    except ImportError:  # Python 3.10
        raise DataError(f"{path}: reading TOML needs Python 3.11",
                        hint="give the space with --space instead") from None  # fmt: skip
    if not path.exists():
        raise DataError(f"{path}: no such file", hint="check the path")
    if not path.is_file():  # a device would be read for ever, a FIFO wait for a writer
        raise DataError(f"{path}: not a regular file",
                        hint='write one NAME = "LOW..HIGH:log" a line')  # fmt: skip
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DataError(f"{path}: not a readable TOML file ({exc})",
                        hint='write one NAME = "LOW..HIGH:log" a line') from None  # fmt: skip
    table = table.get("space", table)
    return [f"{name}={','.join(map(str, value)) if isinstance(value, list) else value}"
            for name, value in table.items()]  # fmt: skip


def _progress_note(quiet: bool):
    def said(row: dict[str, Any]) -> None:
        tell(f"trial {row['trial']} (rung {row['rung']}): "
              + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in row.items() if k not in ("trial", "rung", "seconds")),
              quiet)  # fmt: skip

    return said


def _render(found: Any, reruns: list[dict[str, Any]], fmt: str, quiet: bool) -> None:
    """JSON: one object; CSV: the trials (the best on stderr); a table: trials, the best, and
    the best settings across seeds."""
    import json
    import sys

    from recfactor.report import write_records

    if fmt == "json":
        sys.stdout.write(json.dumps({**found.to_dict(), "across_seeds": reruns}) + "\n")
        return
    columns = list(dict.fromkeys(k for row in found.trials for k in row))
    shown = [{k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in row.items()}
             for row in found.trials]  # fmt: skip
    write_records(shown, columns, fmt, title=f"Trials ({found.metric}, mean over folds)")
    best = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in found.best.items())  # fmt: skip
    if fmt == "csv":
        tell(f"best: {best} ({found.metric} {found.best_score:.4f})", quiet)
        return
    write_records([{"setting": best, found.metric: round(found.best_score, 6)}],
                  ["setting", found.metric], fmt, title="Best setting")  # fmt: skip
    if reruns:
        reruns = [{k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in row.items()}
                  for row in reruns]  # fmt: skip
        write_records(reruns, ["rank", "trial", "setting", "mean", "std", "min", "max"], fmt,
                      title=f"The best settings across seeds ({found.metric})")  # fmt: skip
