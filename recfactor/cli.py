"""The ``recfactor`` command line: parse, call the engine, render. No maths here.

Imports of numpy, pandas and the engine happen inside the commands, so that a quick
``recfactor predict`` on a saved model pays only for what it uses.
"""

from __future__ import annotations

import contextlib
import functools
import inspect as signatures
import os
import sys
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer

DEFAULT_MODEL = "recfactor.model"

app = typer.Typer(
    name="recfactor",
    help="Train, save and use matrix-factorization recommenders on rating files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class Algo(str, Enum):
    baseline = "baseline"
    svd = "svd"
    nmf = "nmf"
    als = "als"


class Feedback(str, Enum):
    explicit = "explicit"
    implicit = "implicit"


class Layout(str, Enum):
    long = "long"
    wide = "wide"


class Duplicates(str, Enum):
    error = "error"
    last = "last"
    mean = "mean"
    sum = "sum"


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


class Init(str, Enum):
    random = "random"
    nndsvd = "nndsvd"
    nndsvda = "nndsvda"


class What(str, Enum):
    items = "items"
    users = "users"


# -- shared options ------------------------------------------------------------------------

ModelPath = Annotated[
    Path,
    typer.Option("--model", "-m", envvar="RECFACTOR_MODEL", help="Model file.", show_default=True),
]
FormatOpt = Annotated[
    Optional[Format],
    typer.Option("--format", help="Output format [default: table on a terminal, else csv]."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or notes.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="More detail on stderr.")]

Sep = Annotated[
    Optional[str],
    typer.Option(
        "--sep",
        help="Delimiter (',', 'tab', '::', ...) [default: detected].",
        rich_help_panel="Input",
    ),
]
LayoutOpt = Annotated[
    Optional[Layout],
    typer.Option(
        "--layout",
        help="long: user,item,rating rows; wide: a matrix [default: long, refusing a file that "
        "is plainly a matrix].",
        rich_help_panel="Input",
    ),
]
Header = Annotated[
    Optional[bool],
    typer.Option(
        "--header/--no-header",
        help="First line is a header [default: detected].",
        rich_help_panel="Input",
    ),
]
UserCol = Annotated[
    Optional[str],
    typer.Option(
        "--user-col", help="User column: name or 1-based position.", rich_help_panel="Input"
    ),
]
ItemCol = Annotated[
    Optional[str],
    typer.Option(
        "--item-col", help="Item column: name or 1-based position.", rich_help_panel="Input"
    ),
]
RatingCol = Annotated[
    Optional[str],
    typer.Option(
        "--rating-col", help="Rating column: name or 1-based position.", rich_help_panel="Input"
    ),
]
FeedbackOpt = Annotated[
    Feedback,
    typer.Option(
        "--feedback",
        help="explicit: ratings, missing = unknown; implicit: interactions, missing = 0.",
        rich_help_panel="Input",
    ),
]
DuplicatesOpt = Annotated[
    Optional[Duplicates],
    typer.Option(
        "--duplicates",
        help="Repeated (user, item) pairs [default: error for explicit, sum for implicit].",
        rich_help_panel="Input",
    ),
]
MissingValue = Annotated[
    Optional[list[float]],
    typer.Option(
        "--missing-value",
        help="Wide layout: a cell value meaning 'no rating' (repeatable).",
        rich_help_panel="Input",
    ),
]

AlgoOpt = Annotated[Algo, typer.Option("--algo", help="Algorithm.", rich_help_panel="Model")]
Seed = Annotated[int, typer.Option("--seed", min=0, help="Random seed.", rich_help_panel="Model")]
Bias = Annotated[
    Optional[bool],
    typer.Option(
        "--bias/--no-bias",
        help="svd, nmf: learn user and item biases [svd: yes, nmf: no] (svd --no-bias: plain MF).",
        rich_help_panel="Model",
    ),
]


def _model_flag_parameters(skip: frozenset[str] = frozenset()) -> list[signatures.Parameter]:
    """The model flags as command parameters, read off the models' parameter declarations
    (``recfactor.models.flags``): a parameter declared with help text is a flag, with its
    help, its models' defaults and its short form; a new parameter needs nothing here."""
    from recfactor.models.flags import model_flags

    out = []
    for flag in model_flags().values():
        if flag.name in skip:
            continue
        names = [flag.option + (f"/--no-{flag.option[2:]}" if flag.switch else "")]
        names += [flag.short] if flag.short else []
        option = typer.Option(*names, help=flag.help, rich_help_panel="Model")
        annotation = Annotated[Optional[flag.kind], option]
        keyword = signatures.Parameter.KEYWORD_ONLY
        out.append(signatures.Parameter(flag.name, keyword, default=None, annotation=annotation))
    return out


def _with_model_flags(skip: tuple[str, ...] = ()) -> Callable[[Any], Any]:
    """Give a command taking ``**model_flags`` the model flags as its own options."""

    def attach(func: Any) -> Any:
        signature = signatures.signature(func, eval_str=True)
        kept = [p for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD]
        added = _model_flag_parameters(frozenset(skip))
        func.__signature__ = signature.replace(parameters=[*kept, *added])
        func.__annotations__ = {
            **{p.name: p.annotation for p in kept},
            **{p.name: p.annotation for p in added},
        }
        return func

    return attach


F = TypeVar("F", bound=Callable[..., Any])


def _debug() -> bool:
    return os.environ.get("RECFACTOR_DEBUG", "") not in ("", "0") or _state.get("debug", False)


_state: dict[str, Any] = {}


def _handle_errors(func: F) -> F:
    """Turn the engine's errors into 'error:' / 'hint:' lines and exit 1 (2 for bad flags)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from recfactor.errors import ParameterError, RecfactorError

        try:
            return func(*args, **kwargs)
        except RecfactorError as exc:
            if _debug():
                raise
            message, hint = exc.for_command_line()  # the engine's parameters as flags
            _fail(message, hint, 2 if isinstance(exc, ParameterError) else 1)
        except MemoryError:
            if _debug():
                raise
            _fail("out of memory", "use fewer --factors or a smaller data set", 1)
        except BrokenPipeError:
            raise  # the reader of stdout went away (| head): Click exits quietly
        except OSError as exc:  # a file the engine could not write or read, found late
            if _debug():
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(f"{where}{exc.strerror or exc}", "check the path and its permissions", 1)

    return wrapper  # type: ignore[return-value]


def _fail(message: str, hint: str | None, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    if hint:
        typer.echo(f"hint: {hint}", err=True)
    raise typer.Exit(code)


def _note(text: str, quiet: bool) -> None:
    if not quiet:
        typer.echo(text, err=True)


def _print_version(value: bool) -> None:
    if value:
        from recfactor import __version__

        typer.echo(__version__)
        raise typer.Exit(0)


@app.callback()
def _main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks (also RECFACTOR_DEBUG=1).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Train, save and use matrix-factorization recommenders on rating files."""
    _state["debug"] = debug


# -- helpers -------------------------------------------------------------------------------


def _read_options(
    sep: str | None,
    layout: Layout | None,
    header: bool | None,
    user_col: str | None,
    item_col: str | None,
    rating_col: str | None,
    feedback: Feedback,
    duplicates: Duplicates | None,
    missing_value: list[float] | None,
):
    from recfactor.data import ReadOptions

    return ReadOptions(
        sep=sep,
        layout=layout.value if layout else "auto",
        header=header,
        user_col=user_col,
        item_col=item_col,
        rating_col=rating_col,
        feedback=feedback.value,
        duplicates=duplicates.value if duplicates else None,
        missing_values=tuple(missing_value or ()),
    )


def _model_params(
    algo: str, flags: dict[str, Any], feedback: str, strict: bool = True
) -> dict[str, Any]:
    """Parameters for ``algo`` on ``feedback`` data from the model flags given (None = not
    given).

    A flag that ``algo`` does not take, or does not use with this feedback or solver, is an
    error when ``strict``; otherwise it is left out (evaluate compares several algorithms with
    one set of flags, and :func:`_require_used` checks that each flag went somewhere). What
    each flag sets, and where it applies, comes from the models' parameter declarations.
    """
    from recfactor.errors import ParameterError
    from recfactor.models.flags import model_flags

    table = model_flags()
    solver = _solver_of(algo, flags)
    params: dict[str, Any] = {}
    for name, value in flags.items():
        if value is None:
            continue
        flag = table[name]
        if algo not in flag.targets:
            if strict:
                raise ParameterError(
                    f"{flag.option} does not apply to --algo {algo}",
                    hint="applies to --algo " + ", ".join(flag.targets),
                )
            continue
        if not flag.applies(algo, feedback, solver):
            if strict:
                raise _not_here(flag, algo, feedback, solver)
            continue
        value = value.value if isinstance(value, Enum) else value
        for target in flag.targets[algo]:
            params[target] = value
    return params


def _not_here(flag: Any, algo: str, feedback: str, solver: str | None) -> Exception:
    """The error for a flag ``algo`` takes but ignores with this feedback or solver."""
    from recfactor.errors import ParameterError

    if flag.feedback[algo] in (None, feedback):  # the solver, then
        return ParameterError(
            f"{flag.option} does not apply to --algo {algo} with --solver {solver}",
            hint=f"drop it; it applies to --solver {', '.join(flag.solvers[algo])}",
        )
    return ParameterError(
        f"{flag.option} does not apply to --algo {algo} with --feedback {feedback}",
        hint="drop it; " + _what_uses(flag.name, feedback),
    )


def _solver_of(algo: str, flags: dict[str, Any]) -> str | None:
    from recfactor.models.flags import default_solver

    return flags.get("solver") or default_solver(algo)


def _what_uses(name: str, feedback: str) -> str:
    from recfactor.models.flags import model_flags

    flag = model_flags()[name]
    users = [algo for algo in flag.targets if flag.feedback[algo] in (None, feedback)]
    if users:
        return f"with --feedback {feedback} it applies to --algo {', '.join(users)}"
    other = "explicit" if feedback == "implicit" else "implicit"
    return f"it applies with --feedback {other}"


def _require_used(takers: list[str], flags: dict[str, Any], feedback: str) -> None:
    """Beside other algorithms, each flag given must still be used by one of ``takers``."""
    from recfactor.errors import ParameterError
    from recfactor.models.flags import model_flags

    table = model_flags()
    for name, value in flags.items():
        used = any(table[name].applies(a, feedback, _solver_of(a, flags)) for a in takers)
        if value is not None and not used:
            raise ParameterError(
                f"{table[name].option} applies to none of --algo {','.join(takers)} "
                f"with --feedback {feedback}",
                hint=_what_uses(name, feedback),
            )


def _within_rank(
    algo: str,
    params: dict[str, Any],
    feedback: str,
    shapes: Callable[[], list[tuple[int, int]]],
    quiet: bool,
) -> dict[str, Any]:
    """svd's default of 100 factors, lowered for a truncated SVD (PureSVD on implicit data,
    --solver lanczos) of a matrix too small for it: the user did not ask for 100, so the most
    the data allows is used, and said. A -k the data cannot take stays an error. ``shapes``
    gives the (users, items) of every matrix to be fitted, computed only when needed."""
    from recfactor.models.svd import SVDParams

    truncated = feedback == "implicit" or params.get("solver") == "lanczos"
    if algo != "svd" or not truncated or "factors" in params:
        return params
    limit = min(min(users, items) for users, items in shapes()) - 1
    default = SVDParams().factors
    if not 1 <= limit < default:
        return params  # the default fits, or nothing does (the fit says so)
    _note(f"note: svd uses {limit} factors, the most a truncated SVD of this data allows "
          f"(the default is {default}; -k to choose)", quiet)  # fmt: skip
    return {**params, "factors": limit}


def _build_model(algo: str, params: dict[str, Any], seed: int):
    from recfactor.models import model_class

    cls = model_class(algo)
    return cls(cls.params_class(**params, seed=seed))


def _parse_scale(text: str | None) -> tuple[float, float] | None:
    from recfactor.errors import ParameterError

    if text is None:
        return None
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        raise ParameterError(f"--rating-scale takes LOW,HIGH, not {text!r}") from None
    if not low < high:
        raise ParameterError("--rating-scale needs LOW < HIGH")
    return low, high


def _load(model_path: Path, seen: bool = True):
    from recfactor import persist

    return persist.load(model_path, seen=seen)


def _fmt(fmt: Format | None) -> str:
    from recfactor.report import resolve_format

    return resolve_format(fmt.value if fmt else None)


# -- commands ------------------------------------------------------------------------------


@app.command()
@_with_model_flags()
@_handle_errors
def train(
    data: Annotated[
        str, typer.Argument(metavar="DATA", help="Ratings file (CSV/TSV, .gz/.bz2/.xz/.zip) or -.")
    ],
    model: ModelPath = Path(DEFAULT_MODEL),
    algo: AlgoOpt = Algo.svd,
    seed: Seed = 0,
    rating_scale: Annotated[
        Optional[str],
        typer.Option(
            "--rating-scale", help="Clip predictions to LOW,HIGH [default: as seen in training]."
        ),
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
    quiet: Quiet = False,
    verbose: Verbose = False,
    **model_flags: Any,
) -> None:
    """Fit a model on DATA and save it (default ./recfactor.model)."""
    import time

    from recfactor import persist
    from recfactor.data import read_ratings
    from recfactor.report import progress, write_records

    flags = dict(model_flags)
    params = _model_params(algo.value, flags, feedback.value)
    # A bad parameter is refused before the data is read.
    prototype = _build_model(algo.value, params, seed)
    scale = _parse_scale(rating_scale)
    # So is a model path that cannot be written, or that holds something else (the data).
    persist.check_target(model)
    options = _read_options(
        sep, layout, header, user_col, item_col, rating_col, feedback, duplicates, missing_value
    )
    # The data file's SHA-256 goes into the model's manifest; hashing a large file takes
    # 0.2-0.5 s, done on the side while the main thread reads and fits (hashlib lets go of
    # the interpreter lock).
    fingerprint = persist.fingerprint_in_background(data) if data != "-" else None
    loading = _load_kernels_beside(prototype)
    started = time.perf_counter()
    dataset = read_ratings(data, options)
    read_seconds = time.perf_counter() - started
    loading.join()
    shape = (dataset.n_users, dataset.n_items)
    params = _within_rank(algo.value, params, feedback.value, lambda: [shape], quiet)
    fitted = _build_model(algo.value, params, seed)
    fitted.validate(dataset)  # errors the data holds for this model, before the note
    _note(
        f"training {algo.value} on {dataset.n_ratings} ratings "
        f"({dataset.n_users} users x {dataset.n_items} items)",
        quiet,
    )
    with progress(None, f"training {algo.value}", enabled=not quiet) as update:
        fitted.fit(dataset, rating_scale=scale, on_epoch=update)
    if verbose:
        _note(f"read {data} in {read_seconds:.3f} s; fit in {fitted.fit_seconds_:.3f} s", quiet)
    record = {"path": None, "size": None, "sha256": None}
    if fingerprint is not None:
        record = fingerprint()
    persist.save(
        fitted,
        model,
        {"data": {**record, "read_options": _options_dict(options)}},
    )
    summary = {
        "model": str(model),
        "algo": algo.value,
        "users": dataset.n_users,
        "items": dataset.n_items,
        "ratings": dataset.n_ratings,
        "train_rmse": fitted.train_metrics_.get("rmse"),
        "train_mae": fitted.train_metrics_.get("mae"),
        "fit_seconds": round(fitted.fit_seconds_, 4),
    }
    write_records([summary], list(summary), _fmt(fmt), title="Trained")


def _load_kernels_beside(model: Any) -> Any:
    """Load the fit's compiled kernels on a thread while this one reads the data.

    Loading them is mostly Python (numba's import and cache), Arrow's parse is not, so on two
    cores the two overlap (0.6 s of a 7.5 s train on 9 million ratings). A failure here is left
    for the fit, which loads them again and reports it.
    """
    import threading

    def load() -> None:
        try:
            model._prepare()
            from recfactor.kernels import pairs

            pairs.warm_up()
        except Exception:
            pass

    thread = threading.Thread(target=load, name="recfactor-load-kernels", daemon=True)
    thread.start()
    return thread


def _options_dict(options) -> dict[str, Any]:
    import dataclasses

    return {
        k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(options).items()
    }


@app.command()
@_handle_errors
def predict(
    pairs: Annotated[
        Optional[str],
        typer.Argument(
            metavar="PAIRS", help="File of user,item pairs (or -) for batch prediction."
        ),
    ] = None,
    user: Annotated[Optional[str], typer.Option("--user", "-u", help="User ID.")] = None,
    item: Annotated[Optional[str], typer.Option("--item", "-i", help="Item ID.")] = None,
    model: ModelPath = Path(DEFAULT_MODEL),
    strict: Annotated[
        bool, typer.Option("--strict", help="Unknown users or items are an error.")
    ] = False,
    sep: Sep = None,
    header: Header = None,
    user_col: UserCol = None,
    item_col: ItemCol = None,
    fmt: FormatOpt = None,
    quiet: Quiet = False,
) -> None:
    """Predict ratings: one pair with --user/--item, or a batch from PAIRS (csv on stdout)."""
    from recfactor.errors import ParameterError
    from recfactor.report import write_records

    single = user is not None or item is not None
    if single and pairs is not None:
        raise ParameterError("give either --user/--item or a PAIRS file, not both")
    if single and (user is None or item is None):
        raise ParameterError("a single prediction needs both --user and --item")
    if not single and pairs is None:
        raise ParameterError(
            "nothing to predict", hint="give --user U --item I, or a PAIRS file (- for stdin)"
        )
    fitted, _ = _load(model, seen=False)
    if single:
        users, items = [user], [item]
        result = fitted.predict(users, items, strict=strict)
    else:
        from recfactor.data import ReadOptions, read_pair_codes

        user_codes, item_codes = read_pair_codes(
            pairs, ReadOptions(sep=sep, header=header, user_col=user_col, item_col=item_col)
        )
        result = fitted.predict_coded(
            user_codes.ids, user_codes.codes, item_codes.ids, item_codes.codes, strict=strict
        )
    if single and result.cold[0]:
        side = "user" if fitted.user_index([user])[0] < 0 else "item"
        _note(f"note: unknown {side}; predicted from the baseline", quiet)
    elif result.cold.any():
        _note(
            f"note: {int(result.cold.sum())} pair(s) with an unknown user or item were "
            "predicted from the baseline (cold=true)",
            quiet,
        )
    output = _fmt(fmt)
    if output == "csv" and not single:
        _write_predictions_csv(user_codes, item_codes, result.values, result.cold)
        return
    if not single:
        users = user_codes.ids[user_codes.codes]
        items = item_codes.ids[item_codes.codes]
    records = [
        {"user": u, "item": i, "prediction": float(v), "cold": bool(c)}
        for u, i, v, c in zip(users, items, result.values, result.cold)
    ]
    write_records(records, ["user", "item", "prediction", "cold"], output)


def _write_predictions_csv(user_codes, item_codes, values, cold) -> None:
    import pyarrow as pa

    from recfactor import csvout

    if csvout.plain_ids(user_codes.ids) and csvout.plain_ids(item_codes.ids):
        sys.stdout.flush()
        csvout.write_csv(
            sys.stdout.buffer,
            {
                "user": csvout.coded(user_codes.codes, user_codes.ids),
                "item": csvout.coded(item_codes.codes, item_codes.ids),
                "prediction": csvout.format_g6(values),
                "cold": pa.DictionaryArray.from_arrays(
                    pa.array(cold.astype("int8")), pa.array(["false", "true"])
                ),
            },
        )
        return
    import pandas as pd  # IDs that need quotes: pandas quotes them as the csv module would

    users = user_codes.ids[user_codes.codes]
    items = item_codes.ids[item_codes.codes]
    frame = pd.DataFrame(
        {
            "user": users,
            "item": items,
            "prediction": values,
            "cold": pd.Series(cold).map({True: "true", False: "false"}),
        }
    )
    frame.to_csv(sys.stdout, index=False, float_format="%.6g", lineterminator="\n")


def _read_ids(source: str, what: str) -> list[str]:
    from recfactor.data import read_id_list

    return read_id_list(source, what)


@app.command()
@_handle_errors
def recommend(
    users: Annotated[
        Optional[str], typer.Argument(metavar="USERS", help="File of user IDs, one a line (or -).")
    ] = None,
    user: Annotated[Optional[str], typer.Option("--user", "-u", help="User ID.")] = None,
    n: Annotated[int, typer.Option("-n", "--n", min=1, help="How many items.")] = 10,
    all_users: Annotated[bool, typer.Option("--all-users", help="Every user.")] = False,
    include_seen: Annotated[
        bool, typer.Option("--include-seen", help="Keep items the user rated in training.")
    ] = False,
    model: ModelPath = Path(DEFAULT_MODEL),
    fmt: FormatOpt = None,
    quiet: Quiet = False,
) -> None:
    """Top-N items for users, excluding what each already rated in training."""
    from recfactor.errors import ColdStartError, ParameterError
    from recfactor.report import write_records

    chosen = sum(x for x in (user is not None, users is not None, all_users))
    if chosen != 1:
        raise ParameterError("give exactly one of --user U, a USERS file (or -), --all-users")
    fitted, _ = _load(model)
    if all_users:
        ids = [str(x) for x in fitted.user_ids_]
    elif user is not None:
        ids = [user]
    else:
        ids = _read_ids(users, "user")
    index = fitted.user_index(ids)
    unknown = index < 0
    if unknown.any():
        if user is not None:
            raise ColdStartError(f"unknown user {user!r}: not in the training data")
        _note(f"note: skipped {int(unknown.sum())} unknown user(s)", quiet)
    top, scores = fitted.recommend_index(index[~unknown], n, exclude_seen=not include_seen)
    kept = [u for u, bad in zip(ids, unknown) if not bad]
    records = [
        {"user": u, "rank": r + 1, "item": str(fitted.item_ids_[j]), "score": float(s)}
        for u, row, srow in zip(kept, top, scores)
        for r, (j, s) in enumerate(zip(row, srow))
        if j >= 0
    ]
    exhausted = sum(not (row >= 0).any() for row in top)
    if exhausted:
        whom = f"user {kept[0]!r}" if user is not None else f"{exhausted} user(s)"
        _note(f"note: {whom} rated every item in training: nothing left to recommend "
              "(--include-seen ranks them all)", quiet)  # fmt: skip
    write_records(records, ["user", "rank", "item", "score"], _fmt(fmt))


@app.command()
@_handle_errors
def similar(
    items: Annotated[
        Optional[str], typer.Argument(metavar="ITEMS", help="File of item IDs, one a line (or -).")
    ] = None,
    item: Annotated[Optional[str], typer.Option("--item", "-i", help="Item ID.")] = None,
    n: Annotated[int, typer.Option("-n", "--n", min=1, help="How many items.")] = 10,
    model: ModelPath = Path(DEFAULT_MODEL),
    fmt: FormatOpt = None,
    quiet: Quiet = False,
) -> None:
    """Items closest to an item in factor space (cosine similarity)."""
    from recfactor.errors import ColdStartError, ParameterError
    from recfactor.report import write_records

    if (item is None) == (items is None):
        raise ParameterError("give exactly one of --item I or an ITEMS file (or -)")
    fitted, _ = _load(model)
    ids = [item] if item is not None else _read_ids(items, "item")
    index = fitted.item_index(ids)
    unknown = index < 0
    if unknown.any():
        if item is not None:
            raise ColdStartError(f"unknown item {item!r}: not in the training data")
        _note(f"note: skipped {int(unknown.sum())} unknown item(s)", quiet)
    top, scores = fitted.similar_index(index[~unknown], n)
    kept = [i for i, bad in zip(ids, unknown) if not bad]
    records = [
        {"item": i, "rank": r + 1, "similar_item": str(fitted.item_ids_[j]), "score": float(s)}
        for i, row, srow in zip(kept, top, scores)
        for r, (j, s) in enumerate(zip(row, srow))
        if j >= 0
    ]
    if len(fitted.item_ids_) == 1:
        _note("note: the model knows no other item to compare with", quiet)
    write_records(records, ["item", "rank", "similar_item", "score"], _fmt(fmt))


@app.command()
@_handle_errors
def export(
    what: Annotated[What, typer.Option("--what", help="Which factors to write.")] = What.items,
    output: Annotated[
        Optional[Path],
        typer.Option(
            "--output", "-o", help="File to write (.csv, .json or .parquet) [default: stdout]."
        ),
    ] = None,
    fmt: Annotated[
        Optional[Format],
        typer.Option("--format", help="csv or json [default: from -o's suffix, else csv]."),
    ] = None,
    model: ModelPath = Path(DEFAULT_MODEL),
    quiet: Quiet = False,  # every command takes it; this one writes no notes
) -> None:
    """Write the learned user or item factors (and biases) as CSV, JSON or Parquet."""
    import numpy as np
    import pandas as pd

    from recfactor.errors import DataError, ParameterError

    suffix = output.suffix.lower() if output is not None else ""
    kind = fmt.value if fmt is not None else {".json": "json", ".parquet": "parquet"}.get(suffix)
    kind = kind or "csv"
    if kind == "table":
        raise ParameterError("export writes csv or json (or Parquet, by the -o suffix)")
    if output is not None and output.is_file():
        from recfactor import persist

        if persist.is_model_file(output):
            raise DataError(
                f"{output}: is a recfactor model; export will not overwrite it",
                hint="give -o a .csv, .json or .parquet file name",
            )
    fitted, _ = _load(model)
    ids = fitted.item_ids_ if what == What.items else fitted.user_ids_
    bias = fitted.item_bias_ if what == What.items else fitted.user_bias_
    factors = fitted.item_factors_ if what == What.items else fitted.user_factors_
    columns = {
        what.value[:-1]: ids,
        "bias": bias if (bias is not None and fitted.uses_bias_) else np.full(len(ids), np.nan),
    }
    if factors is not None:
        columns.update({f"f{f}": factors[:, f] for f in range(factors.shape[1])})
    frame = pd.DataFrame(columns)
    target = sys.stdout if output is None else output
    try:
        if kind == "parquet":
            frame.to_parquet(output, index=False)
        elif kind == "json":
            text = _factor_json(frame, what.value[:-1])
            if output is None:
                sys.stdout.write(text)
            else:
                output.write_text(text)
        else:
            frame.to_csv(target, index=False, float_format="%.8g", lineterminator="\n")
    except ImportError:
        raise DataError(
            f"{output}: writing Parquet needs pyarrow", hint="pip install pyarrow, or use .csv"
        ) from None
    except OSError as exc:
        if output is None:
            raise
        raise DataError(f"{output}: cannot write ({exc.strerror or exc})") from None


def _factor_json(frame: Any, id_column: str) -> str:
    """The CSV's records as a JSON list, numbers as the CSV writes them (8 significant digits,
    as short as they can be) and an absent bias as null."""
    import io
    import json

    import pandas as pd

    text = frame.to_csv(index=False, float_format="%.8g", lineterminator="\n")
    back = pd.read_csv(
        io.StringIO(text),
        dtype={id_column: str},
        keep_default_na=False,  # an ID "NA" stays "NA"
        na_values={"bias": [""]},
    )
    back = back.astype(object).where(back.notna(), None)
    return json.dumps(back.to_dict("records")) + "\n"


@app.command()
@_with_model_flags()
@_handle_errors
def evaluate(
    data: Annotated[
        Optional[str],
        typer.Argument(
            metavar="DATA", help="Ratings file [default: the data the saved model was trained on]."
        ),
    ] = None,
    algo: Annotated[
        Optional[str],
        typer.Option(
            "--algo",
            help="Comma-separated algorithms [default: baseline,svd, or the saved model's].",
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
    quiet: Quiet = False,
    verbose: Verbose = False,
    **model_flags: Any,
) -> None:
    """Cross-validated errors (rmse, mae) or top-N quality (ndcg@10, ...) of each algorithm
    under several seeds, and how they spread."""
    import time

    from recfactor import evaluation as ev
    from recfactor.errors import ParameterError

    started = time.perf_counter()

    seed_list = ev.parse_seeds(seeds)
    if plot is not None:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            raise ParameterError("--plot needs matplotlib", hint="pip install 'recfactor[plot]'")
        if not plot.parent.is_dir() if str(plot.parent) else False:
            raise ParameterError(f"--plot {plot}: the folder {plot.parent} does not exist")
    _check_split_options(folds, test_fraction, holdout_per_user, relevant_threshold)
    chosen = [x is not None for x in (test, test_fraction, folds, holdout_per_user)]
    if sum(chosen) > 1:
        raise ParameterError("give one of --test, --test-fraction, --folds and --holdout-per-user")
    from recfactor.workers import available_cores

    if jobs is not None and jobs > available_cores():
        # More processes than cores would only take turns on them, each holding its memory.
        _note(f"note: --jobs {jobs} capped at the {available_cores()} usable cores", quiet)
    jobs = min(jobs or available_cores(), available_cores())
    rating_scale = None
    if data is None:
        data, options, algos = _recorded_setup(model, algo, quiet)
        rating_scale = _load(model)[0].rating_scale_
        dataset, test_set = _read_pair(data, test, options)
    else:
        default_algos = "baseline,svd" if feedback == Feedback.explicit else "baseline,svd,als"
        names = [a.strip() for a in (algo or default_algos).split(",") if a.strip()]
        unknown = [a for a in names if a not in {x.value for x in Algo}]
        if unknown or not names:
            raise ParameterError(
                f"unknown algorithm {', '.join(unknown) or algo!r}",
                hint="choose from " + ", ".join(a.value for a in Algo),
            )
        flags = dict(model_flags)
        # With one algorithm every flag must apply to it; beside others, each algorithm takes
        # the flags that apply to it (the baseline keeps its defaults as the reference line).
        single = len(set(names)) == 1
        takers = [n for n in dict.fromkeys(names) if n != "baseline" or single]
        if not single:
            _require_used(takers, flags, feedback.value)
        algos = [
            ev.AlgoSpec(
                name,
                _model_params(name, flags, feedback.value, strict=single) if name in takers else {},
            )
            for name in dict.fromkeys(names)
        ]
        # --folds, or one split (--test, --test-fraction, a holdout: implicit data's default).
        one_split = sum(chosen) > 0 or feedback == Feedback.implicit
        n_splits = folds if folds is not None else 1 if one_split else 5
        option_args = (sep, layout, header, user_col, item_col, rating_col, feedback,
                       duplicates, missing_value)  # fmt: skip
        if _reader_pays(data, jobs, algos, len(seed_list), n_splits):
            dataset, test_set = _read_beside_numba(data, test, option_args)
        else:
            dataset, test_set = _read_with_flags(data, test, option_args)
    read_seconds = time.perf_counter() - started
    from recfactor.metrics import parse_metrics
    from recfactor.report import progress, render_evaluation

    implicit = dataset.feedback == "implicit"
    metrics = parse_metrics(
        metric or ("precision,recall,ndcg,map,coverage" if implicit else "rmse,mae")
    )
    if implicit and sum(chosen) == 0:
        holdout_per_user = 0.2
    with _naming(dataset.source):
        splits, split_info = _splits(dataset, folds, test_fraction, test, holdout_per_user,
                                     split_seed, quiet)  # fmt: skip

    def shapes() -> list[tuple[int, int]]:  # of the whole data and each training fold
        import numpy as np

        def used(index: np.ndarray, n: int) -> int:
            return int(np.count_nonzero(np.bincount(index, minlength=n)))

        return [(dataset.n_users, dataset.n_items)] + [
            (used(dataset.users[s.train], dataset.n_users),
             used(dataset.items[s.train], dataset.n_items))
            for s in splits or []
        ]  # fmt: skip

    algos = [
        ev.AlgoSpec(a.name, _within_rank(a.name, a.params, dataset.feedback, shapes, quiet))
        for a in algos
    ]
    folds_run = (1 if splits is None else len(splits)) + (1 if len(seed_list) > 1 else 0)
    total = len(algos) * len(seed_list) * folds_run
    fitting = time.perf_counter()
    with progress(total, "evaluating", enabled=not quiet) as advance:
        report = ev.cross_validate(
            dataset,
            algos,
            seed_list,
            metrics,
            splits=splits,
            test=test_set,
            split_info=split_info,
            rating_scale=rating_scale,
            progress=advance,
            relevant_threshold=None if implicit else relevant_threshold,
            jobs=jobs,
        )
    if verbose:
        fit_seconds = time.perf_counter() - fitting
        _note(f"{data} read (imports included) in {read_seconds:.2f} s; {total} fits and their "
              f"scores in {fit_seconds:.2f} s with --jobs {jobs}", quiet)  # fmt: skip
    render_evaluation(report.to_dict(), _fmt(fmt))
    if plot is not None:
        from recfactor.plot import plot_evaluation

        plot_evaluation(report.to_dict(), plot)
        _note(f"wrote {plot}", quiet)


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
    return _read_pair(data, test, _read_options(*option_args))


def _read_beside_numba(data: str, test: str | None, option_args: tuple):
    """:func:`_read_with_flags` in a forked process while this one loads numba; the worker
    processes, forked later from this one, then start with both the data and numba ready."""
    from recfactor.workers import Background, load_numba

    reader = Background(_read_with_flags, data, test, option_args)
    load_numba()
    return reader.result()


@contextlib.contextmanager
def _naming(source: str) -> Iterator[None]:
    """Data errors raised inside (a split with too few ratings, ...) name ``source``."""
    from recfactor.errors import DataError

    try:
        yield
    except DataError as exc:
        if exc.message.startswith(source):
            raise
        raise DataError(f"{source}: {exc.template}", hint=exc.hint_template) from None


def _check_split_options(
    folds: int | None,
    test_fraction: float | None,
    holdout_per_user: float | None,
    relevant_threshold: float,
) -> None:
    """What can be refused before the data is read and a fit is spent."""
    import math

    from recfactor.errors import ParameterError

    if folds is not None and folds < 2:
        raise ParameterError("--folds must be at least 2", hint="5 is usual")
    if folds is not None and folds > 2**31 - 1:
        raise ParameterError(f"--folds {folds} is more folds than any data has ratings")
    if test_fraction is not None and not 0 < test_fraction < 1:
        raise ParameterError("--test-fraction must be between 0 and 1")
    if holdout_per_user is not None:
        size = holdout_per_user
        if not math.isfinite(size) or size <= 0:
            raise ParameterError("--holdout-per-user must be a positive finite number")
        if size > 2**31 - 1:
            raise ParameterError(f"--holdout-per-user {size:g} is more ratings than any user has")
        if size >= 1 and size != int(size):
            raise ParameterError(
                f"--holdout-per-user {size:g}: a count must be a whole number",
                hint="give N >= 1 ratings per user, or a fraction below 1",
            )
    if not math.isfinite(relevant_threshold):
        raise ParameterError("--relevant-threshold must be a finite number")


def _splits(dataset, folds, test_fraction, test, holdout_per_user, split_seed, quiet):
    """The train/test splits evaluate asked for (k-fold by default), and how to describe them."""
    from recfactor import evaluation as ev

    return ev.plan_splits(
        dataset, folds, test_fraction, test, holdout_per_user, split_seed,
        note=lambda text: _note(text, quiet),
    )  # fmt: skip


def _recorded_setup(model_path: Path, algo: str | None, quiet: bool):
    """The data file, read options and algorithm recorded in a saved model."""
    from recfactor import persist
    from recfactor.data import ReadOptions
    from recfactor.errors import DataError, ParameterError
    from recfactor.evaluation import AlgoSpec

    manifest = persist.read_manifest(model_path)
    data = manifest.get("data") or {}
    path = data.get("path")
    if not path:
        raise DataError(
            f"{model_path}: the model was trained from stdin or a pipe, so there is no file to "
            "re-evaluate",
            hint="give the data file: recfactor evaluate DATA",
        )
    if not Path(path).exists():
        raise DataError(
            f"{path}: the data this model was trained on is gone",
            hint="give the data file: recfactor evaluate DATA",
        )
    if persist.file_fingerprint(path)["sha256"] != data.get("sha256"):
        _note(f"note: {path} changed since the model was trained", quiet)
    if algo is not None and algo != manifest["algorithm"]:
        raise ParameterError(
            "--algo cannot be combined with re-evaluating a saved model",
            hint="give DATA to compare algorithms",
        )
    read = dict(data.get("read_options") or {})
    read["missing_values"] = tuple(read.get("missing_values") or ())
    params = {k: v for k, v in manifest["params"].items() if k != "seed"}
    return path, ReadOptions(**read), [AlgoSpec(manifest["algorithm"], params)]


@app.command()
@_with_model_flags(skip=("factors",))
@_handle_errors
def stability(
    data: Annotated[str, typer.Argument(metavar="DATA", help="Ratings file or -.")],
    algo: Annotated[
        str,
        typer.Option(
            "--algo", help="nmf, svd or als, or several: svd,als.", rich_help_panel="Model"
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

    names = list(dict.fromkeys(a.strip() for a in algo.split(",") if a.strip()))
    wrong = [a for a in names if a not in ("nmf", "svd", "als")]
    if wrong or not names:
        raise ParameterError(
            f"--algo {', '.join(wrong) or algo!r}: stability compares the factors of nmf, svd "
            "or als",
            hint="the baseline has no factors",
        )
    rank_list = st.parse_ranks(ranks)
    seed_list = ev.parse_seeds(seeds)
    if not 0 < threshold <= 1:
        raise ParameterError("--threshold must be above 0 and at most 1")
    _check_split_options(folds, None, holdout_per_user, 4.0)
    if plot is not None:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            raise ParameterError("--plot needs matplotlib", hint="pip install 'recfactor[plot]'")
    flags = dict(model_flags)
    single = len(names) == 1
    if not single:
        _require_used(names, flags, feedback.value)
    params = {name: _model_params(name, flags, feedback.value, strict=single) for name in names}
    for name in names:  # every parameter checked before the data is read
        for k in rank_list:
            _build_model(name, {**params[name], "factors": k}, 0)
    options = _read_options(
        sep, layout, header, user_col, item_col, rating_col, feedback, duplicates, missing_value
    )
    dataset = read_ratings(data, options)
    implicit = dataset.feedback == "implicit"
    chosen_metric = (metric or ("ndcg@10" if implicit else "rmse")) if cv else None
    splits = None
    if cv:
        from recfactor.metrics import parse_metrics

        chosen_metric = parse_metrics(chosen_metric)[0]
        if implicit and folds is None and holdout_per_user is None:
            holdout_per_user = 0.2
        with _naming(dataset.source):
            splits, _ = _splits(dataset, folds, None, None, holdout_per_user, split_seed, True)
    total = len(names) * len(rank_list) * len(seed_list)
    reports = []
    with progress(total, f"stability of {algo}", enabled=not quiet) as update:
        for name in names:
            report = st.sweep(dataset, name, params[name], rank_list, seed_list, splits,
                              chosen_metric, threshold, jobs, update)  # fmt: skip
            reports.append(report.to_dict())
    render_stability(reports, _fmt(fmt))
    if plot is not None:
        from recfactor.plot import plot_stability

        plot_stability(reports, plot)
        _note(f"wrote {plot}", quiet)


@app.command()
@_handle_errors
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
    quiet: Quiet = False,  # every command takes it; this one writes no notes
) -> None:
    """Dataset statistics: size, density, rating histogram, long tail."""
    from recfactor.data import read_ratings
    from recfactor.describe import describe as stats
    from recfactor.report import render_description

    options = _read_options(
        sep, layout, header, user_col, item_col, rating_col, feedback, duplicates, missing_value
    )
    render_description(stats(read_ratings(data, options)), _fmt(fmt))


@app.command()
@_handle_errors
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
    split_seed: Annotated[int, typer.Option("--split-seed", min=0, help="Seed of the split.")] = 0,
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
    from recfactor import evaluation as ev
    from recfactor.data import read_ratings
    from recfactor.errors import DataError
    from recfactor.report import write_records

    options = _read_options(
        sep, layout, header, user_col, item_col, rating_col, feedback, duplicates, missing_value
    )
    dataset = read_ratings(data, options)
    with _naming(dataset.source):
        splits = (
            ev.kfold(dataset.n_ratings, folds, split_seed)
            if folds is not None
            else ev.holdout(dataset.n_ratings, test_fraction, split_seed)
        )
    stem = prefix or ("stdin" if data == "-" else Path(data).name.split(".")[0])
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{output_dir}: cannot create ({exc.strerror})") from exc
    frame = dataset.to_frame().rename(columns={"rating": dataset.rating_column})
    records = []
    for s in splits:
        tag = f".fold{s.fold + 1}" if folds is not None else ""
        for part, index in (("train", s.train), ("test", s.test)):
            path = output_dir / f"{stem}{tag}.{part}.csv"
            frame.iloc[index].to_csv(path, index=False, lineterminator="\n")
            records.append(
                {"fold": s.fold + 1, "part": part, "path": str(path), "ratings": len(index)}
            )
    write_records(records, ["fold", "part", "path", "ratings"], _fmt(fmt))


@app.command()
@_handle_errors
def inspect(
    model: ModelPath = Path(DEFAULT_MODEL),
    items: Annotated[
        Optional[Path],
        typer.Option(
            "--items", help="Item names: a file of item ID, name (CSV, or MovieLens u.item)."
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Top items per factor.")] = 5,
    compare: Annotated[
        Optional[Path],
        typer.Option(
            "--compare", help="Another model: align the two and show how alike their factors are."
        ),
    ] = None,
    fmt: FormatOpt = None,
    quiet: Quiet = False,  # every command takes it; this one writes no notes
) -> None:
    """What the saved model learned: settings, fit, factor norms, top items per factor, and
    (for small models) heatmaps of the factor matrices; or, with --compare, how it agrees
    with another model."""
    from recfactor.data import read_item_names
    from recfactor.report import render_comparison, render_model
    from recfactor.summary import compare as compare_models
    from recfactor.summary import heatmaps, summarise

    fitted, manifest = _load(model)
    names = read_item_names(items) if items is not None else None
    if compare is not None:
        other, _ = _load(compare)
        render_comparison(compare_models(fitted, other, names, top), _fmt(fmt))
        return
    render_model(summarise(fitted, manifest, names, top), heatmaps(fitted), _fmt(fmt))


def main() -> None:
    """Console entry point: quiet on broken pipes (``| head``), 130 on Ctrl-C.

    SIGPIPE keeps Python's default (ignored, so a closed pipe raises BrokenPipeError, which
    Click turns into a quiet exit): restoring the signal's own default would also kill this
    process silently when a pipe to an evaluate worker process breaks.
    """
    # OpenBLAS threads spin for about 0.13 s whenever they start (at numpy's import, and again
    # in every forked process that sets their count) before they sleep: on a small machine that
    # is taken from the fits running beside them. Here they sleep at once; a user's own setting
    # wins. Read when numpy loads OpenBLAS, which the commands import only after this.
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    if not _debug() and "--debug" not in sys.argv:
        # numpy's warnings (a mean of nothing, a division by zero already handled) are not
        # the user's business: stderr carries notes and error lines only.
        import warnings

        warnings.simplefilter("ignore", RuntimeWarning)
    try:
        sys.exit(_run_app())
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    finally:
        # Nothing is left to collect on the way out, but the interpreter's shutdown would
        # still walk every object numba, scipy and pandas made, several times over (0.3 s
        # after a fit). Frozen, they are skipped; files are closed and flushed before this.
        import gc

        gc.freeze()


def _run_app() -> int:
    """Run the command; every way it can end becomes an exit code and at most two lines on
    stderr (``error:`` and ``hint:``), tracebacks only under --debug."""
    try:
        outcome = app(standalone_mode=False)
    except BrokenPipeError:
        _quiet_stdout()
        return 1
    except Exception as exc:
        # Click's exceptions, by name: typer vendors its own copy of Click from 0.28 on.
        kinds = {cls.__name__ for cls in type(exc).__mro__}
        if "NoArgsIsHelpError" in kinds:  # a bare command: its help, as Click prints it
            sys.stderr.write(exc.ctx.get_help() + "\n")
            return 2
        if "UsageError" in kinds:
            ctx = getattr(exc, "ctx", None)
            command = ctx.command_path if ctx is not None else "recfactor"
            message = " ".join(exc.format_message().split())
            sys.stderr.write(f"error: {message}\nhint: see {command} --help\n")
            return 2
        if "Abort" in kinds:
            raise KeyboardInterrupt from None
        if "ClickException" in kinds:
            sys.stderr.write(f"error: {exc.format_message()}\n")
            return int(exc.exit_code)
        return _internal_error(exc)
    if outcome == 130:  # typer's Ctrl-C (KeyboardInterrupt becomes Exit(130)), said here
        raise KeyboardInterrupt
    return outcome if isinstance(outcome, int) else 0


def _quiet_stdout() -> None:
    """The reader of stdout went away (``| head``): send what is left nowhere, so that the
    interpreter's last flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _internal_error(exc: BaseException) -> int:
    if _debug() or "--debug" in sys.argv:
        raise exc
    text = " ".join(str(exc).split())[:300]
    sys.stderr.write(
        f"error: internal error: {type(exc).__name__}" + (f": {text}" if text else "") + "\n"
        "hint: run again with --debug for the traceback, and please report it\n"
    )
    return 1
