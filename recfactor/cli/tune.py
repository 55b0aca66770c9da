"""`recfactor tune`: search a model's parameters by cross-validation, refit the best."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from recfactor.cli.common import (
    Algo,
    AlgoOpt,
    DataArg,
    Quiet,
    app,
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
def tune(
    data: DataArg,
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
    split: Any = SPLIT.without("test", "time_ordered", "time_col"),
    read: Any = READ,
    features: Any = FEATURES,
    out: Any = OUTPUT,
    cluster: Any = SPARK,
    quiet: Quiet = False,
    **model_flags: Any,
) -> None:
    """Search ALGO's parameters by cross-validation: every trial, the best setting, and (with
    -m) the best refitted on all of DATA."""
    from recfactor import workflows
    from recfactor.evaluation.tuning import read_space_file
    from recfactor.models.flags import model_params

    given = {k: v for k, v in model_flags.items() if k != "preset"}
    fixed = model_params(algo.value, given, read.feedback)
    preset = model_params(algo.value, dict(model_flags), read.feedback)
    texts = list(space or []) + read_space_file(space_file)
    _check_model_target(model, out.output)
    with naming(data, features.user, features.item):
        tuned = workflows.tune_file(
            data, algo.value, texts, fixed=fixed, preset=preset, read=read, split=split, seed=seed,
            rerun_seeds=seeds, model_path=model, features=features, trials=trials,
            search_kind=search,
            search_seed=search_seed, halving=halving, metric=metric, time_budget=time_budget,
            jobs=jobs, cluster=cluster, on_trial=_progress_note(quiet or out.kind() == "table"),
            note=lambda text: tell(text, quiet),
        )  # fmt: skip
    with out.open() as kind:
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
    if fmt == "csv":  # one table on stdout; the best and the re-runs on stderr
        tell(f"best: {best} ({found.metric} {found.best_score:.4f})", quiet)
        for row in reruns:
            tell(f"across seeds, rank {row['rank']}: {row['setting']}: "
                 f"{found.metric} mean {row['mean']:.4f}, std {row['std']:.4f}, "
                 f"{row['min']:.4f} to {row['max']:.4f}", quiet)  # fmt: skip
        return
    write_records([{"setting": best, found.metric: round(found.best_score, 6)}],
                  ["setting", found.metric], fmt, title="Best setting")  # fmt: skip
    if reruns:
        reruns = [{k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in row.items()}
                  for row in reruns]  # fmt: skip
        write_records(reruns, ["rank", "trial", "setting", "mean", "std", "min", "max"], fmt,
                      title=f"The best settings across seeds ({found.metric})")  # fmt: skip
