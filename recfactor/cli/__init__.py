"""The ``recfactor`` command line: parse, call the engine, render. No maths here.

One module per command (or pair of commands), each registering its commands on the Typer app
of ``common`` when imported, in the order ``--help`` lists them; ``entry`` is the console
entry point (``main`` runs a command in this process).
"""

import importlib

from recfactor.cli.common import app
from recfactor.cli.main import entry, main

COMMAND_MODULES = (
    "train", "update", "predict", "recommend", "export", "evaluate", "tune", "stability",
    "describe", "inspect", "serve",
)  # fmt: skip
for _module in COMMAND_MODULES:
    importlib.import_module(f"recfactor.cli.{_module}")

__all__ = ["app", "entry", "main"]
