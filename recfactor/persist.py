"""The model file: a zip in numpy's ``.npz`` layout holding arrays and a JSON manifest.

Loading uses ``allow_pickle=False`` and checks format, version, keys, dtypes and shapes before
anything is built, so a model file can never execute code and a damaged one gives a clear
error. Saving writes a temporary file beside the target and renames it into place, so an
interrupted save leaves the previous model intact.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from recfactor import __version__
from recfactor.errors import ModelFileError

FORMAT = "recfactor-model"
FORMAT_VERSION = 1
MANIFEST_KEY = "manifest"

# name -> (dtype kind, ndim); shapes are checked against the vocabularies below.
_ARRAY_SPECS: dict[str, tuple[str, int]] = {
    "user_ids": ("U", 1),
    "item_ids": ("U", 1),
    "global_mean": ("f", 0),
    "seen_indptr": ("i", 1),
    "seen_items": ("i", 1),
    "user_bias": ("f", 1),
    "item_bias": ("f", 1),
    "user_factors": ("f", 2),
    "item_factors": ("f", 2),
}
_REQUIRED = ("user_ids", "item_ids", "global_mean", "seen_indptr", "seen_items")


def file_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """Size and SHA-256 of a data file, recorded so a model says what it was trained on."""
    p = Path(path)
    digest = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return {"path": str(p.resolve()), "size": p.stat().st_size, "sha256": digest.hexdigest()}


def fingerprint_in_background(path: str | os.PathLike) -> Callable[[], dict[str, Any]]:
    """Start :func:`file_fingerprint` on a thread; the returned function waits for it (and
    raises what it raised).

    Only a regular file can be read twice: a pipe (``<(zcat ...)``) holds its data once, for
    the reader (a second reader would split it, or wait forever for a writer after it), so it
    is recorded like stdin, with no path or hash. The thread is a daemon, so an error in the
    data does not wait for the hash.
    """
    import stat
    import threading

    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        regular = False
    if not regular:
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


def save(model: Any, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to ``path`` atomically; ``extra`` is merged into the manifest."""
    target = Path(path)
    arrays = model.to_arrays()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "recfactor_version": __version__,
        "algorithm": model.name,
        "params": model.params.to_dict(),
        "state": model.state(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    payload = {name: _plain(value) for name, value in arrays.items()}
    payload[MANIFEST_KEY] = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ModelFileError(f"{target}: cannot write the model ({exc.strerror})") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            # Writing to an open file object stops numpy appending '.npz' to the name.
            np.savez(fh, **payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
    except BaseException as exc:
        Path(tmp_name).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ModelFileError(f"{target}: cannot write the model ({exc.strerror})") from exc
        raise
    return target


def _plain(value: np.ndarray) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == object:
        raise ModelFileError("refusing to store an object array in a model file")
    return array


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The manifest alone (cheap: the arrays are not read)."""
    manifest, _ = _open(path, arrays=False)
    return manifest


# Each user's seen items: as large as the training data, and needed only to leave them out of
# recommendations; a prediction need not read them (95 MB of a 25M-rating model).
SEEN_ARRAYS = ("seen_indptr", "seen_items")


def load(path: str | os.PathLike, seen: bool = True) -> tuple[Any, dict[str, Any]]:
    """Load a model file: returns ``(model, manifest)``; ``seen=False`` leaves out what each
    user has seen (the model then predicts, but cannot recommend)."""
    from recfactor.models import model_class

    manifest, arrays = _open(path, arrays=True, skip=() if seen else SEEN_ARRAYS)
    source = str(path)
    try:
        cls = model_class(manifest["algorithm"])
    except Exception as exc:
        raise ModelFileError(
            f"{source}: unknown algorithm {manifest.get('algorithm')!r} in the model file",
            hint="was it written by a newer recfactor? upgrade recfactor",
        ) from exc
    try:
        model = cls(cls.params_class(**manifest["params"]))
        model.restore(arrays, manifest["state"])
    except (TypeError, KeyError, ValueError) as exc:
        raise ModelFileError(f"{source}: the manifest does not match the arrays ({exc})") from exc
    except Exception as exc:  # a ParameterError from the stored parameters
        raise ModelFileError(f"{source}: stored parameters are invalid ({exc})") from exc
    return model, manifest


def _open(
    path: str | os.PathLike, arrays: bool, skip: tuple[str, ...] = ()
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    source = str(path)
    p = Path(path)
    if not p.exists():
        raise ModelFileError(
            f"{source}: no model file here",
            hint="train one first: recfactor train DATA (or give --model PATH)",
        )
    if p.is_dir():
        raise ModelFileError(f"{source}: is a directory, not a model file")
    if not zipfile.is_zipfile(p):
        raise ModelFileError(
            f"{source}: not a recfactor model file (not a zip archive, or truncated)",
            hint="retrain with recfactor train DATA",
        )
    try:
        with np.load(p, allow_pickle=False) as npz:
            if MANIFEST_KEY not in npz.files:
                raise ModelFileError(f"{source}: not a recfactor model file (no manifest)")
            manifest = _parse_manifest(npz[MANIFEST_KEY], source)
            loaded = {}
            if arrays:
                for name in npz.files:
                    if name == MANIFEST_KEY:
                        continue
                    if name not in _ARRAY_SPECS:
                        raise ModelFileError(f"{source}: unexpected array {name!r} in model file")
                    if name not in skip:
                        loaded[name] = npz[name]
            missing = [name for name in skip if name not in npz.files]
    except ModelFileError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ModelFileError(
            f"{source}: the model file is corrupt or truncated ({exc})",
            hint="retrain with recfactor train DATA",
        ) from exc
    if arrays:
        if missing:
            raise ModelFileError(f"{source}: the model file lacks the array {missing[0]!r}")
        _check_arrays(loaded, source, skip)
    return manifest, loaded


def _parse_manifest(raw: np.ndarray, source: str) -> dict[str, Any]:
    try:
        manifest = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{source}: the model manifest is corrupt") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{source}: not a recfactor model file (foreign manifest)")
    version = manifest.get("format_version")
    if not isinstance(version, int):
        raise ModelFileError(f"{source}: the model manifest has no format version")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{source}: model file format {version} is newer than this recfactor reads "
            f"({FORMAT_VERSION}); written by recfactor {manifest.get('recfactor_version')}",
            hint="upgrade recfactor",
        )
    for key in ("algorithm", "params", "state"):
        if key not in manifest:
            raise ModelFileError(f"{source}: the model manifest lacks {key!r}")
    return manifest


def _check_arrays(arrays: dict[str, np.ndarray], source: str, skip: tuple[str, ...] = ()) -> None:
    for name in _REQUIRED:
        if name not in arrays and name not in skip:
            raise ModelFileError(f"{source}: the model file lacks the array {name!r}")
    for name, array in arrays.items():
        kind, ndim = _ARRAY_SPECS[name]
        if array.dtype.kind != kind or array.ndim != ndim:
            raise ModelFileError(
                f"{source}: array {name!r} has dtype {array.dtype} and {array.ndim} dimension(s)"
            )
        if kind == "f" and not np.isfinite(array).all():
            raise ModelFileError(f"{source}: array {name!r} holds NaN or infinite values")
    n_users, n_items = len(arrays["user_ids"]), len(arrays["item_ids"])
    expected = {
        "user_bias": (n_users,),
        "item_bias": (n_items,),
        "seen_indptr": (n_users + 1,),
    }
    for name, shape in expected.items():
        if name in arrays and arrays[name].shape != shape:
            raise ModelFileError(f"{source}: array {name!r} has shape {arrays[name].shape}")
    if ("user_factors" in arrays) != ("item_factors" in arrays):
        raise ModelFileError(f"{source}: the model file has only one side of the factors")
    if "user_factors" in arrays:
        uf, itf = arrays["user_factors"], arrays["item_factors"]
        if uf.shape[0] != n_users or itf.shape[0] != n_items or uf.shape[1] != itf.shape[1]:
            raise ModelFileError(f"{source}: factor shapes {uf.shape} and {itf.shape} disagree")
    if skip:
        return
    indptr, seen = arrays["seen_indptr"], arrays["seen_items"]
    if (
        indptr[0] != 0
        or indptr[-1] != len(seen)
        or (np.diff(indptr) < 0).any()
        or (len(seen) and (seen.min() < 0 or seen.max() >= n_items))
    ):
        raise ModelFileError(f"{source}: the training-items index is inconsistent")
