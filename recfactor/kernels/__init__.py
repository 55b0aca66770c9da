"""Compiled inner loops (numba). Nothing here allocates models or reads files."""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import sys
from collections.abc import Iterator
from typing import Any

# Imported by numba's first compilation only to learn whether np.dot and friends may call
# BLAS; it pulls in all of scipy.linalg (about 0.35 s, a third of numba's start-up).
_BLAS_PROBE = "scipy.linalg.cython_blas"


# Below this many ratings a fit runs in one thread: on an idle machine a second thread saves
# about 6 ms of a 50,000-rating fit, and on a busy one every parallel region waits for its
# slowest thread (BENCHMARKS.md, "Threads that share the machine"). MovieLens 100K's 80,000
# training ratings already fit 1.5x faster on two (a threshold of 100,000 cost svd on u1..u5
# a third of its lead over Surprise). Results do not depend on the thread count (tested).
PARALLEL_MIN_RATINGS = 64_000


@contextlib.contextmanager
def threads_for(n_ratings: int, minimum: int | None = None) -> Iterator[None]:
    """Compiled kernels inside the block use one thread when the work is too small to share
    (fewer ratings than ``minimum``, by default :data:`PARALLEL_MIN_RATINGS`)."""
    if n_ratings >= (PARALLEL_MIN_RATINGS if minimum is None else minimum):
        yield
        return
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


@functools.cache
def cache_enabled() -> bool:
    """Whether kernels keep their compiled code on disk (``cache=`` of every ``njit``).

    numba caches beside the source (``__pycache__``) or in the user's cache folder, and
    raises "cannot cache function" on import where it can write neither (a service account
    without a home, a read-only install). Then a private folder in the temporary directory is
    used, and failing that no cache: every run compiles (seconds) but runs.
    """
    import numba
    from numba.core import config

    def cacheable() -> bool:
        try:
            numba.njit(cache=True)(_probe)  # the cache folder is chosen on decoration
        except RuntimeError:
            return False
        return True

    if cacheable():
        return True
    folder = _private_folder(f"recfactor-numba-{_user_id()}")
    if folder is not None:
        config.CACHE_DIR = folder
        os.environ["NUMBA_CACHE_DIR"] = folder  # for spawned worker processes
        if cacheable():
            return True
    return False


def _probe() -> int:
    return 0


def _user_id() -> str:
    return str(os.getuid()) if hasattr(os, "getuid") else "user"


def _private_folder(name: str) -> str | None:
    """A folder of this user's alone in the temporary directory: a cache there that another
    user could write would run their machine code in this process."""
    import tempfile

    path = os.path.join(tempfile.gettempdir(), name)
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
        mine = not hasattr(os, "getuid") or info.st_uid == os.getuid()
        if mine and stat.S_ISDIR(info.st_mode) and not info.st_mode & 0o022:
            return path
        return tempfile.mkdtemp(prefix=name + "-")
    except OSError:
        return None


# Said once, before the first kernel this machine has never compiled is compiled: set by the
# command line (recfactor.cli), which owns stderr. Child processes inherit the mark.
compile_note: Any = None
NOTED = "RECFACTOR_COMPILE_NOTED"


def _note_compiling(kernel: Any) -> None:
    """Call :data:`compile_note` when ``kernel`` is not in numba's on-disk cache (its first
    run here: seconds of compiling), once in this process and its children."""
    if compile_note is None or os.environ.get(NOTED):
        return
    try:
        cached = os.path.exists(kernel._cache._cache_file._index_path)
    except AttributeError:  # caching off, or a numba whose cache is laid out otherwise
        return
    if not cached:
        os.environ[NOTED] = "1"
        compile_note()


def load(kernel: Any, *example: Any) -> None:
    """Load ``kernel`` compiled for the types of ``example`` (from numba's on-disk cache, or
    compile it the first time) without running it, so that a fit's timing leaves the load out.

    Loading a parallel kernel starts numba's thread pool, after which this process can no
    longer fork worker processes safely: before forking, evaluate's parent loads serial
    kernels only (see ``recfactor.running.workers.load_numba`` and ``start_method``).
    """
    import numba

    _note_compiling(kernel)
    types = tuple(numba.typeof(value) for value in example)
    if "numba.np.arraymath" in sys.modules or _BLAS_PROBE in sys.modules:
        kernel.compile(types)
        return
    # The first compilation in this process: numba then asks once whether scipy's BLAS is
    # there. recfactor's kernels make no BLAS call, so the answer is "no", as numba's own
    # when scipy is absent; only np.correlate and np.convolve in compiled code choose their
    # slower loop from it. A later compilation that does call np.dot still finds BLAS, since
    # numba asks again, by import, whenever such a function is typed.
    sys.modules[_BLAS_PROBE] = None  # type: ignore[assignment]  # makes its import fail
    try:
        kernel.compile(types)
    finally:
        del sys.modules[_BLAS_PROBE]
