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
from recfactor.errors import (
    ColdStartError,
    DataError,
    FitError,
    ModelFileError,
    ParameterError,
    RecfactorError,
    as_flags,
)
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


class What(str, Enum):
    items = "items"
    users = "users"


ModelPath = Annotated[
    Path,
    typer.Option("--model", "-m", envvar="RECFACTOR_MODEL", help="Model file.", show_default=True),
]


Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or notes.")]


def _an_id(value: str | None) -> str | None:
    if value is not None and not value.strip():  # `--user "$U"` with U unset: no user's ID
        raise typer.BadParameter("an empty ID (no user or item has one)")
    return value


UserId = Annotated[Optional[str], typer.Option("--user", "-u", help="User ID.", callback=_an_id)]
ItemId = Annotated[Optional[str], typer.Option("--item", "-i", help="Item ID.", callback=_an_id)]


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


UserAttrs = Annotated[
    Optional[str],
    typer.Option(
        "--user-attrs",
        metavar="NAME=VALUE,...",
        help="The --user's attributes (age=25,gender=F,...), by the model's feature columns: "
        "a user the model has not seen is placed by them (bfm).",
    ),
]


def known_rows(
    fitted: Any, history: str | None, features: Any, quiet: bool,
    attrs: str | None = None, user: str | None = None,
) -> tuple[Any, dict[str, str], dict[str, str], list[str]]:  # fmt: skip
    """``fitted`` with what the command knows of users and items it has not seen: the users
    of ``history`` (user,item,rating rows, or -), the rows of the feature files, the
    ``--user-attrs`` of ``user``. Returns the model, each placed user's and item's path
    (history, attributes) and the history's users."""
    from recfactor import coldstart

    data = None
    if history is not None:
        from recfactor.io.ratings import ReadOptions, read_ratings

        data = read_ratings(history, ReadOptions(feedback=fitted.feedback_ or "explicit"))
    encodings = getattr(fitted, "encodings_", None)
    side = features.read(encodings or {}) if features else None
    named = {}
    if attrs is not None:
        from recfactor.io.features import Encoding, parse_attributes

        if user is None:
            raise ParameterError("--user-attrs describes the one --user", hint="give --user U")
        saved = (encodings or {}).get("user")
        if saved is None:
            raise ParameterError("this model was trained without user features",
                                 hint="train --algo bfm --user-features FILE")  # fmt: skip
        named[user] = parse_attributes(attrs, Encoding.from_dict(saved), lambda m: tell(m, quiet))
    model, users, items = coldstart.prepare(fitted, history=data, side=side, attributes=named)
    folded = [] if data is None else [str(u) for u in data.user_ids if str(u) in users]
    unknown = 0 if data is None else int((fitted.item_index(data.item_ids)[data.items] < 0).sum())
    if unknown:
        tell(f"note: {unknown} history row(s) name items the model does not know; left out",
             quiet)  # fmt: skip
    return model, users, items, folded


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
    from recfactor.io.pairs import read_item_names

    return read_item_names(path)


DataArg = Annotated[
    str,
    typer.Argument(metavar="DATA", help="Ratings file (CSV/TSV, Parquet, Arrow, JSON lines; "
                   ".gz/.bz2/.xz/.zst/.zip) or -."),
]  # fmt: skip


RatingScale = Annotated[
    Optional[str],
    typer.Option("--rating-scale", help="Clip predictions to LOW,HIGH [default: as seen in "
                 "training].", rich_help_panel="Model"),
]  # fmt: skip


def engine_note(text: str, quiet: bool) -> None:
    """An engine's note with its `parameters` as flags (-k for factors)."""
    tell(as_flags(text).replace("--factors to choose", "-k to choose"), quiet)


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
        from recfactor.models.params import PRESETS

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
            hint = hint or _fallback_hint(exc, func.__name__.replace("_", "-"))
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
            where = f"{exc.filename}: " if exc.filename else "standard output: "  # unnamed
            hint = "free some space" if exc.errno == 28 else "check the path and its permissions"
            _fail(f"{where}{exc.strerror or exc}", hint, 1)  # 28: ENOSPC, the disk is full

    return wrapper  # type: ignore[return-value]


BROKEN_PIPE = 141


def _fallback_hint(exc: Exception, command: str) -> str:
    """What to look at next, by kind, after an engine error raised without a hint."""
    side = "item" if str(exc).startswith("unknown item") else "user"
    by_kind = {
        ColdStartError: f"give a known {side} (recfactor export --what {side}s lists them)",
        ModelFileError: "give a model file that recfactor train or update wrote, or train again",
        DataError: "fix the data named above, or see how it is read: recfactor train --help",
        FitError: "train with other settings: recfactor train --help lists them",
    }
    return next((hint for kind, hint in by_kind.items() if isinstance(exc, kind)),
                f"see recfactor {command} --help")  # fmt: skip


def quiet_stdout() -> None:
    """The reader of stdout went away (``| head``): send what is left nowhere, so that the
    interpreter's last flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _fail(message: str, hint: str | None, code: int) -> None:
    for label, text in (("error", message), ("hint", hint)):  # one line each, whatever a
        if text:  # library's text held (Arrow's thrift errors end in a newline)
            typer.echo(f"{label}: " + " ".join(text.splitlines()), err=True)
    raise typer.Exit(code)


def tell(text: str | None, quiet: bool) -> None:
    if text and not quiet:  # a note of nothing says nothing (not an empty line)
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


def parse_scale(text: str | None) -> tuple[float, float] | None:
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


def resolved_format(fmt: Any) -> str:
    from recfactor.report import resolve_format

    return resolve_format(fmt.value if fmt else None)


@contextlib.contextmanager
def naming(source: str, *others: str | None) -> Iterator[None]:
    """Data errors raised inside (a split with too few ratings, ...) name ``source`` (``-``:
    stdin), unless they name it or one of the ``others`` read (a test or features file)."""
    named = tuple("<stdin>" if n == "-" else str(n) for n in (source, *others) if n)
    try:
        yield
    except DataError as exc:
        if exc.message.startswith(named):
            raise
        raise DataError(f"{named[0]}: {exc.template}", hint=exc.hint_template) from None


def check_plot(plot: Path | None) -> None:
    """--plot refused before any work: without matplotlib, a name that is not .png, or a
    target that targets.check refuses (a folder, a device, a read-only file, an input)."""
    from recfactor import targets

    if plot is None:
        return
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise ParameterError("--plot needs matplotlib", hint="pip install 'recfactor[plot]'")
    if plot.suffix.lower() != ".png" and not plot.is_dir():
        raise ParameterError(f"--plot {plot}: the plot is a PNG file",
                             hint="give --plot a name ending in .png")  # fmt: skip
    targets.check(plot, DataError, "--plot")
