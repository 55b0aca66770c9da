"""`recfactor serve`: a saved model answering over HTTP (recfactor.serving)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recfactor.cli.common import (
    DEFAULT_MODEL,
    ItemNames,
    ModelPath,
    Quiet,
    app,
    handle_errors,
    read_titles,
)  # fmt: skip
from recfactor.cli.helptext import Command
from recfactor.serving.limits import Limits

_LIMITS = Limits()  # the defaults, declared there once
Opt = typer.Option


@app.command(cls=Command)
@handle_errors
def serve(
    model: ModelPath = Path(DEFAULT_MODEL),
    host: Annotated[str, Opt("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, Opt("--port", "-p", min=0, max=65535, help="0: any free one.")] = 8000,
    items: ItemNames = None,
    workers: Annotated[int, Opt(min=1, max=64, help="Processes on the one port.")] = 1,
    timeout: Annotated[
        float, Opt(min=0.1, help="Seconds a connection may stay silent.")
    ] = _LIMITS.timeout,
    max_body: Annotated[int, Opt(min=1, help="Largest POST body, bytes.")] = _LIMITS.body_bytes,
    max_connections: Annotated[
        int, Opt(min=1, help="Open connections a worker takes.")
    ] = _LIMITS.connections,
    quiet: Quiet = False,
) -> None:
    """Answer /predict, /recommend (GET, or POST a new user's ratings), /similar, /healthz and
    /metrics over HTTP as JSON, and a page at /; a replaced model file (or SIGHUP) is loaded
    without dropping a request; SIGTERM drains and exits 0."""
    import sys

    from recfactor.serving.workers import listen, serve

    limits = Limits(body_bytes=max_body, timeout=timeout, connections=max_connections)
    titles, sock = read_titles(items), listen(host, port)

    def log(line: str) -> None:
        if not quiet or not line.startswith("serve: "):
            print(line, file=sys.stderr, flush=True)

    code = serve(sock, str(model), titles, workers, limits, log)
    if code:
        raise typer.Exit(code)
