"""Processes for ``evaluate --jobs``: a reader beside the compiler, then the workers.

Before its first fit a process must import numba and initialise its compiler (about a second),
and the ratings must be read (pandas' import and parse, more than half a second). With several
jobs the two overlap: a forked process reads the data while this one loads numba; the workers
are then forked from this process and inherit both the data and the initialised compiler, so
neither cost is paid again per worker. This module imports nothing heavy itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity where the platform says (a
    container or ``taskset`` may allow fewer than the machine has), else the machine's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def start_method() -> str:
    """fork (workers inherit the imported modules and the data: much faster to start) while
    this process has not started numba's thread pool (loading or running a parallel kernel
    starts it, and OpenMP does not survive a fork); spawn otherwise."""
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    launched = parallel is not None and getattr(parallel, "_is_initialized", True)
    return "spawn" if launched or sys.platform != "linux" else "fork"


def can_fork() -> bool:
    return start_method() == "fork"


def load_numba() -> None:
    """Import numba and initialise its compiler by loading the baseline's kernels: serial
    ones, so numba's thread pool does not start and this process can still fork workers."""
    from recfactor.models.biases import warm_up

    warm_up()


def die_with_parent(parent: int) -> None:
    """End this (child) process when ``parent`` ends, however it ends (SIGKILL, the
    out-of-memory killer): otherwise the workers of a killed ``evaluate`` sleep on forever,
    holding its output pipes, and whoever reads them waits too.

    Linux delivers SIGKILL on the parent's death (prctl); elsewhere a thread watches for it.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig, sigkill = 1, 9
        if libc.prctl(pr_set_pdeathsig, sigkill, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError, ImportError):
        _watch_parent(parent)
    if os.getppid() != parent:  # it ended before the request took effect
        os._exit(1)


def _watch_parent(parent: int) -> None:
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.25)
        os._exit(1)

    threading.Thread(target=watch, name="recfactor-watch-parent", daemon=True).start()


class Background:
    """``function(*args)`` run in a forked process while this one goes on; ``result()``
    returns its value or raises its exception. Only where :func:`can_fork`."""

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_send_result, args=(send, function, args, os.getpid())
        )
        self._process.start()
        send.close()

    def result(self) -> Any:
        from recfactor.errors import DataError

        try:
            ok, value = self._receive.recv()
        except EOFError:
            raise DataError(
                "the process reading the data stopped before it was done (out of memory?)",
                hint="use `jobs` 1 to read the data in this process",
            ) from None
        finally:
            self._receive.close()
            self._process.join()
        if not ok:
            raise value
        return value


def _send_result(send: Any, function: Callable[..., Any], args: tuple, parent: int) -> None:
    die_with_parent(parent)
    try:
        outcome = (True, function(*args))
    except BaseException as exc:  # every failure, Ctrl-C included, goes back to the caller
        outcome = (False, exc)
    try:
        send.send(outcome)
    except Exception as exc:  # an unpicklable result or exception
        send.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        send.close()


_STATE: Any = None  # what every task in a worker needs (the folds, the metrics, ...)


# Below this many ratings x fits, worker processes cost more to start than they save.
PARALLEL_MIN_WORK = 2_000_000


def parallel_pays(ratings_per_fit: float, fits: int, jobs: int) -> bool:
    """Whether ``fits`` fits of about ``ratings_per_fit`` ratings are worth worker processes."""
    return jobs > 1 and fits > 1 and ratings_per_fit * fits >= PARALLEL_MIN_WORK


class Workers:
    """``jobs`` processes of one numba and one BLAS thread each, with the kernels of ``algos``
    loaded and ``state`` (inherited when forked) passed to every task.

    Use as a context manager; ``run`` may be called once or more before it closes.
    """

    def __init__(self, jobs: int, algos: Sequence[str], state: Any) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=multiprocessing.get_context(start_method()),
            initializer=_warm_up,
            initargs=(tuple(dict.fromkeys(algos)), state, os.getpid()),
        )

    def run(
        self,
        function: Callable[..., Any],
        calls: Sequence[tuple],
        done: Callable[[int, Any], None],
    ) -> list[Any]:
        """``function(*call, state)`` for every call, in the workers; the results in call
        order. ``done(k, result)`` is called as call ``k`` finishes."""
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        from recfactor.errors import FitError

        out: list[Any] = [None] * len(calls)
        try:
            futures = {
                self._pool.submit(_call_with_state, function, call): k
                for k, call in enumerate(calls)
            }
            for future in as_completed(futures):
                k = futures[future]
                out[k] = future.result()
                done(k, out[k])
        except BrokenProcessPool:
            raise FitError(
                "a worker process stopped before its fits were done (out of memory?)",
                hint="use `jobs` 1, or fewer jobs, to need less memory at once",
            ) from None
        return out

    def close(self, failed: bool = False) -> None:
        """Stop the workers; after an error, at once rather than after their current fits."""
        if failed:
            terminate = getattr(self._pool, "terminate_workers", None)  # Python 3.14+
            if terminate is not None:
                terminate()
            else:
                for process in list(getattr(self._pool, "_processes", {}).values()):
                    process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        self.close(failed=kind is not None)


def _warm_up(algos: tuple[str, ...], state: Any, parent: int) -> None:
    """In each worker: tied to the parent's life, one numba and one BLAS thread (the
    processes share the cores), the kernels loaded, the tasks' shared state kept."""
    global _STATE
    die_with_parent(parent)
    import signal

    # Ctrl-C reaches the whole process group: the parent stops the workers and says
    # 'interrupted'; a worker of its own would print a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked worker had the parent's handler
    import numba

    from recfactor.models import model_class
    from recfactor.running import blas

    _STATE = state
    numba.set_num_threads(1)
    for name in algos:
        model_class(name)()._prepare()
    blas.set_threads(1)  # after the kernels: loading them loads scipy and its own BLAS


def _call_with_state(function: Callable[..., Any], call: tuple) -> Any:
    return function(*call, _STATE)


def capped_jobs(jobs: int | None, note: Callable[[str], None] | None = None) -> int:
    """``jobs`` worker processes, at most the usable cores (more would only take turns on them,
    each holding its memory); all of them by default. ``note`` hears of a cap."""
    if jobs is not None and jobs > available_cores() and note is not None:
        note(f"note: `jobs` {jobs} capped at the {available_cores()} usable cores")
    return min(jobs or available_cores(), available_cores())
