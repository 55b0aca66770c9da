"""Compiled inner loops (numba). Nothing here allocates models or reads files."""

from __future__ import annotations

import sys
from typing import Any

# Imported by numba's first compilation only to learn whether np.dot and friends may call
# BLAS; it pulls in all of scipy.linalg (about 0.35 s, a third of numba's start-up).
_BLAS_PROBE = "scipy.linalg.cython_blas"


def load(kernel: Any, *example: Any) -> None:
    """Load ``kernel`` compiled for the types of ``example`` (from numba's on-disk cache, or
    compile it the first time) without running it, so that a fit's timing leaves the load out.

    Loading a parallel kernel starts numba's thread pool, after which this process can no
    longer fork worker processes safely: before forking, evaluate's parent loads serial
    kernels only (see ``recfactor.workers.load_numba`` and ``start_method``).
    """
    import numba

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
