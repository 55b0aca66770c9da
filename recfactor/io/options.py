"""How to read a ratings file: the options every reader takes, checked before any byte is
read. Light on purpose: the command line builds them for every command, a quick one included."""

from __future__ import annotations

from dataclasses import dataclass

from recfactor.errors import ParameterError

FEEDBACKS = ("explicit", "implicit")
DUPLICATE_POLICIES = ("error", "last", "mean", "sum")
LAYOUTS = ("auto", "long", "wide")


@dataclass(frozen=True)
class ReadOptions:
    """How to read a ratings file; every field defaults to 'detect'."""

    sep: str | None = None
    # "auto": long, unless the file is plainly a matrix (then an error that says so: reading
    # it as rows would drop columns without a word); "long" and "wide" as given.
    layout: str = "auto"
    header: bool | None = None
    user_col: str | None = None
    item_col: str | None = None
    rating_col: str | None = None
    feedback: str = "explicit"
    duplicates: str | None = None
    missing_values: tuple[float, ...] = ()


def check_read_options(opt: ReadOptions) -> None:
    """Refuse option values no reader takes (an unknown feedback, layout or policy)."""
    if opt.feedback not in FEEDBACKS:
        raise ParameterError(f"unknown feedback {opt.feedback!r}; use explicit or implicit")
    if opt.layout not in LAYOUTS:
        raise ParameterError(f"unknown layout {opt.layout!r}; use long or wide")
    if opt.missing_values and opt.layout != "wide":
        raise ParameterError(
            "`missing_value` applies to `layout` wide",
            hint="in long layout a missing rating is a missing row",
        )
    if opt.duplicates is not None and opt.duplicates not in DUPLICATE_POLICIES:
        raise ParameterError(
            f"unknown duplicates policy {opt.duplicates!r}; use one of "
            + ", ".join(DUPLICATE_POLICIES)
        )
