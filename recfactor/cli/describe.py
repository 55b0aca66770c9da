"""`recfactor describe` and `recfactor split`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

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
    TimeCol,
    TimeOrdered,
    UserCol,
    app,
    check_split_options,
    handle_errors,
    naming,
    read_options,
    resolved_format,
    times_of,
)
from recfactor.cli.helptext import Command
from recfactor.cli.output import OutputOpt, Target


@app.command(cls=Command)
@handle_errors
def describe(
    data: Annotated[str, typer.Argument(metavar="DATA", help="Ratings file or -.")],
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
    quiet: Quiet = False,  # every command takes it; this one writes no notes
) -> None:
    """Dataset statistics: size, density, rating histogram, long tail."""
    from recfactor.data import read_ratings
    from recfactor.describe import describe as stats
    from recfactor.report import render_description

    options = read_options(
        sep, layout, header, user_col, item_col, rating_col, feedback, duplicates, missing_value
    )
    target = Target(output, fmt)
    target.check()
    found = stats(read_ratings(data, options))
    with target.open() as kind:
        render_description(found, kind)


@app.command(cls=Command)
@handle_errors
def split(
    data: Annotated[str, typer.Argument(metavar="DATA", help="Ratings file or -.")],
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Where to write the files.")
    ] = Path("."),
    prefix: Annotated[
        Optional[str], typer.Option("--prefix", help="File name prefix [default: DATA's stem].")
    ] = None,
    folds: Annotated[
        Optional[int], typer.Option("--folds", help="k-fold: k train/test pairs.")
    ] = None,
    test_fraction: Annotated[
        float, typer.Option("--test-fraction", help="Holdout fraction (when no --folds).")
    ] = 0.2,
    holdout_per_user: Annotated[
        Optional[float],
        typer.Option(
            "--holdout-per-user",
            help="Hold out N ratings of every user (N >= 1) or a fraction of them, as "
            "evaluate does.",
        ),
    ] = None,
    split_seed: Annotated[int, typer.Option("--split-seed", min=0, help="Seed of the split.")] = 0,
    time_ordered: TimeOrdered = False,
    time_col: TimeCol = None,
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
    quiet: Quiet = False,  # every command takes it; this one writes no notes
) -> None:
    """Write reproducible train/test CSV files (holdout or k-fold); lists them on stdout."""
    from recfactor.data import read_ratings
    from recfactor.errors import DataError, ParameterError
    from recfactor.report import write_records

    options = read_options(
        sep, layout, header, user_col, item_col, rating_col, feedback, duplicates, missing_value
    )
    check_split_options(folds, test_fraction, holdout_per_user, 4.0)
    if folds is not None and (holdout_per_user is not None or time_ordered):
        raise ParameterError(
            "--folds draws k random folds", hint="drop --holdout-per-user or --time-ordered"
        )
    dataset = read_ratings(data, options)
    times = times_of(data, options, dataset, time_ordered, time_col)
    splits = _drawn(dataset, folds, test_fraction, holdout_per_user, split_seed, times)
    stem = prefix or ("stdin" if data == "-" else Path(data).name.split(".")[0])
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{output_dir}: cannot create ({exc.strerror})") from exc
    records = _write_splits(data, dataset, splits, output_dir, stem, folds is not None)
    write_records(records, ["fold", "part", "path", "ratings"], resolved_format(fmt))


def _drawn(dataset, folds, test_fraction, holdout_per_user, split_seed, times):
    from recfactor import evaluation as ev

    with naming(dataset.source):
        if folds is not None:  # exactly k, or an error: no quiet change of the files asked for
            return ev.kfold(dataset.n_ratings, folds, split_seed)
        fraction = None if holdout_per_user is not None else test_fraction
        splits, _ = ev.plan_splits(dataset, None, fraction, None, holdout_per_user, split_seed,
                                   times=times)  # fmt: skip
        return splits


def _write_splits(data, dataset, splits, output_dir, stem, kfold) -> list[dict]:
    """Each split's train and test files: the file's own lines where each rating is one
    (every column, as written); else the ratings as read. Every file is checked before the
    first is written (no device, read-only file or the data itself replaced), and each is
    written whole or not at all."""
    from recfactor import targets
    from recfactor.errors import DataError
    from recfactor.rows import RawRows

    rows = RawRows.of(data, dataset)
    frame = dataset.to_frame() if rows is None else None
    suffix = _text_suffix(data) if rows is not None else ".csv"
    planned = [
        (s.fold, part, index, output_dir / f"{stem}{tag}.{part}{suffix}")
        for s in splits
        for tag in [f".fold{s.fold + 1}" if kfold else ""]
        for part, index in (("train", s.train), ("test", s.test))
    ]
    for *_, path in planned:
        targets.check(path, DataError)
    records = []
    for fold, part, index, path in planned:
        with targets.replacing(path, DataError) as tmp:
            if rows is not None:
                rows.write(index, tmp)
            else:
                frame.iloc[index].to_csv(tmp, index=False, lineterminator="\n")
        records.append({"fold": fold + 1, "part": part, "path": str(path), "ratings": len(index)})
    return records


COMPRESSED = (".gz", ".bz2", ".xz", ".zip")


def _text_suffix(data: str) -> str:
    """The data file's own suffix, less a compression one (``u.data`` -> ``.data``; the
    split files hold its lines as they are); ``.csv`` where it has none."""
    suffixes = [s for s in Path(data).suffixes if s.lower() not in COMPRESSED]
    return suffixes[-1] if suffixes else ".csv"
