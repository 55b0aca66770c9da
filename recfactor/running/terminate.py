"""SIGTERM as an exception, as Ctrl-C is one.

By default SIGTERM (a service stopping, ``timeout``) ends the process on the spot, leaving a
file half-written beside its target (``targets.replacing`` removes it only when an exception
passes). Raised where Python next runs, it unwinds as KeyboardInterrupt does: the file goes,
the worker processes are stopped, and the command ends with 143, as a shell reports it.
"""

from __future__ import annotations

import signal

TERMINATED = 143  # 128 + SIGTERM


class Terminated(BaseException):
    """SIGTERM arrived (see the module's docstring)."""


def _raise(signum: int, frame: object) -> None:
    raise Terminated


def raise_on_sigterm() -> None:
    """From now on SIGTERM raises :class:`Terminated` in the main thread, unless the process
    was given a handler of its own."""
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise)


def stopped(exc: BaseException) -> int:
    """Say on stderr why the command stopped (Ctrl-C, or SIGTERM); its exit code."""
    import sys

    terminated = isinstance(exc, Terminated)
    sys.stderr.write("terminated\n" if terminated else "interrupted\n")
    return TERMINATED if terminated else 130
