"""``-o FILE`` on every command that writes data: the command writes as it would to stdout,
into a temporary file beside FILE that replaces it only when the command succeeds (a failed or
interrupted run leaves the old file whole). The format comes from FILE's suffix; Parquet holds
the rows the CSV would, with IDs kept as text."""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NamedTuple, Optional

import typer

OutputOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--output",
        "-o",
        metavar="PATH",
        help="Write to PATH instead of stdout (.csv, .json or .parquet; - for stdout).",
    ),
]

SUFFIX_FORMATS = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}

# Columns that hold IDs or names: text in Parquet even where every value looks like a number
# (item "007" stays "007").
TEXT_COLUMNS = ("user", "item", "similar_item", "title", "name", "path", "model", "test")


def output_format(output: Path | None, fmt: str | None) -> str | None:
    """The format ``output`` is written in: --format where given (it must agree with the
    suffix), else the suffix's; None without -o (stdout's own rule applies)."""
    from recfactor.errors import ParameterError

    if output is None or str(output) == "-":
        return fmt
    by_suffix = SUFFIX_FORMATS.get(output.suffix.lower())
    if fmt == "table":
        raise ParameterError(
            "--format table is for a terminal, not for -o", hint="give -o a .csv, .json or "
            ".parquet name"
        )  # fmt: skip
    if fmt is not None and by_suffix is not None and fmt != by_suffix:
        raise ParameterError(f"--format {fmt} does not match -o {output} (a {by_suffix} name)")
    if fmt is None and by_suffix is None:
        raise ParameterError(
            f"-o {output}: cannot tell the format from the suffix",
            hint="name it .csv, .json or .parquet, or give --format csv|json",
        )
    return fmt or by_suffix


def check_output(output: Path | None) -> None:
    """Refused before any work: whatever targets.check refuses (a folder, a device, a FIFO, a
    read-only file, the command's own input, a folder that does not exist), and a model file
    (the command's table would replace the model)."""
    from recfactor import persist, targets
    from recfactor.errors import DataError

    if output is None or str(output) == "-":
        return
    target = targets.check(output, DataError, "-o")
    if target.is_file() and persist.is_model_file(target):
        raise DataError(
            f"{output}: is a recfactor model; refusing to replace it with a table",
            hint="give -o a .csv, .json or .parquet file name",
        )


def refuse_early(output: Path | None, fmt: Any) -> None:
    """What -o and --format can be refused for before the command spends any work."""
    output_format(output, _text(fmt))
    check_output(output)


@contextlib.contextmanager
def to_output(output: Path | None, fmt: Any, parquet: bool = False) -> Iterator[str]:
    """Inside, stdout goes to ``output`` (when given); yields the format to write in: CSV
    where ``output`` is Parquet (converted on the way out) unless the caller writes Parquet
    itself (``parquet``: to ``sys.stdout.buffer``), the suffix's or --format's, and without -o
    stdout's own (a table on a terminal, else CSV)."""
    from recfactor.report import resolve_format

    kind = output_format(output, _text(fmt))
    if output is None or str(output) == "-":  # -o -: stdout, as without -o
        yield resolve_format(kind)
        return
    check_output(output)
    stdout = sys.stdout
    with atomic_path(output) as tmp:
        with open(tmp, "wb") as raw:
            sys.stdout = io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=True)
            try:
                yield "csv" if kind == "parquet" and not parquet else kind
                sys.stdout.flush()
            finally:
                sys.stdout.detach()
                sys.stdout = stdout
        if kind == "parquet" and not parquet:
            _csv_to_parquet(tmp)


@contextlib.contextmanager
def atomic_path(output: Path) -> Iterator[Path]:
    """A temporary path beside ``output`` to write to; it replaces ``output`` when the block
    ends without an error, and is removed otherwise (targets.replacing, for -o)."""
    from recfactor import targets
    from recfactor.errors import DataError

    with targets.replacing(output, DataError, "-o") as tmp:
        yield tmp


def _text(fmt: Any) -> str | None:
    """--format's value (an Enum member, a string or None) as a string."""
    return getattr(fmt, "value", fmt)


def _csv_to_parquet(path: Path) -> None:
    """Rewrite the CSV at ``path`` as Parquet, in place."""
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    with open(path, encoding="utf-8", newline="") as fh:
        names = next(csv.reader(fh), [])
    text = {n: pa.string() for n in names if n in TEXT_COLUMNS}
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types=text, strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    )
    pq.write_table(table, path)


class Target(NamedTuple):
    """Where a command's data goes (-o, or stdout) and in what format (--format)."""

    output: Path | None
    fmt: Any

    def check(self) -> None:
        refuse_early(self.output, self.fmt)

    def open(self) -> contextlib.AbstractContextManager[str]:
        return to_output(self.output, self.fmt)

    def kind(self) -> str:
        """The format, known before anything is written."""
        from recfactor.report import resolve_format

        found = output_format(self.output, _text(self.fmt))
        return "csv" if found == "parquet" else resolve_format(found)
