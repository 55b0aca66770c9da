"""Where a command writes: one rule for every file recfactor replaces (a model with -m, a table
with -o, a plot, split's files).

Only a regular file or a new name is written: never a device, FIFO, socket or folder (as root,
``-m /dev/null`` would otherwise delete the device node), never a read-only file, never a file
this process has read its data from (``describe d.csv -o d.csv``), links resolved and files
compared by device and inode. The bytes go to a temporary file beside the target, which takes
the old file's mode and replaces it only once complete, after the rule is checked again (the
inputs read meanwhile count too).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from recfactor.errors import DataError, RecfactorError

# (device, inode) of every regular file this process has read data from, with its name.
_inputs: dict[tuple[int, int], str] = {}
# The resolved paths this command has written or will write: no write may replace another.
_outputs: dict[str, str] = {}

_KINDS = {
    stat.S_ISCHR: "character device",
    stat.S_ISBLK: "block device",
    stat.S_ISFIFO: "FIFO (named pipe)",
    stat.S_ISSOCK: "socket",
}


def note_input(path: str | os.PathLike) -> None:
    """Remember that this process reads ``path`` (``-``: stdin, where it is a file, as in
    ``< ratings.csv``): no write may replace it."""
    with contextlib.suppress(OSError, ValueError):
        info = os.fstat(0) if str(path) == "-" else os.stat(path)
        if stat.S_ISREG(info.st_mode):
            _inputs[(info.st_dev, info.st_ino)] = "<stdin>" if str(path) == "-" else str(path)


def forget_inputs() -> None:
    """A new command begins (the tests run many in one process)."""
    _inputs.clear()
    _outputs.clear()


def claim(path: str | os.PathLike, error: type[RecfactorError] = DataError, what: str = "") -> None:
    """Say before any work that this command writes ``path``: a second output of the same
    command to the same file (``tune -m X -o X``, also through a link) is refused."""
    target = os.path.realpath(path)
    label = f"{what} {path}".strip()
    if target in _outputs and _outputs[target] != label:
        raise error(f"{label}: is also this command's {_outputs[target]}",
                    hint="give each output its own file")  # fmt: skip
    _outputs[target] = label


def check(path: str | os.PathLike, error: type[RecfactorError] = DataError, what: str = "") -> Path:
    """The resolved path a write to ``path`` goes to, or ``error`` naming why it may not:
    checked before any work is spent. ``what`` names the option (``-o``) in the message."""
    label = f"{what} {path}".strip()
    target = Path(os.path.realpath(path))
    try:
        # The path itself, links followed by the system: /dev/stdout on a pipe resolves to no
        # name ("/proc/PID/fd/pipe:[N]"), yet stats as the pipe it is.
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise error(f"{label}: cannot write here ({exc.strerror})",
                    hint="check the path and its folders") from None  # fmt: skip
    if info is not None:
        _check_existing(label, target, info, error)
    folder = target.parent
    if not folder.is_dir():
        raise error(f"{label}: the folder {folder} does not exist", hint="create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise error(f"{label}: cannot write in the folder {folder}",
                    hint="choose a folder you can write to")  # fmt: skip
    return target


def _check_existing(label: str, target: Path, info: os.stat_result, error: type) -> None:
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        raise error(f"{label}: is a folder", hint="give a file name")
    # -o /dev/stdout is the shell's way to say stdout, which -o - says without a file.
    other = "give the name of a regular file, or a new one" + (
        " (-o - writes to stdout)" if label.startswith("-o ") else ""
    )
    for test, kind in _KINDS.items():
        if test(mode):
            raise error(f"{label}: is a {kind}, not a regular file; refusing to replace it",
                        hint=other)  # fmt: skip
    if not stat.S_ISREG(mode):
        raise error(f"{label}: is not a regular file; refusing to replace it", hint=other)
    # Root may write anything: the mode bits say what the file's owner meant.
    if not mode & 0o222 or not os.access(target, os.W_OK):
        raise error(f"{label}: is read-only; refusing to replace it",
                    hint="make it writable (chmod u+w), or give another name")  # fmt: skip
    source = _inputs.get((info.st_dev, info.st_ino))
    if source is not None and not _still(source, info):
        # The input was removed since and its inode reused (a long Python session): forgotten.
        del _inputs[(info.st_dev, info.st_ino)]
        source = None
    if source is not None:
        raise error(f"{label}: is this command's input ({source}); refusing to replace it",
                    hint="write to another file")  # fmt: skip


def _still(source: str, info: os.stat_result) -> bool:
    """Whether the input named ``source`` is still the file ``info`` describes."""
    try:
        now = os.fstat(0) if source == "<stdin>" else os.stat(source)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (info.st_dev, info.st_ino)


@contextlib.contextmanager
def replacing(
    path: str | os.PathLike, error: type[RecfactorError] = DataError, what: str = ""
) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to. When the block ends without an error
    it takes the mode of the file it replaces (a new file: what the umask allows) and is
    renamed over ``path``; otherwise it is removed and ``path`` is untouched."""
    target = check(path, error, what)
    mode = _mode_for(target)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise error(f"{what} {path}: cannot write ({exc.strerror})".strip(),
                    hint="check the folder: its space, its permissions") from None  # fmt: skip
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, mode)
        check(path, error, what)  # what was read since, or put there meanwhile
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise error(f"{what} {path}: cannot write ({exc.strerror})".strip(),
                        hint="check the folder: its space, its permissions") from None  # fmt: skip
        raise


def _mode_for(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask
