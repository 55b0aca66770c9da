"""Running the command line in-process, for the tests: ``run("train", path, "-q")`` and the
CSV it printed as dicts."""

from __future__ import annotations

import csv
import io

from typer.testing import CliRunner

from recfactor.cli import app


def run(*args, **kwargs):
    """``recfactor ARGS`` (each argument made a string) in this process; Click's result."""
    return CliRunner().invoke(app, [str(a) for a in args], **kwargs)


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def unclocked(path, rows_key: str, field: str) -> dict:
    """The JSON report at ``path`` without the clock's ``field`` in each of its ``rows_key``
    rows: what two runs of the same work must share."""
    import json
    from pathlib import Path

    report = json.loads(Path(path).read_text())
    for row in report[rows_key]:
        row.pop(field)
    return report
