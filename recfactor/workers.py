"""Worker processes for ``evaluate --jobs``, started before the data is read.

A worker spends about a second importing numba and loading the compiled kernels before its
first fit. Started first, the workers do that while this process imports pandas and reads the
ratings, so the two costs overlap instead of adding up. This module imports nothing heavy, so
that starting the workers is the first thing a command can do.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any


def start_method() -> str:
    """fork (workers inherit the imported modules: much faster to start) while this process
    has not started numba's thread pool; OpenMP does not survive a fork, so spawn once it has."""
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    launched = parallel is not None and getattr(parallel, "_is_initialized", True)
    return "spawn" if launched or sys.platform != "linux" else "fork"


class Workers:
    """``jobs`` processes of one numba thread each, with the kernels of ``algos`` loaded.

    Use as a context manager; ``run`` may be called once or more before it closes.
    """

    def __init__(self, jobs: int, algos: Sequence[str]) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.jobs = jobs
        self._pool = ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=multiprocessing.get_context(start_method()),
            initializer=_warm_up,
            initargs=(tuple(dict.fromkeys(algos)),),
        )
        # The first task starts the workers (with fork, all of them at once).
        self._pool.submit(os.getpid)
        self._used = False
        self._closed = False

    def run(
        self,
        function: Callable[..., Any],
        calls: Sequence[tuple],
        done: Callable[[int, Any], None],
    ) -> list[Any]:
        """``function(*call)`` for every call, in the workers; the results in call order.
        ``done(k, result)`` is called as call ``k`` finishes."""
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        from recfactor.errors import FitError

        self._used = True
        out: list[Any] = [None] * len(calls)
        try:
            futures = {self._pool.submit(function, *call): k for k, call in enumerate(calls)}
            for future in as_completed(futures):
                k = futures[future]
                out[k] = future.result()
                done(k, out[k])
        except BrokenProcessPool:
            raise FitError(
                "a worker process stopped before its fits were done (out of memory?)",
                hint="use --jobs 1, or fewer jobs, to need less memory at once",
            ) from None
        return out

    def close(self, failed: bool = False) -> None:
        """Stop the workers. Unused ones (or any, after an error) are stopped at once rather
        than left to finish loading kernels nobody will run."""
        if self._closed:
            return
        self._closed = True
        if failed or not self._used:
            self._terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _terminate(self) -> None:
        terminate = getattr(self._pool, "terminate_workers", None)  # Python 3.14+
        if terminate is not None:
            terminate()
            return
        for process in list(getattr(self._pool, "_processes", {}).values()):
            process.terminate()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        self.close(failed=kind is not None)


def _warm_up(algos: tuple[str, ...]) -> None:
    """In each worker: one numba and one BLAS thread (the processes share the cores), and the
    kernels loaded."""
    import numba

    from recfactor import blas
    from recfactor.models import model_class

    numba.set_num_threads(1)
    for name in algos:
        model_class(name)()._prepare()
    blas.set_threads(1)  # after the kernels: loading them loads scipy and its own BLAS
