"""Compiled inner loops (numba). Nothing here allocates models or reads files."""

from __future__ import annotations

from typing import Any


def load(kernel: Any, *example: Any) -> None:
    """Load ``kernel`` compiled for the types of ``example`` (from numba's on-disk cache, or
    compile it the first time) without running it.

    Not running matters: a parallel kernel that runs starts numba's thread pool, after which
    a process can no longer fork worker processes safely (evaluate --jobs forks).
    """
    import numba

    kernel.compile(tuple(numba.typeof(value) for value in example))
