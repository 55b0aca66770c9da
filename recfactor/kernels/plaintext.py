"""Rows of plain numeric text (digit IDs, decimal ratings) scanned a range of pieces at a time.

The text is cut at line ends into pieces; the caller scans ranges of them side by side on its
own threads (the loops release the GIL), each piece into its own rows of the output, so the
result does not depend on the number of threads. They are not numba's parallel loops: those
start numba's thread pool, after which a process may no longer fork its workers (evaluate
reads large files in the process that then forks them). A scan reports failure at the first
byte it does not expect, and the caller hands the text to the general reader; nothing here
judges or explains bad input.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from recfactor.kernels import cache_enabled, load

CACHE = cache_enabled()

NEWLINE, RETURN, QUOTE, DOT, MINUS, ZERO, NINE = 10, 13, 34, 46, 45, 48, 57
# An ID of at most this many digits fits int32; a rating of at most this many digits is an
# integer below 2**53 over a power of ten up to 10**22, so one division rounds it correctly
# (as Python's float() and Arrow's parser do).
ID_DIGITS = 9
RATING_DIGITS = 15
POWERS = np.array([10.0**e for e in range(RATING_DIGITS + 1)])


@nb.njit(cache=CACHE)
def cut_points(buf, pieces):
    """``pieces + 1`` offsets into ``buf``, each but the ends just after a newline."""
    n = buf.shape[0]
    cuts = np.empty(pieces + 1, dtype=np.int64)
    cuts[0] = 0
    for c in range(1, pieces):
        p = max(n * c // pieces, cuts[c - 1])
        while p < n and p > 0 and buf[p - 1] != NEWLINE:
            p += 1
        cuts[c] = p
    cuts[pieces] = n
    return cuts


@nb.njit(cache=CACHE, nogil=True)
def line_counts(buf, cuts, first, last, out):
    """The lines of pieces ``first`` to ``last - 1`` (a last line without a newline counted)
    into ``out``."""
    for c in range(first, last):
        k = 0
        for p in range(cuts[c], cuts[c + 1]):
            if buf[p] == NEWLINE:
                k += 1
        if cuts[c + 1] > cuts[c] and buf[cuts[c + 1] - 1] != NEWLINE:
            k += 1
        out[c] = k


@nb.njit(cache=CACHE, nogil=True)
def _scan_piece(buf, lo, hi, sep, width, user, item, rating, users, items, values, row):
    """The rows of ``buf[lo:hi]`` from ``row`` on; False at the first unexpected byte."""
    p = lo
    while p < hi:
        for f in range(width):
            if f == user or f == item:
                v = 0
                digits = 0
                lead = 0
                while p < hi and ZERO <= buf[p] <= NINE:
                    if digits == 0:
                        lead = buf[p]
                    v = v * 10 + (buf[p] - ZERO)
                    digits += 1
                    p += 1
                # "007" is not "7": a leading zero is text the general reader keeps as written.
                if digits == 0 or digits > ID_DIGITS or (lead == ZERO and digits > 1):
                    return False
                if f == user:
                    users[row] = v
                else:
                    items[row] = v
            elif f == rating:
                negative = p < hi and buf[p] == MINUS
                if negative:
                    p += 1
                m = 0
                digits = 0
                while p < hi and ZERO <= buf[p] <= NINE:
                    m = m * 10 + (buf[p] - ZERO)
                    digits += 1
                    p += 1
                if digits == 0:
                    return False
                fraction = 0
                if p < hi and buf[p] == DOT:
                    p += 1
                    while p < hi and ZERO <= buf[p] <= NINE:
                        m = m * 10 + (buf[p] - ZERO)
                        fraction += 1
                        p += 1
                    if fraction == 0:
                        return False
                if digits + fraction > RATING_DIGITS:
                    return False
                x = m / POWERS[fraction]
                values[row] = -x if negative else x
            else:
                while p < hi and buf[p] != sep and buf[p] != NEWLINE and buf[p] != RETURN:
                    if buf[p] == QUOTE:
                        return False
                    p += 1
            if f < width - 1:
                if p >= hi or buf[p] != sep:
                    return False
                p += 1
        if p < hi and buf[p] == RETURN:
            p += 1
        if p < hi:
            if buf[p] != NEWLINE:
                return False
            p += 1
        row += 1
    return True


@nb.njit(cache=CACHE, nogil=True)
def scan(buf, cuts, first, last, firsts, sep, width, user, item, rating, users, items, values):
    """Pieces ``first`` to ``last - 1`` into ``users``, ``items`` (the IDs' values) and
    ``values`` (the ratings, where ``rating >= 0``), piece ``c`` from row ``firsts[c]``;
    whether all scanned."""
    for c in range(first, last):
        if not _scan_piece(buf, cuts[c], cuts[c + 1], sep, width, user, item, rating,
                           users, items, values, firsts[c]):  # fmt: skip
            return False
    return True


@nb.njit(cache=CACHE)
def first_appearance(values, table, count):
    """Replace each ID value by its code, in order of first appearance from ``count`` on
    (``table[v]``: the code of value ``v``, -1 for none yet). Returns the new values in the
    order of their codes."""
    new = np.empty(values.shape[0], dtype=np.int64)
    k = 0
    for j in range(values.shape[0]):
        v = values[j]
        code = table[v]
        if code < 0:
            code = count + k
            table[v] = code
            new[k] = v
            k += 1
        values[j] = code
    return new[:k].copy()  # not a view: the buffer holds a slot for every value


def warm_up() -> None:
    """Load the kernels for the types the reader passes (its text is read-only bytes)."""
    buf = np.frombuffer(b"\n", dtype=np.uint8)
    index = np.zeros(2, dtype=np.int64)
    ids = np.zeros(1, dtype=np.int32)
    load(cut_points, buf, 1)
    load(line_counts, buf, index, 0, 1, index)
    load(scan, buf, index, 0, 1, index, 44, 3, 0, 1, 2, ids, ids, np.zeros(1))
    load(first_appearance, ids, ids, 0)
