"""Running the server: in this process, or in several worker processes that share one listening
socket (the kernel hands each new connection to one of them), each with its own copy of the
model and its own watcher of the file.

Signals: SIGTERM and SIGINT drain (no new connections, requests in flight answered) and exit 0;
SIGHUP loads the model file again. A parent of several workers passes each on to them.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable

from recfactor.errors import RecfactorError
from recfactor.serving.limits import Limits

Log = Callable[[str], None]


def listen(host: str, port: int) -> socket.socket:
    """The bound, listening socket (port 0: a free one)."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as exc:
        if exc.errno is not None and exc.errno < 0:  # the resolver's codes, not the system's
            raise RecfactorError(f"cannot listen on {host}:{port}: no such address",
                                 hint=ADDRESS_HINT) from None  # fmt: skip
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        hint = LISTEN_HINTS.get(exc.errno, "choose another `port` (0: any free one), or stop "
                                "what listens there")  # fmt: skip
        raise RecfactorError(f"cannot listen on {host}:{port}: {reason}", hint=hint) from None


ADDRESS_HINT = ("give an address of this machine: 127.0.0.1 (this machine alone), 0.0.0.0 "
                "(every interface), or a name that resolves to one")  # fmt: skip
LISTEN_HINTS = {
    errno.EADDRNOTAVAIL: ADDRESS_HINT,
    errno.EACCES: "ports below 1024 need root: choose 1024 or above (0: any free one)",
}


def serve(sock: socket.socket, model_path: str, titles: dict[str, str] | None, workers: int,
          limits: Limits, log: Log) -> int:  # fmt: skip
    """Serve until SIGTERM or SIGINT; the exit code (0: drained)."""
    host, port = sock.getsockname()[:2]
    where = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
    if workers == 1:
        return _run(sock, model_path, titles, limits, log, where)
    from recfactor import persist

    persist.read_manifest(model_path)  # a file that is no model refused here, not by each worker
    return _supervise(sock, model_path, titles, workers, limits, log, where)


def _run(sock: socket.socket, model_path: str, titles: dict[str, str] | None, limits: Limits,
         log: Log, where: str | None) -> int:  # fmt: skip
    """One server in this process."""
    from recfactor.running import blas
    from recfactor.serving.answers import load
    from recfactor.serving.http import Server
    from recfactor.serving.metrics import Metrics
    from recfactor.serving.slot import Slot

    # One BLAS thread: each answer is one small product, and requests run side by side in
    # threads (more cores: more workers); a second BLAS thread only adds a hand-over.
    blas.set_threads(1)
    served = load(model_path, titles)
    metrics = Metrics()
    slot = Slot(served, titles, metrics, log)
    server = Server(sock, slot, metrics, limits, log)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: slot.reload_now())
    slot.start()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="accept", daemon=True)  # fmt: skip
    thread.start()
    model = served.model
    if where is not None:
        log(f"serve: {model.name} model {model_path} ({len(model.user_ids_)} users, "
            f"{len(model.item_ids_)} items) on {where}; Ctrl-C or SIGTERM stops")  # fmt: skip
    while not stop.wait(0.2):
        pass
    server.drain()
    slot.stop()
    return 0


def _supervise(sock: socket.socket, model_path: str, titles: dict[str, str] | None,
               workers: int, limits: Limits, log: Log, where: str) -> int:  # fmt: skip
    """``workers`` forked processes on ``sock``; returns when they have all ended."""
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # a worker: serve, then leave without the parent's exit handlers
            code = 1
            try:
                code = _run(sock, model_path, titles, limits, log, None)
            except RecfactorError as exc:
                log(f"error: {exc.message}")
            except BaseException as exc:
                log(f"serve: worker {os.getpid()} failed: {type(exc).__name__}: {exc}")
            finally:
                sys.stderr.flush()
                os._exit(code)
        children.append(pid)
    sock.close()

    def forward(signum: int, _frame: object) -> None:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM if signum == signal.SIGINT else signum)
            except ProcessLookupError:
                pass

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    log(f"serve: {model_path} on {where} in {workers} worker processes; Ctrl-C or SIGTERM "
        "stops")  # fmt: skip
    worst = 0
    alive = set(children)
    while alive:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        alive.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        if code != 0 and alive:  # a worker that could not start or died: stop the rest
            worst = 1
            forward(signal.SIGTERM, None)
    return worst
