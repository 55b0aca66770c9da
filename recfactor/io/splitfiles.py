"""The files ``recfactor split`` writes: reproducible train/test pairs (a holdout, or k
folds) of a ratings file, each holding the file's own lines where it can."""

from __future__ import annotations

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
    first is written (no device, read-only file or the data itself replaced), and each is
    written whole or not at all."""
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
    for fold, part, index, path in planned:
        with targets.replacing(path, DataError) as tmp:
            if rows is not None:
                rows.write(index, tmp)
            else:
                frame.iloc[index].to_csv(tmp, index=False, lineterminator="\n")
        records.append({"fold": fold + 1, "part": part, "path": str(path), "ratings": len(index)})
    return records


COMPRESSED = (".gz", ".bz2", ".xz", ".zip")


def text_suffix(data: str) -> str:
    """The data file's own suffix, less a compression one (``u.data`` -> ``.data``; the
    split files hold its lines as they are); ``.csv`` where it has none."""
    suffixes = [s for s in Path(data).suffixes if s.lower() not in COMPRESSED]
    return suffixes[-1] if suffixes else ".csv"
