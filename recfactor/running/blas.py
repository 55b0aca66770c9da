"""How many threads OpenBLAS (numpy's and scipy's matrix products) may use.

Every evaluation task runs with one BLAS thread, in this process or in a worker: the last bits
of a matrix product depend on how many threads computed it, and a report must not depend on
``--jobs``. Several workers each running one BLAS thread per core would also oversubscribe the
cores, and OpenBLAS threads spin while they wait, taking time from the other workers' fits.

The count is set through OpenBLAS's own C functions, found among the loaded libraries (as
threadpoolctl does, without the dependency); with another BLAS or platform nothing changes.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator

# (set, get) function names: scipy-openblas wheels (numpy >= 2, scipy), then plain OpenBLAS.
_SYMBOLS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)


_found: tuple[int, list[tuple[object, object]]] | None = None


def _find() -> list[tuple[object, object]]:
    """The (set, get) functions of every OpenBLAS loaded now (numpy and scipy each bring
    their own; scipy's is loaded on first use, so this looks again whenever a module has been
    imported since it last looked: reading the process's map takes 1 ms, and a server folds a
    user in at each request)."""
    global _found
    import sys

    import numpy.linalg  # noqa: F401  (loads numpy's BLAS)

    if _found is not None and _found[0] == len(sys.modules):
        return _found[1]
    controls = _look()
    _found = (len(sys.modules), controls)
    return controls


def _look() -> list[tuple[object, object]]:
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
    except OSError:
        return []
    controls = []
    for path in paths:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _SYMBOLS:
            setter = getattr(library, set_name, None)
            getter = getattr(library, get_name, None)
            if setter is not None and getter is not None:
                controls.append((setter, getter))
                break
    return controls


def set_threads(n: int) -> None:
    """Let every loaded OpenBLAS use ``n`` threads from now on.

    Only where the count differs: in a forked process, setting it at all makes OpenBLAS start
    its thread pool again, and a new OpenBLAS thread spins for about 0.13 s before it sleeps,
    taking that from whatever else runs on the cores. A process that forks workers therefore
    sets the count first, and the workers inherit it.
    """
    for setter, getter in _find():
        if getter() != n:
            setter(n)


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """OpenBLAS limited to ``n`` threads inside the block, restored after it."""
    controls = [(setter, getter()) for setter, getter in _find()]
    try:
        for setter, before in controls:
            if before != n:
                setter(n)
        yield
    finally:
        for setter, before in controls:
            if before != n:
                setter(before)
