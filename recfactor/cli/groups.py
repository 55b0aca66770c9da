"""Option groups: flags that travel together (how to read a file, how to split it, where the
output goes, where to fit), each declared once here and given to a command as one value.

A command names a group by a parameter whose default is the group (``read: Any = READ``);
:func:`with_groups` puts the group's flags in its place on the command line and hands the
command the value they build (a ``ReadOptions``, a ``SplitSpec``, a ``Target``, a
``Cluster``). A command that takes part of a group says which flags (``READ.only(...)``).
"""

from __future__ import annotations

import functools
import inspect as signatures
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer


@dataclass(frozen=True)
class OptionGroup:
    """Flags (name -> (type, default, typer.Option)) listed under ``panel`` in the help, and
    ``build``, which makes the command's value from them (every flag passed, by name)."""

    panel: str
    flags: dict[str, tuple[Any, Any, Any]]
    build: Callable[..., Any]
    taken: tuple[str, ...] | None = None  # the flags a command takes; None: all

    def only(self, *names: str) -> OptionGroup:
        """The group with only ``names`` on the command line (the others at their defaults)."""
        unknown = set(names) - set(self.flags)
        if unknown:
            raise ValueError(f"no such flags in the {self.panel} group: {sorted(unknown)}")
        return replace(self, taken=names)

    def without(self, *names: str) -> OptionGroup:
        """The group less ``names`` (at their defaults)."""
        return self.only(*(n for n in self.taken or self.flags if n not in names))

    def building(self, build: Callable[..., Any]) -> OptionGroup:
        """The group, its value made by ``build`` (a command's own default rule)."""
        return replace(self, build=build)

    def parameters(self, kind: Any) -> list[signatures.Parameter]:
        out = []
        for name in self.taken or tuple(self.flags):
            kind_of, default, option = self.flags[name]
            option.rich_help_panel = self.panel
            annotation = Annotated[kind_of, option]
            out.append(signatures.Parameter(name, kind, default=default, annotation=annotation))
        return out

    def pack(self, given: dict[str, Any]) -> Any:
        """The value of the flags in ``given`` (taken out of it); defaults for the others."""
        values = {name: default for name, (_, default, _) in self.flags.items()}
        values.update({name: given.pop(name) for name in self.taken or self.flags})
        return self.build(**values)


def with_groups(func: Any) -> Any:
    """Give a command the flags of each group it names by a parameter's default, and the
    group's value in that parameter."""
    signature = signatures.signature(func)
    named = {p.name: p.default for p in signature.parameters.values()
             if isinstance(p.default, OptionGroup)}  # fmt: skip
    parameters = []
    for p in signature.parameters.values():
        if p.name in named:
            parameters += named[p.name].parameters(p.kind)
        elif isinstance(p.annotation, str):
            parameters.append(p.replace(annotation=eval(p.annotation, func.__globals__)))
        else:
            parameters.append(p)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for name, group in named.items():
            kwargs[name] = group.pack(kwargs)
        return func(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper


# --- reading a ratings file ------------------------------------------------------------------


class Layout(str, Enum):
    long = "long"
    wide = "wide"


class Feedback(str, Enum):
    explicit = "explicit"
    implicit = "implicit"


class Duplicates(str, Enum):
    error = "error"
    last = "last"
    mean = "mean"
    sum = "sum"


def _read_options(sep, layout, header, user_col, item_col, rating_col, feedback, duplicates,
                  missing_value) -> Any:  # fmt: skip
    from recfactor.io.options import ReadOptions

    return ReadOptions(
        sep=sep,
        layout=layout.value if layout else "auto",
        header=header,
        user_col=user_col,
        item_col=item_col,
        rating_col=rating_col,
        feedback=getattr(feedback, "value", feedback),
        duplicates=duplicates.value if duplicates else None,
        missing_values=tuple(missing_value or ()),
    )


def _column(which: str) -> tuple[Any, Any, Any]:
    option = typer.Option(f"--{which}-col", help=f"{which.title()} column: name or 1-based "
                          "position [default: detected].")  # fmt: skip
    return Optional[str], None, option


READ = OptionGroup("Input", build=_read_options, flags={
    "sep": (Optional[str], None,
            typer.Option("--sep", help="Delimiter (',', 'tab', '::', ...) [default: detected].")),
    "layout": (Optional[Layout], None, typer.Option(
        "--layout", help="long: user,item,rating rows; wide: a matrix [default: long, refusing "
        "a file that is plainly a matrix].")),
    "header": (Optional[bool], None, typer.Option(
        "--header/--no-header", help="First line is a header [default: detected].")),
    "user_col": _column("user"),
    "item_col": _column("item"),
    "rating_col": _column("rating"),
    "feedback": (Feedback, Feedback.explicit, typer.Option(
        "--feedback",
        help="explicit: ratings, missing = unknown; implicit: interactions, missing = 0.")),
    "duplicates": (Optional[Duplicates], None, typer.Option(
        "--duplicates",
        help="Repeated (user, item) pairs [default: error for explicit, sum for implicit].")),
    "missing_value": (Optional[list[float]], None, typer.Option(
        "--missing-value", help="Wide layout: a cell value meaning 'no rating' (repeatable).")),
})  # fmt: skip


# --- splitting into training and test --------------------------------------------------------


def _split_spec(**flags: Any) -> Any:
    from recfactor.evaluation.splits import SplitSpec

    return SplitSpec(**flags)


SPLIT = OptionGroup("Evaluation", build=_split_spec, flags={
    "folds": (Optional[int], None, typer.Option(
        "--folds", help="k-fold: k train/test pairs [default: 5; implicit feedback: a "
        "per-user holdout of 0.2].")),
    "test_fraction": (Optional[float], None, typer.Option(
        "--test-fraction", help="One random holdout of this fraction instead.")),
    "holdout_per_user": (Optional[float], None, typer.Option(
        "--holdout-per-user",
        help="Hold out N ratings of every user (N >= 1) or a fraction of them instead.")),
    "test": (Optional[str], None, typer.Option(
        "--test", help="A separate test file instead.")),
    "split_seed": (int, 0, typer.Option("--split-seed", min=0, help="Seed of the split.")),
    "time_ordered": (bool, False, typer.Option(
        "--time-ordered", help="A holdout holds out the latest ratings (of all, or of each "
        "user), by the time column, instead of random ones.")),
    "time_col": (Optional[str], None, typer.Option(
        "--time-col", metavar="COLUMN", help="Time column: name or 1-based position "
        "[default: a header's timestamp/time/date, else the column after the rating].")),
})  # fmt: skip


def _split_files_spec(**flags: Any) -> Any:
    """`split` writes a train/test pair where no split is given: a holdout of 0.2."""
    if all(flags[k] is None for k in ("folds", "test_fraction", "holdout_per_user")):
        flags["test_fraction"] = 0.2
    return _split_spec(**flags)


# The split `split` writes: no test file to split off, a holdout of 0.2 by default.
SPLIT_FILES = SPLIT.without("test").building(_split_files_spec)


# --- what the users and items are ------------------------------------------------------------


def _feature_files(user_features: Path | None, item_features: Path | None) -> Any:
    from recfactor.io.features import FeatureFiles

    return FeatureFiles(None if user_features is None else str(user_features),
                        None if item_features is None else str(item_features))  # fmt: skip


FEATURES = OptionGroup("Input", build=_feature_files, flags={
    "user_features": (Optional[Path], None, typer.Option(
        "--user-features", metavar="PATH", help="The users' attributes: one row a user, its ID "
        "first (CSV, TSV, | or Parquet; MovieLens u.user as it is). bfm learns from them, and "
        "places users it has not seen by them.")),
    "item_features": (Optional[Path], None, typer.Option(
        "--item-features", metavar="PATH", help="The items' attributes, likewise (MovieLens "
        "u.item: genres and release dates).")),
})  # fmt: skip


# --- where the output goes -------------------------------------------------------------------


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def _target(fmt: Format | None, output: Path | None) -> Any:
    from recfactor.cli.output import Target

    target = Target(output, fmt)
    target.check()  # refused before any work: a bad suffix, a device, a model file, ...
    return target


OUTPUT = OptionGroup("Output", build=_target, flags={
    "fmt": (Optional[Format], None, typer.Option(
        "--format", help="Output format [default: table on a terminal, else csv].")),
    "output": (Optional[Path], None, typer.Option(
        "--output", "-o", metavar="PATH",
        help="Write to PATH instead of stdout (.csv, .json or .parquet; - for stdout).")),
})  # fmt: skip


class DataFormat(str, Enum):
    """What export writes to stdout (Parquet goes to a file: -o NAME.parquet)."""

    csv = "csv"
    json = "json"


# export writes data, never a table, even on a terminal.
DATA_FORMAT = typer.Option("--format", help="csv or json [default: from -o's suffix, else csv].")
DATA_OUTPUT = replace(OUTPUT, flags={**OUTPUT.flags,
                                     "fmt": (Optional[DataFormat], None, DATA_FORMAT)})  # fmt: skip


# --- where the fit runs ----------------------------------------------------------------------


class Engine(str, Enum):
    local = "local"
    spark = "spark"


def _cluster(engine: Engine, master: str | None, remote: str | None,
             spark_conf: list[str] | None, checkpoint_dir: str | None) -> Any:  # fmt: skip
    """The cluster ``--engine spark`` asks for, or None for the local engine."""
    from recfactor.errors import ParameterError

    if engine != Engine.spark:
        if master is not None or remote is not None or spark_conf or checkpoint_dir:
            raise ParameterError("--master, --remote, --spark-conf and --checkpoint-dir apply "
                                 "to --engine spark")  # fmt: skip
        return None
    from recfactor.cluster import Cluster

    return Cluster(master, remote, tuple(spark_conf or ()), checkpoint_dir)


SPARK = OptionGroup("Spark", build=_cluster, flags={
    "engine": (Engine, Engine.local, typer.Option(
        "--engine", help="Where to run: here, or on Spark (MLlib's als; other algorithms' "
        "fits one task each; any model's scores).")),
    "master": (Optional[str], None, typer.Option(
        "--master", help="Spark master: local[*], spark://HOST:7077, yarn, ...")),
    "remote": (Optional[str], None, typer.Option(
        "--remote", help="Spark Connect server, sc://HOST:15002 (no local Java).")),
    "spark_conf": (Optional[list[str]], None, typer.Option(
        "--spark-conf", help="A Spark setting KEY=VALUE (repeatable).")),
    "checkpoint_dir": (Optional[str], None, typer.Option(
        "--checkpoint-dir", metavar="DIR", help="Where ALS checkpoints its long lineages: "
        "storage every node reaches (hdfs://, s3a://) [a temporary folder here on a local "
        "master; elsewhere spark.checkpoint.dir, if the cluster sets it].")),
})  # fmt: skip
