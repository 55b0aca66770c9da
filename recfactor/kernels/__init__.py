"""Compiled inner loops (numba). Nothing here allocates models or reads files."""

from __future__ import annotations

from typing import Any


def load(kernel: Any, *example: Any) -> None:
    """Load ``kernel`` compiled for the types of ``example`` (from numba's on-disk cache, or
    compile it the first time) without running it, so that a fit's timing leaves the load out.

    Loading a parallel kernel starts numba's thread pool, after which this process can no
    longer fork worker processes safely: before forking, evaluate's parent loads serial
    kernels only (see ``recfactor.workers.load_numba`` and ``start_method``).
    """
    import numba

    kernel.compile(tuple(numba.typeof(value) for value in example))
