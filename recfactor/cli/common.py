"""The command line's shared parts: the Typer app, the options every command shares, the model
flags read off the models' declarations, and the translation of engine errors into `error:`
lines.

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

from recfactor.cli.helptext import Group
from recfactor.cli.helptext import state as _state
from recfactor.models import ALGORITHMS

DEFAULT_MODEL = "recfactor.model"


app = typer.Typer(
    name="recfactor",
    cls=Group,
    help="Train, save and use matrix-factorization recommenders on rating files.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# The algorithms the command line offers: the model registry's, declared there once.
Algo = Enum("Algo", [(name, name) for name in ALGORITHMS], type=str)  # type: ignore[misc]


class Engine(str, Enum):
    local = "local"
    spark = "spark"


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


class What(str, Enum):
    items = "items"
    users = "users"


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


History = Annotated[
    Optional[str],
    typer.Option(
        "--history",
        metavar="PATH",
        help="New users' ratings (user,item,rating rows, or -): folded in against the saved "
        "items, without retraining.",
    ),
]


def fold_history(fitted: Any, history: str | None, quiet: bool) -> tuple[Any, list[str]]:
    """``fitted`` with the users of ``history`` folded in, and their IDs (none without it)."""
    if history is None:
        return fitted, []
    from recfactor.data import ReadOptions, read_ratings
    from recfactor.foldin import fold_in

    data = read_ratings(history, ReadOptions(feedback=fitted.feedback_ or "explicit"))
    folded, ids, unknown = fold_in(fitted, data)
    if unknown:
        tell(f"note: {unknown} history row(s) name items the model does not know; left out",
              quiet)  # fmt: skip
    return folded, ids


ItemNames = Annotated[
    Optional[Path],
    typer.Option(
        "--titles",
        "--items",  # its first name, kept: --titles says what it holds beside --item
        metavar="PATH",
        help="Item titles (a CSV of item ID, title, or MovieLens u.item): adds a title column.",
    ),
]
MinRatings = Annotated[
    Optional[int],
    typer.Option(
        "--min-ratings",
        min=0,
        help="Leave out items with fewer training ratings [default: 5% of the mean ratings "
        "per item, at least 1; 0 keeps every item].",
    ),
]


def read_titles(path: Path | None) -> dict[str, str] | None:
    if path is None:
        return None
    from recfactor.data import read_item_names

    return read_item_names(path)


EngineOpt = Annotated[
    Engine, typer.Option("--engine", help="Where to fit: here, or on Spark (als).")
]
Master = Annotated[
    Optional[str],
    typer.Option("--master", help="Spark master: local[*], spark://HOST:7077, yarn, ..."),
]
Remote = Annotated[
    Optional[str],
    typer.Option("--remote", help="Spark Connect server, sc://HOST:15002 (no local Java)."),
]
SparkConf = Annotated[
    Optional[list[str]],
    typer.Option("--spark-conf", help="A Spark setting KEY=VALUE (repeatable)."),
]


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


TimeOrdered = Annotated[
    bool,
    typer.Option(
        "--time-ordered",
        help="A holdout holds out the latest ratings (of all, or of each user), by the time "
        "column, instead of random ones.",
        rich_help_panel="Evaluation",
    ),
]
TimeCol = Annotated[
    Optional[str],
    typer.Option(
        "--time-col",
        metavar="COLUMN",
        help="Time column: name or 1-based position [default: a header's timestamp/time/date, "
        "else the column after the rating].",
        rich_help_panel="Evaluation",
    ),
]


def times_of(data: str, options: Any, dataset: Any, time_ordered: bool, time_col: str | None):
    """Each rating's time for a time-ordered holdout (None without --time-ordered)."""
    from recfactor.errors import ParameterError

    if not time_ordered:
        if time_col is not None:
            raise ParameterError("--time-col needs --time-ordered")
        return None
    from recfactor.times import read_times

    return read_times(data, options, dataset, time_col)


AlgoOpt = Annotated[Algo, typer.Option("--algo", help="Algorithm.", rich_help_panel="Model")]


Seed = Annotated[int, typer.Option("--seed", min=0, help="Random seed.", rich_help_panel="Model")]


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
    if "preset" not in skip:
        from recfactor.models.base import PRESETS

        helps = "; ".join(f"{name}: {text}" for name, text in PRESETS.items())
        option = typer.Option("--preset", help=f"Start from another tool's defaults ({helps}); "
                              "flags given still apply.", rich_help_panel="Model")  # fmt: skip
        annotation = Annotated[Optional[str], option]
        keyword = signatures.Parameter.KEYWORD_ONLY
        out.append(signatures.Parameter("preset", keyword, default=None, annotation=annotation))
    return out


def with_model_flags(skip: tuple[str, ...] = ()) -> Callable[[Any], Any]:
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


def debug_on() -> bool:
    return os.environ.get("RECFACTOR_DEBUG", "") not in ("", "0") or _state.get("debug", False)


def handle_errors(func: F) -> F:
    """Turn the engine's errors into 'error:' / 'hint:' lines and exit 1 (2 for bad flags)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from recfactor import kernels, targets
        from recfactor.errors import ParameterError, RecfactorError

        targets.forget_inputs()
        if not kwargs.get("quiet"):
            kernels.compile_note = lambda: tell(
                "note: compiling kernels, first run only (a few seconds)", False
            )
        try:
            return func(*args, **kwargs)
        except RecfactorError as exc:
            if debug_on():
                raise
            message, hint = exc.for_command_line()  # the engine's parameters as flags
            _fail(message, hint, 2 if isinstance(exc, ParameterError) else 1)
        except MemoryError:
            if debug_on():
                raise
            _fail("out of memory", "use fewer --factors or a smaller data set", 1)
        except BrokenPipeError:
            # The reader of stdout went away (| head): silently, with GNU tools' 128 +
            # SIGPIPE (Click's own handling would exit 1, which says the input was bad).
            quiet_stdout()
            raise typer.Exit(BROKEN_PIPE) from None
        except OSError as exc:  # a file the engine could not write or read, found late
            if debug_on():
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(f"{where}{exc.strerror or exc}", "check the path and its permissions", 1)

    return wrapper  # type: ignore[return-value]


BROKEN_PIPE = 141


def quiet_stdout() -> None:
    """The reader of stdout went away (``| head``): send what is left nowhere, so that the
    interpreter's last flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _fail(message: str, hint: str | None, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    if hint:
        typer.echo(f"hint: {hint}", err=True)
    raise typer.Exit(code)


def tell(text: str, quiet: bool) -> None:
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
    _state["debug"] = debug or _state.get("debug", False)  # taken off the line already


def read_options(
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


def model_params(
    algo: str, flags: dict[str, Any], feedback: str, strict: bool = True
) -> dict[str, Any]:
    """Parameters for ``algo`` on ``feedback`` data from the model flags given (None = not
    given).

    A flag that ``algo`` does not take, or does not use with this feedback or solver, is an
    error when ``strict``; otherwise it is left out (evaluate compares several algorithms with
    one set of flags, and :func:`require_used` checks that each flag went somewhere). What
    each flag sets, and where it applies, comes from the models' parameter declarations.
    """
    from recfactor.errors import ParameterError
    from recfactor.models.flags import model_flags

    table = model_flags()
    solver = _solver_of(algo, flags)
    params: dict[str, Any] = {}
    if flags.get("preset") is not None:
        from recfactor.models import model_class

        params.update(model_class(algo).params_class.preset(flags["preset"]))
    for name, value in flags.items():
        if value is None or name == "preset":
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


def require_used(takers: list[str], flags: dict[str, Any], feedback: str) -> None:
    """Beside other algorithms, each flag given must still be used by one of ``takers``."""
    from recfactor.errors import ParameterError
    from recfactor.models.flags import model_flags

    table = model_flags()
    for name, value in flags.items():
        if name == "preset":
            continue
        used = any(table[name].applies(a, feedback, _solver_of(a, flags)) for a in takers)
        if value is not None and not used:
            raise ParameterError(
                f"{table[name].option} applies to none of --algo {','.join(takers)} "
                f"with --feedback {feedback}",
                hint=_what_uses(name, feedback),
            )


def parse_scale(text: str | None) -> tuple[float, float] | None:
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


def load_model(model_path: Path, seen: bool = True):
    from recfactor import persist

    return persist.load(model_path, seen=seen)


def resolved_format(fmt: Format | None) -> str:
    from recfactor.report import resolve_format

    return resolve_format(fmt.value if fmt else None)


@contextlib.contextmanager
def naming(source: str) -> Iterator[None]:
    """Data errors raised inside (a split with too few ratings, ...) name ``source``."""
    from recfactor.errors import DataError

    try:
        yield
    except DataError as exc:
        if exc.message.startswith(source):
            raise
        raise DataError(f"{source}: {exc.template}", hint=exc.hint_template) from None


def check_split_options(
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


def split_plan(dataset, folds, test_fraction, test, holdout_per_user, split_seed, quiet):
    """The train/test splits evaluate asked for (k-fold by default), and how to describe them."""
    from recfactor import evaluation as ev

    return ev.plan_splits(
        dataset, folds, test_fraction, test, holdout_per_user, split_seed,
        note=lambda text: tell(text, quiet),
    )  # fmt: skip


def check_plot(plot: Path | None) -> None:
    """--plot refused before any work: without matplotlib, a name that is not .png, or a
    target that targets.check refuses (a folder, a device, a read-only file, an input)."""
    from recfactor import targets
    from recfactor.errors import DataError, ParameterError

    if plot is None:
        return
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise ParameterError("--plot needs matplotlib", hint="pip install 'recfactor[plot]'")
    if plot.suffix.lower() != ".png" and not plot.is_dir():
        raise ParameterError(f"--plot {plot}: the plot is a PNG file",
                             hint="give --plot a name ending in .png")  # fmt: skip
    targets.check(plot, DataError, "--plot")
