"""The files ``recfactor split`` writes: reproducible train/test pairs (a holdout, or k
folds) of a ratings file, each holding the file's own lines where it can."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from recfactor import targets
from recfactor.errors import DataError


def draw(dataset: Any, split: Any, times: Any = None) -> list[Any]:
    """The splits of ``dataset`` that ``split`` (a SplitSpec) asks for: exactly k folds (or an
    error: no quiet change of the files asked for), else a holdout (0.2 of the ratings where
    none is given)."""
    from recfactor.evaluation.splits import kfold

    if split.folds is not None:
        return kfold(dataset.n_ratings, split.folds, split.split_seed)
    if not split.given:
        split = replace(split, test_fraction=0.2)
    return split.plan(dataset, times=times)[0]


def write_splits(
    data: str, dataset: Any, splits: list[Any], output_dir: Path, stem: str, kfold: bool
) -> list[dict[str, Any]]:
    """Each split's train and test files: the file's own lines where each rating is one
    (every column, as written); else the ratings as read. Every file is checked before the
    first is written (no device, read-only file or the data itself replaced), and they are
    written all or none, in ``output_dir`` (made where missing, and removed again on a
    failure)."""
    created = [p for p in (output_dir, *output_dir.parents) if not p.exists()]  # deepest first
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{output_dir}: cannot create ({exc.strerror})",
                        hint="choose a folder you can write in") from exc  # fmt: skip
    try:
        return _write_all(data, dataset, splits, output_dir, stem, kfold)
    except BaseException:
        for folder in created:  # what this run made, left empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _write_all(
    data: str, dataset: Any, splits: list[Any], output_dir: Path, stem: str, kfold: bool
) -> list[dict[str, Any]]:
    from recfactor.io.rows import RawRows

    rows = RawRows.of(data, dataset)
    frame = dataset.to_frame() if rows is None else None
    suffix = text_suffix(data) if rows is not None else ".csv"
    planned = [
        (s.fold, part, index, output_dir / f"{stem}{tag}.{part}{suffix}")
        for s in splits
        for tag in [f".fold{s.fold + 1}" if kfold else ""]
        for part, index in (("train", s.train), ("test", s.test))
    ]
    for *_, path in planned:
        targets.check(path, DataError)
    records = []
    # Every file is written beside its target first, and none is renamed into place until all
    # are: a full disk at the fifth leaves the earlier split's files, not half of a new one.
    with contextlib.ExitStack() as whole:
        for fold, part, index, path in planned:
            tmp = whole.enter_context(targets.replacing(path, DataError))
            if rows is not None:
                rows.write(index, tmp)
            else:
                frame.iloc[index].to_csv(tmp, index=False, lineterminator="\n")
            records.append({"fold": fold + 1, "part": part, "path": str(path),
                            "ratings": len(index)})  # fmt: skip
    return records


COMPRESSED = (".gz", ".bz2", ".xz", ".zip")


def text_suffix(data: str) -> str:
    """The data file's own suffix, less a compression one (``u.data`` -> ``.data``; the
    split files hold its lines as they are); ``.csv`` where it has none."""
    suffixes = [s for s in Path(data).suffixes if s.lower() not in COMPRESSED]
    return suffixes[-1] if suffixes else ".csv"
