"""The console entry point: every way a command can end becomes an exit code and at most two lines
on stderr."""

from __future__ import annotations

import os
import sys

from recfactor.cli.common import (
    BROKEN_PIPE,
    app,
    debug_on,
    quiet_stdout,
)
from recfactor.running.terminate import Terminated, raise_on_sigterm, stopped


def main() -> None:
    """Console entry point: quiet on broken pipes (``| head``), 130 on Ctrl-C, 143 on SIGTERM.

    SIGPIPE keeps Python's default (ignored, so a closed pipe raises BrokenPipeError, which
    ends the command quietly with 141): restoring the signal's own default would also kill this
    process silently when a pipe to an evaluate worker process breaks.
    """
    # OpenBLAS threads spin for about 0.13 s whenever they start (at numpy's import, and again
    # in every forked process that sets their count) before they sleep: on a small machine that
    # is taken from the fits running beside them. Here they sleep at once; a user's own setting
    # wins. Read when numpy loads OpenBLAS, which the commands import only after this.
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    from recfactor.running.heap import map_large_blocks

    map_large_blocks()
    if not debug_on() and "--debug" not in sys.argv:
        # numpy's warnings (a mean of nothing, a division by zero already handled) are not
        # the user's business: stderr carries notes and error lines only.
        import warnings

        warnings.simplefilter("ignore", RuntimeWarning)
    raise_on_sigterm()
    try:
        sys.exit(_run_app())
    except (KeyboardInterrupt, Terminated) as exc:
        sys.exit(stopped(exc))
    finally:
        # Nothing is left to collect on the way out, but the interpreter's shutdown would
        # still walk every object numba, scipy and pandas made, several times over (0.3 s
        # after a fit). Frozen, they are skipped; files are closed and flushed before this.
        import gc

        gc.freeze()


def entry() -> None:
    """The ``recfactor`` program: :func:`main`, then the process ends at once.

    Once the command is done (its files closed, its output flushed, the Python-level exit
    handlers run), nothing is left to do but tear down the native libraries, and that is
    where an exit can crash: Arrow's C++ thread pool, torn down by static destructors while
    one of its threads is still winding down, aborts the process ('terminate called without
    an active exception', exit 134) after the command has succeeded or printed its error
    (seen in 1 run of 20 beside two busy processes). ``os._exit`` skips that teardown, so the
    exit code is always the command's.
    """
    import atexit

    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except (KeyboardInterrupt, Terminated) as exc:  # between main's own handlers
        code = stopped(exc)
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        quiet_stdout()
        code = code or BROKEN_PIPE
    try:
        sys.stderr.flush()
        atexit._run_exitfuncs()  # Spark's session stop, among others
    except BaseException:  # the command's exit code stands whatever a handler does
        pass
    os._exit(code)


def _run_app() -> int:
    """Run the command; every way it can end becomes an exit code and at most two lines on
    stderr (``error:`` and ``hint:``), tracebacks only under --debug."""
    try:
        outcome = app(prog_name="recfactor", standalone_mode=False)
    except BrokenPipeError:
        quiet_stdout()  # the reader went away (| head): see common.handle_errors
        return BROKEN_PIPE
    except Exception as exc:
        # Click's exceptions, by name: typer vendors its own copy of Click from 0.28 on.
        kinds = {cls.__name__ for cls in type(exc).__mro__}
        if "NoArgsIsHelpError" in kinds:  # a bare command: its help, as Click prints it
            sys.stderr.write(exc.ctx.get_help() + "\n")
            return 2
        if "UsageError" in kinds:
            ctx = getattr(exc, "ctx", None)
            command = ctx.command_path if ctx is not None else "recfactor"
            message = " ".join(exc.format_message().split())
            sys.stderr.write(f"error: {message}\nhint: see {command} --help\n")
            return 2
        if "Abort" in kinds:
            raise KeyboardInterrupt from None
        if "ClickException" in kinds:
            sys.stderr.write(f"error: {exc.format_message()}\n")
            return int(exc.exit_code)
        return _internal_error(exc)
    if outcome == 130:  # typer's Ctrl-C (KeyboardInterrupt becomes Exit(130)), said here
        raise KeyboardInterrupt
    return outcome if isinstance(outcome, int) else 0


def _internal_error(exc: BaseException) -> int:
    if debug_on() or "--debug" in sys.argv:
        raise exc
    text = " ".join(str(exc).split())[:300]
    sys.stderr.write(
        f"error: internal error: {type(exc).__name__}" + (f": {text}" if text else "") + "\n"
        "hint: run again with --debug for the traceback, and please report it\n"
    )
    return 1
