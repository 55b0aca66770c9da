"""The model file: a zip in numpy's ``.npz`` layout holding arrays and a JSON manifest.

Loading uses ``allow_pickle=False`` and checks format, version, keys, dtypes and shapes before
anything is built, so a model file can never execute code and a damaged one gives a clear
error. Saving writes a temporary file beside the target and renames it into place, so an
interrupted save leaves the previous model intact.
"""

from __future__ import annotations

import json
import os
import zipfile
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
    # bfm: the baseline a new row stands at, and how attributes move a row.
    "fallback_user_bias": ("f", 1),
    "fallback_item_bias": ("f", 1),
    "user_attribute_mean": ("f", 1),
    "user_attribute_map": ("f", 2),
    "item_attribute_mean": ("f", 1),
    "item_attribute_map": ("f", 2),
    "day_bias": ("f", 1),
    "day_factors": ("f", 2),
    "user_days": ("f", 2),
    "user_day_bias": ("f", 1),
    "new_user_factors": ("f", 1),  # where a user with no row stands: the average user's
    # bfm's ordinal likelihood: the rating levels and the cutpoints between them.
    "levels": ("f", 1),
    "cutpoints": ("f", 1),
    # A seed ensemble: each member's item biases (a column a member).
    "member_item_bias": ("f", 2),
    # IDs too unequal in length for fixed width (dataset.id_array): UTF-8 and where each ends.
    "user_ids_utf8": ("u", 1),
    "user_ids_ends": ("i", 1),
    "item_ids_utf8": ("u", 1),
    "item_ids_ends": ("i", 1),
}
ID_ARRAYS = ("user_ids", "item_ids")
_REQUIRED = ("user_ids", "item_ids", "global_mean", "seen_indptr", "seen_items")


def is_model_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a recfactor model (its manifest alone is read)."""
    try:
        read_manifest(path)
    except ModelFileError:
        return False
    return True


def check_target(path: str | os.PathLike) -> Path:
    """Where a model to ``path`` goes (a symbolic link's target: the link stays a link),
    refused before any work is spent on the model: whatever targets.check refuses (a device,
    a FIFO, a folder, a read-only file, the command's own data), and a file there that is not
    a model (``-m ratings.csv`` would replace the data); an empty file may be replaced."""
    from recfactor import targets

    target = targets.check(path, ModelFileError)
    if target.exists() and target.stat().st_size and not is_model_file(target):
        raise ModelFileError(
            f"{path}: exists and is not a recfactor model; refusing to replace it",
            hint="choose another model path (-m), or remove the file",
        )
    return target


def save(model: Any, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to ``path`` atomically; ``extra`` is merged into the manifest.

    The file gets the permissions a new file gets (the umask), or keeps those of the model it
    replaces; a symbolic link is followed, so the model it points to is replaced. The file
    written is loaded back, by the loader's own checks, before it replaces anything: a model
    that exits 0 always loads.
    """
    from recfactor import targets

    target = check_target(path)
    payload = _payload(model, extra)
    with targets.replacing(target, ModelFileError) as tmp:
        with open(tmp, "wb") as fh:
            _write_members(fh, payload)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            load(tmp)
        except ModelFileError as exc:
            reason = exc.message.split(": ", 1)[-1]
            raise ModelFileError(
                f"{path}: refusing to save a model that would not load again ({reason})",
                hint="this is a bug in recfactor; please report it with the data",
            ) from None
    return target


# Every member's date in the archive: a fixed one (zip's earliest), so that the same model
# always gives the same bytes (np.savez stamps each member with the time it was written).
MEMBER_DATE = (1980, 1, 1, 0, 0, 0)


def _write_members(fh: Any, payload: dict[str, np.ndarray]) -> None:
    """The arrays as np.savez lays them out (one NAME.npy member each, stored), in order."""
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, value in payload.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=MEMBER_DATE)
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


def _payload(model: Any, extra: dict[str, Any] | None) -> dict[str, np.ndarray]:
    """The model's arrays and its manifest, as the members of the file."""
    arrays = model.to_arrays()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "recfactor_version": __version__,
        "algorithm": model.name,
        "params": model.params.to_dict(),
        "state": model.state(),
        **(extra or {}),
    }
    payload = {}
    for name, value in arrays.items():
        if name in ID_ARRAYS and np.asarray(value).dtype == object:
            payload[f"{name}_utf8"], payload[f"{name}_ends"] = _packed_ids(value)
        else:
            payload[name] = _plain(value)
    # What the loader must find: each array's dtype and shape, checked before it allocates.
    manifest["arrays"] = {
        name: {"dtype": value.dtype.str, "shape": list(value.shape)}
        for name, value in payload.items()
    }
    payload[MANIFEST_KEY] = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
    return payload


def _packed_ids(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    encoded = [str(x).encode("utf-8") for x in ids]
    ends = np.cumsum([len(b) for b in encoded], dtype=np.int64)
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), ends


def _unpacked_ids(blob: np.ndarray, ends: np.ndarray, source: str, name: str) -> np.ndarray:
    from recfactor.dataset import id_array

    if len(ends) and (ends[-1] != len(blob) or (np.diff(ends) < 0).any() or ends[0] < 0):
        raise ModelFileError(f"{source}: the array {name!r} is inconsistent")
    raw = blob.tobytes()
    starts = np.r_[0, ends[:-1]] if len(ends) else ends
    try:
        return id_array([raw[a:b].decode("utf-8") for a, b in zip(starts, ends)])
    except UnicodeDecodeError:
        raise ModelFileError(f"{source}: the array {name!r} is not UTF-8") from None


def _plain(value: np.ndarray) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == object:
        raise ModelFileError("refusing to store an object array in a model file")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        # The loader refuses such a file: writing it would replace a good model by one that
        # cannot be read.
        raise ModelFileError("refusing to save a model with NaN or infinite values")
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
    params = manifest["params"]
    try:
        if not isinstance(params, dict):
            raise TypeError("the parameters are not a table")
        model = cls(cls.params_class(**params))
    except Exception as exc:  # a ParameterError, or a TypeError for unknown names
        raise ModelFileError(f"{source}: stored parameters are invalid ({exc})") from None
    try:
        if not isinstance(manifest["state"], dict):
            raise TypeError("the fitted state is not a table")
        model.restore(arrays, manifest["state"])
    except Exception as exc:
        raise ModelFileError(f"{source}: the manifest does not match the arrays ({exc})") from None
    _check_model(model, arrays, source)
    from recfactor.lineage import Lineage, check_neighbours

    Lineage.of(manifest, source)
    check_neighbours(manifest.get("neighbours"), source)
    return model, manifest


def _check_model(model: Any, arrays: dict[str, np.ndarray], source: str) -> None:
    """What a fitted model of its kind always holds; a model file that breaks it was not
    written by recfactor as it is, and would answer wrongly rather than fail."""
    if model.feedback_ not in ("explicit", "implicit"):
        raise ModelFileError(f"{source}: unknown feedback kind {model.feedback_!r}")
    if model.name != "baseline" and model.user_factors_ is None:
        raise ModelFileError(f"{source}: the {model.name} model has no factors")
    if model.name == "baseline" and model.item_bias_ is None:
        raise ModelFileError(f"{source}: the baseline model has no item biases")
    if model.name == "nmf" and any(
        (f < 0).any() for f in (model.user_factors_, model.item_factors_)
    ):
        raise ModelFileError(f"{source}: the nmf model has negative factors")
    scale = model.rating_scale_
    if scale is not None and not (np.isfinite(scale).all() and scale[0] <= scale[1]):
        raise ModelFileError(f"{source}: the rating scale {list(scale)} is not LOW <= HIGH")
    _check_members(model, source)
    for side in ("user", "item"):
        if _has_repeats(arrays[f"{side}_ids"]):
            raise ModelFileError(f"{source}: the model file lists a {side} ID twice")


def _check_members(model: Any, source: str) -> None:
    """An ensemble of N with biases keeps N members' item biases, and its factors split into N
    equal blocks; a single model keeps none (a member's list is read from them)."""
    n = model.params.ensemble
    members = model.member_item_bias_
    if n == 1 and members is not None:
        raise ModelFileError(f"{source}: a single model with an ensemble's member biases")
    if n == 1:
        return
    if (model.item_bias_ is None) != (members is None) or (
        members is not None and members.shape != (len(model.item_ids_), n)
    ):
        raise ModelFileError(f"{source}: the ensemble's item biases are not {n} columns")
    if model.item_factors_ is not None and model.item_factors_.shape[1] % n:
        raise ModelFileError(f"{source}: {model.item_factors_.shape[1]} factor columns do not "
                             f"split into {n} members")  # fmt: skip


def _has_repeats(ids: np.ndarray) -> bool:
    """Whether an ID occurs twice. Fixed-width IDs are hashed first, a column of characters
    at a time (12 ms for 162,541 IDs, where sorting them took 50 ms of predict's start-up);
    only equal hashes are compared as strings."""
    if len(ids) < 2:
        return False
    if ids.dtype.kind != "U" or ids.dtype.itemsize == 0:
        return len(set(ids.tolist())) != len(ids)
    characters = ids.view(np.uint32).reshape(len(ids), -1)
    hashes = np.zeros(len(ids), dtype=np.uint64)
    for column in characters.T:  # polynomial hash, wrapping at 2^64
        hashes = hashes * np.uint64(1099511628211) + column
    hashes.sort()
    if not (hashes[1:] == hashes[:-1]).any():
        return False
    return len(np.unique(ids)) != len(ids)


# A member may inflate this many times its stored size (np.savez stores members as they are;
# a recompressed model's ID arrays shrink well, its factors hardly). Beyond it, the member is
# a decompression bomb, refused before anything is allocated.
MAX_INFLATION = 200
MAX_MANIFEST_BYTES = 16 << 20
# Members are read in pieces that stay in cache (16 MB pieces: 77 ms to load a 25M-rating
# model's factors, 1 MB: 43 ms).
READ_CHUNK = 1 << 20


def _open(
    path: str | os.PathLike, arrays: bool, skip: tuple[str, ...] = ()
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest and (with ``arrays``) every array but those in ``skip``.

    Nothing is trusted: each member is read through its CRC (numpy's own reader stops at the
    length its header declares, so a damaged header went unnoticed), its declared size is
    checked against the archive, the header and the manifest before memory is allocated for
    it, and any failure of the zip or .npy layers becomes a ModelFileError.
    """
    source = str(path)
    p = Path(path)
    if not p.exists():
        raise ModelFileError(
            f"{source}: no model file here",
            hint="train one first: recfactor train DATA (or give `model` PATH)",
        )
    if p.is_dir():
        raise ModelFileError(f"{source}: is a directory, not a model file")
    if not p.is_file():  # a FIFO would wait for a writer, a device be read for ever
        raise ModelFileError(f"{source}: is not a regular file, so not a model file",
                             hint="give the path of a model file")  # fmt: skip
    loaded: dict[str, np.ndarray] = {}
    try:
        with p.open("rb") as fh:
            if fh.read(4) != b"PK\x03\x04":
                raise ModelFileError(
                    f"{source}: not a recfactor model file (not a zip archive)",
                    hint="retrain with recfactor train DATA",
                )
            fh.seek(0)
            with zipfile.ZipFile(fh) as zf:
                members = _members(zf, source)
                if MANIFEST_KEY not in members:
                    raise ModelFileError(f"{source}: not a recfactor model file (no manifest)")
                raw = _read_member(zf, members[MANIFEST_KEY], source, MANIFEST_KEY, None)
                if raw.dtype != np.uint8 or raw.ndim != 1 or raw.nbytes > MAX_MANIFEST_BYTES:
                    raise ModelFileError(f"{source}: the model manifest is corrupt")
                manifest = _parse_manifest(raw, source)
                declared = _declared_arrays(manifest, source)
                for name in members:
                    if name != MANIFEST_KEY and name not in _ARRAY_SPECS:
                        raise ModelFileError(f"{source}: unexpected array {name!r} in model file")
                packed = [n for n in ID_ARRAYS if f"{n}_utf8" in members]
                required = [n for n in _REQUIRED if n not in packed]
                required += [f"{n}_{part}" for n in packed for part in ("utf8", "ends")]
                missing = [name for name in (*required, *declared) if name not in members]
                if missing:
                    raise ModelFileError(f"{source}: the model file lacks the array {missing[0]!r}")
                if arrays:
                    for name, info in members.items():
                        if name != MANIFEST_KEY and name not in skip:
                            loaded[name] = _read_member(zf, info, source, name, declared.get(name))
    except ModelFileError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # zipfile, zlib and numpy's header parser raise many kinds
        raise ModelFileError(
            f"{source}: the model file is corrupt or truncated ({type(exc).__name__}: {exc})",
            hint="retrain with recfactor train DATA",
        ) from None
    if arrays:
        for name in ID_ARRAYS:
            if f"{name}_utf8" in loaded:
                for part in ("utf8", "ends"):
                    kind = _ARRAY_SPECS[f"{name}_{part}"][0]
                    if loaded[f"{name}_{part}"].dtype.kind != kind:
                        raise ModelFileError(f"{source}: array {name}_{part!r} has a wrong dtype")
                loaded[name] = _unpacked_ids(
                    loaded.pop(f"{name}_utf8"), loaded.pop(f"{name}_ends"), source, name
                )
        _check_arrays(loaded, source, skip)
    return manifest, loaded


def _members(zf: zipfile.ZipFile, source: str) -> dict[str, zipfile.ZipInfo]:
    """Array name -> zip entry, refusing what np.savez never writes."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        name = info.filename
        if not name.endswith(".npy") or info.is_dir():
            raise ModelFileError(f"{source}: unexpected member {name!r} in model file")
        name = name[: -len(".npy")]
        if name in members:
            raise ModelFileError(f"{source}: member {name!r} appears twice in the model file")
        if info.flag_bits & 0x1:
            raise ModelFileError(f"{source}: member {name!r} is encrypted")
        if info.file_size > MAX_INFLATION * info.compress_size + (1 << 20):
            raise ModelFileError(
                f"{source}: member {name!r} declares {info.file_size} bytes from "
                f"{info.compress_size} stored (a decompression bomb, or damage)"
            )
        members[name] = info
    return members


def _declared_arrays(manifest: dict[str, Any], source: str) -> dict[str, tuple[str, tuple]]:
    """The arrays' dtypes and shapes as the manifest records them (models before 0.x record
    none: their members are then checked against their own headers only)."""
    table = manifest.get("arrays")
    if table is None:
        return {}
    out: dict[str, tuple[str, tuple]] = {}
    if not isinstance(table, dict):
        raise ModelFileError(f"{source}: the manifest's array table is corrupt")
    for name, spec in table.items():
        if (
            name not in _ARRAY_SPECS
            or not isinstance(spec, dict)
            or not isinstance(spec.get("dtype"), str)
            or not isinstance(spec.get("shape"), list)
            or not all(type(n) is int and n >= 0 for n in spec["shape"])
        ):
            raise ModelFileError(f"{source}: the manifest's entry for {name!r} is corrupt")
        out[name] = (spec["dtype"], tuple(spec["shape"]))
    return out


def _read_member(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    source: str,
    name: str,
    declared: tuple[str, tuple] | None,
) -> np.ndarray:
    """One .npy member, read once into its array, its CRC checked at the end."""
    from numpy.lib import format as npy

    with zf.open(info) as member:
        version = npy.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = npy.read_array_header_1_0(member)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = npy.read_array_header_2_0(member)
        else:
            raise ModelFileError(f"{source}: member {name!r} has .npy version {version}")
        if dtype.hasobject:
            raise ModelFileError(f"{source}: member {name!r} is not a plain array")
        if declared is not None and (dtype.str, shape) != (np.dtype(declared[0]).str, declared[1]):
            raise ModelFileError(
                f"{source}: member {name!r} holds {dtype.str} {shape}, the manifest says "
                f"{declared[0]} {declared[1]}"
            )
        count = 1
        for n in shape:
            count *= n
        size = count * dtype.itemsize
        if member.tell() + size != info.file_size:
            raise ModelFileError(
                f"{source}: member {name!r} is {info.file_size} bytes, its header says "
                f"{member.tell() + size}"
            )
        array = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
        flat = array.ravel(order="A")  # a view: the array is contiguous in its own order
        view = memoryview(flat.view(np.uint8)) if size else memoryview(b"")
        got = 0
        while got < size:  # in chunks: readinto reads a whole request into a bytes first
            n = member.readinto(view[got : got + READ_CHUNK])
            if not n:
                raise ModelFileError(f"{source}: member {name!r} is truncated")
            got += n
        if member.read(1):  # also completes the CRC check
            raise ModelFileError(f"{source}: member {name!r} runs past its header's length")
    return array


def _parse_manifest(raw: np.ndarray, source: str) -> dict[str, Any]:
    try:
        manifest = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{source}: the model manifest is corrupt") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{source}: not a recfactor model file (foreign manifest)")
    version = manifest.get("format_version")
    if type(version) is not int or version < 1:
        raise ModelFileError(f"{source}: the model manifest has no valid format version")
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
        if name in ID_ARRAYS and array.dtype == object:  # unpacked from UTF-8 above
            kind = "O"
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
        average = arrays.get("new_user_factors")
        if average is not None and average.shape != (itf.shape[1],):
            raise ModelFileError(f"{source}: array 'new_user_factors' has shape {average.shape}")
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
