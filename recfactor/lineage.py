"""Where a saved model came from, as its manifest records it: the file of ratings it was trained
on (path, size, SHA-256 and how it was read), the file of each later update, and the check of
its neighbours across seeds.

Read as typed records with every field checked, never as chains of ``dict.get``: a manifest
edited by hand or damaged is refused naming the field (``data.read_options.header``), where a
wrong type used to surface later as an internal error.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recfactor.errors import ModelFileError

# How each read option is recorded: its name, the JSON types it may take, and None allowed.
_READ_OPTION_TYPES: dict[str, tuple[tuple[type, ...], bool]] = {
    "sep": ((str,), True),
    "layout": ((str,), False),
    "header": ((bool,), True),
    "user_col": ((str,), True),
    "item_col": ((str,), True),
    "rating_col": ((str,), True),
    "feedback": ((str,), False),
    "duplicates": ((str,), True),
    "missing_values": ((list,), False),
}


# The hash reads its file in pieces of this size into one buffer. It runs beside the start of a
# train, whose imports and kernel loading hold the GIL: each piece takes the GIL twice (after
# the read, after the hash), and in 1 MB pieces the 10M set's 115 MB file took 0.3-0.4 s, each
# taking a switch interval of waiting and handing the GIL over; in 8 MB pieces 0.15 s.
FINGERPRINT_PIECE = 8 << 20


def file_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """Size and SHA-256 of a data file, recorded so a model says what it was trained on."""
    p = Path(path)
    digest = hashlib.sha256()
    piece = bytearray(FINGERPRINT_PIECE)
    view = memoryview(piece)
    with p.open("rb", buffering=0) as fh:
        while size := fh.readinto(piece):
            digest.update(view[:size])
    return {"path": str(p.resolve()), "size": p.stat().st_size, "sha256": digest.hexdigest()}


def _regular(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a regular file (which can be read a second time, to be hashed)."""
    import stat

    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _options_record(options: Any) -> dict[str, Any]:
    """A ReadOptions as the manifest records it (tuples as lists)."""
    import dataclasses

    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(options).items()}  # fmt: skip


def fingerprint_in_background(path: str | os.PathLike) -> Callable[[], dict[str, Any]]:
    """Start :func:`file_fingerprint` on a thread; the returned function waits for it (and
    raises what it raised).

    Only a regular file can be read twice: a pipe (``<(zcat ...)``) holds its data once, for
    the reader (a second reader would split it, or wait forever for a writer after it), so it
    is recorded like stdin, with no path or hash. The thread is a daemon, so an error in the
    data does not wait for the hash.
    """
    import threading

    if not _regular(path):
        return lambda: {"path": None, "size": None, "sha256": None}
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, file_fingerprint(path)))
        except BaseException as exc:  # handed to the caller
            outcome.append((False, exc))

    thread = threading.Thread(target=run, name="recfactor-fingerprint", daemon=True)
    thread.start()

    def result() -> dict[str, Any]:
        thread.join()
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    return result


def _is(value: Any, types: tuple[type, ...]) -> bool:
    # bool is an int in Python, but not a size or a count in a manifest.
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def _refuse(source: str, where: str, value: Any, expected: str) -> ModelFileError:
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    return ModelFileError(
        f"{source}: the manifest's {where} is {shown}, not {expected}",
        hint="the model file was edited or damaged; train the model again",
    )


@dataclass(frozen=True)
class DataRecord:
    """One file of ratings a model learned from: where it was, its size and SHA-256 when it
    was read (None for stdin, a pipe or a cluster's path), and how it was read."""

    path: str | None = None
    size: int | None = None
    sha256: str | None = None
    read_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_file(cls, path: str | os.PathLike | None, options: Any) -> DataRecord:
        """The record of ``path`` (hashed where it is a regular file) read with ``options``
        (a ReadOptions)."""
        if path is None or str(path) == "-":
            return cls(read_options=_options_record(options))
        if not _regular(path):  # a folder of parts, a cluster's path: named, not hashed
            return cls(path=str(path), read_options=_options_record(options))
        return cls.from_fingerprint(file_fingerprint(path), options)

    @classmethod
    def from_fingerprint(cls, found: dict[str, Any], options: Any) -> DataRecord:
        found = found or {}
        return cls(found.get("path"), found.get("size"), found.get("sha256"),
                   _options_record(options))  # fmt: skip

    @classmethod
    def parse(cls, raw: Any, source: str, where: str) -> DataRecord:
        """The record at ``where`` in ``source``'s manifest, each field checked."""
        if not isinstance(raw, dict):
            raise _refuse(source, where, raw, "a table")
        path, size, sha256 = raw.get("path"), raw.get("size"), raw.get("sha256")
        if path is not None and not (isinstance(path, str) and path and "\x00" not in path):
            raise _refuse(source, f"{where}.path", path, "a file's path")
        if size is not None and not (_is(size, (int,)) and size >= 0):
            raise _refuse(source, f"{where}.size", size, "a size in bytes")
        if sha256 is not None and not (
            isinstance(sha256, str) and len(sha256) == 64 and all(c in "0123456789abcdef"
                                                                 for c in sha256)
        ):  # fmt: skip
            raise _refuse(source, f"{where}.sha256", sha256, "a SHA-256 in hex")
        read = raw.get("read_options") or {}
        if not isinstance(read, dict):
            raise _refuse(source, f"{where}.read_options", read, "a table")
        for name, value in read.items():
            if name not in _READ_OPTION_TYPES:
                raise _refuse(source, f"{where}.read_options", name, "a read option")
            types, optional = _READ_OPTION_TYPES[name]
            if not ((value is None and optional) or _is(value, types)):
                raise _refuse(source, f"{where}.read_options.{name}", value,
                              " or ".join(t.__name__ for t in types))  # fmt: skip
        missing = read.get("missing_values") or []
        if not all(_is(v, (int, float)) for v in missing):
            raise _refuse(source, f"{where}.read_options.missing_values", missing, "numbers")
        return cls(path, size, sha256, dict(read))

    def options(self, feedback: str, source: str, where: str = "data") -> Any:
        """The ReadOptions this file was read with (for ``feedback``), checked."""
        from recfactor.errors import RecfactorError
        from recfactor.io.ratings import ReadOptions, check_read_options

        read = {**self.read_options, "feedback": feedback}
        read["missing_values"] = tuple(read.get("missing_values") or ())
        options = ReadOptions(**read)
        try:
            check_read_options(options)
        except RecfactorError as exc:
            raise ModelFileError(f"{source}: the manifest's {where}.read_options: {exc.message}",
                                 hint="the model file was edited or damaged") from None  # fmt: skip
        return options

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256,
                "read_options": dict(self.read_options)}  # fmt: skip


@dataclass(frozen=True)
class Lineage:
    """The files a model learned from: the data of its training (None where the manifest
    names none) and those of each update since, in order."""

    data: DataRecord | None = None
    updates: tuple[DataRecord, ...] = ()

    @classmethod
    def of(cls, manifest: dict[str, Any], source: str) -> Lineage:
        """``source``'s lineage, every field checked."""
        raw = manifest.get("data")
        data = None if raw is None else DataRecord.parse(raw, source, "data")
        updates = manifest.get("updates") or []
        if not isinstance(updates, list):
            raise _refuse(source, "updates", updates, "a list")
        records = tuple(DataRecord.parse(r, source, f"updates[{k}]") for k, r in enumerate(updates))
        if records and data is None:
            raise _refuse(source, "data", None, "the record of the data the updates follow")
        return cls(data, records)

    def records(self) -> list[DataRecord]:
        """The training data's record, then each update's."""
        return ([] if self.data is None else [self.data]) + list(self.updates)

    def then(self, update: DataRecord) -> Lineage:
        return Lineage(self.data, (*self.updates, update))

    def to_manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.data is not None:
            out["data"] = self.data.to_dict()
        if self.updates:
            out["updates"] = [r.to_dict() for r in self.updates]
        return out


def check_neighbours(record: Any, source: str) -> None:
    """The manifest's neighbour check: absent, or numbers where numbers belong."""
    if record is None:
        return
    if not isinstance(record, dict):
        raise _refuse(source, "neighbours", record, "a table")
    for name, low, high in (("k", 1, None), ("shared", 0, 1), ("chance", 0, 1), ("items", 0, None)):
        value = record.get(name)
        if value is None and name in ("shared", "items"):
            continue
        number = _is(value, (int,)) if name in ("k", "items") else _is(value, (int, float))
        if not number or value < low or (high is not None and value > high):
            raise _refuse(source, f"neighbours.{name}", value, "a number in range")
