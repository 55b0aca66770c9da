"""Memory a process freed, handed back to the system.

glibc's allocator keeps freed blocks for reuse (and, after large frees, raises the size below
which it serves requests from its own heap): a step that allocated and freed hundreds of MB
leaves them counted in the process's memory while the next step allocates its own.
"""

from __future__ import annotations


def trim_heap() -> None:
    """The C library's free heap memory returned to the system (glibc's ``malloc_trim``);
    nothing elsewhere (other allocators return memory their own way)."""
    import ctypes

    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError, TypeError):  # not glibc, or no C library by that name
        pass


# glibc's mallopt parameter for the size from which a block is mapped on its own.
M_MMAP_THRESHOLD = -3
LARGE_BLOCK = 1 << 20


def map_large_blocks() -> None:
    """Blocks of ``LARGE_BLOCK`` bytes and more mapped on their own, and so returned to the
    system when freed. glibc's default threshold rises to the largest block freed so far (up
    to 32 MB), after which blocks of a few MB stay in its heap when freed: a 25M-rating file
    read in slices kept the slices' pieces (10 MB each) there beside the columns they were
    joined into (the read's peak 795 -> 705 MB with this). A process-wide setting: the
    command line's, which owns its process, not the library's."""
    import ctypes

    try:
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK)
    except (AttributeError, OSError, TypeError):  # not glibc, or no C library by that name
        pass
