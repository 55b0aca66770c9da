"""Reading a large ratings file, by format: `recfactor train --algo baseline` whole processes.

    python benchmarks/bench_read.py [--scale 10m] [--repeats 3] [--checkout DIR]

The scale set's training ratings (``scale_data.py``, fixed seeds) as the CSV it writes and as
Parquet twice: the IDs stored as integers, and as text (Spark's usual export). Each file is
trained on by the baseline model, whose fit is a small part of the process, so the time is
mostly start-up and the read. ``--checkout`` runs another copy of the package (an older
commit in a git worktree) in the same run, alternated with this one, file by file. Prints
medians and best times with the peak memory; writes benchmarks/results/read-SCALE.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from processes import measured
from scale_data import add_scale_arguments, scale_train

ROOT = Path(__file__).resolve().parents[1]


def parquet_copies(csv: Path, folder: Path) -> dict[str, Path]:
    """The CSV's rows as Parquet, IDs as integers and as text (written once, kept)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    paths = {"parquet, integer IDs": folder / "train-int.parquet",
             "parquet, text IDs": folder / "train-text.parquet"}  # fmt: skip
    if all(p.exists() for p in paths.values()):
        return paths
    table = pacsv.read_csv(csv)
    ints = pa.table({c: table[c].cast(pa.int32()) for c in ("user", "item")}
                    | {"rating": table["rating"]})  # fmt: skip
    pq.write_table(ints, paths["parquet, integer IDs"])
    text = ints.set_column(0, "user", ints["user"].cast(pa.string()))
    pq.write_table(text.set_column(1, "item", text["item"].cast(pa.string())),
                   paths["parquet, text IDs"])  # fmt: skip
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_scale_arguments(parser, "10m", 3)
    args = parser.parse_args()
    data, csv = scale_train(args)
    files = {"csv": csv, **parquet_copies(csv, data)}
    # Run from a folder of their own: `python -m` puts the working folder before PYTHONPATH.
    versions = {"this": ROOT} | ({"checkout": args.checkout} if args.checkout else {})
    times: dict[tuple[str, str], list[float]] = {}
    peaks: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for label, path in files.items():
                for version, checkout in versions.items():
                    env = {**os.environ, "PYTHONPATH": str(checkout)}
                    command = [sys.executable, "-m", "recfactor", "train", str(path), "--algo",
                               "baseline", "-q", "-m", str(Path(tmp) / "m")]  # fmt: skip
                    seconds, peak, _ = measured(command, cwd=tmp, env=env)
                    times.setdefault((label, version), []).append(seconds)
                    peaks[(label, version)] = max(peaks.get((label, version), 0.0), peak)
    print(f"{args.scale}: train --algo baseline, whole process, {args.repeats} alternating runs")
    print(f"{'file':<24}{'version':<10}{'median s':>10}{'best s':>9}{'peak MB':>9}")
    rows = []
    for (label, version), runs in times.items():
        median, best = statistics.median(runs), min(runs)
        print(f"{label:<24}{version:<10}{median:>10.2f}{best:>9.2f}{peaks[(label, version)]:>9.0f}")
        rows.append({"file": label, "version": version, "seconds": runs,
                     "peak_mb": peaks[(label, version)]})  # fmt: skip
    out = ROOT / f"benchmarks/results/read-{args.scale}.json"
    out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
