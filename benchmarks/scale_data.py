"""Synthetic rating sets at the scale of MovieLens 10M and 25M, from fixed seeds.

    python benchmarks/scale_data.py 10m DIR      # writes DIR/train.csv, test.csv, *.txt

Users' activity is lognormal and items' popularity Zipf-like (a few items take most of the
ratings, as in every public rating set); a rating is a global mean plus user and item biases
plus a rank-10 taste term plus noise, rounded to the set's star scale. Each (user, item) pair
occurs once. The test rows are a random share of the ratings, less those whose user or item
never occurs in training (no cold test rows: the comparison is of the factors, not of the
cold-start fallback). Written as CSV for recfactor (``user,item,rating`` with a header) and as
LIBMF's text format (``user item rating``, 0-based integer IDs).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Shape:
    n_users: int
    n_items: int
    n_ratings: int
    test_share: float
    half_stars: bool
    seed: int


SHAPES = {
    # MovieLens 10M's shape, rounded: 1-5 stars, 90/10 split.
    "10m": Shape(70_000, 10_000, 10_000_000, 0.10, False, 10),
    # MovieLens 25M's: 0.5-5 in half stars, 95/5 split (23.75M training ratings).
    "25m": Shape(162_541, 59_047, 25_000_000, 0.05, True, 25),
    # A small one for trying the script out.
    "1m": Shape(10_000, 3_000, 1_000_000, 0.10, False, 1),
}
RANK = 10


def draw(shape: Shape) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(users, items, ratings, is_test), ``n_ratings`` distinct pairs in random order."""
    rng = np.random.default_rng(shape.seed)
    activity = rng.lognormal(0.0, 1.0, shape.n_users)
    popularity = 1.0 / np.arange(1, shape.n_items + 1) ** 0.9
    rng.shuffle(popularity)  # popular items are not the low IDs
    user_cdf = np.cumsum(activity / activity.sum())
    item_cdf = np.cumsum(popularity / popularity.sum())
    keys = np.empty(0, dtype=np.int64)
    while len(keys) < shape.n_ratings:
        m = int((shape.n_ratings - len(keys)) * 1.3) + 1000
        u = np.searchsorted(user_cdf, rng.random(m)).clip(0, shape.n_users - 1)
        i = np.searchsorted(item_cdf, rng.random(m)).clip(0, shape.n_items - 1)
        keys = np.unique(np.r_[keys, u.astype(np.int64) * shape.n_items + i])
    keys = rng.permutation(keys)[: shape.n_ratings]
    users, items = np.divmod(keys, shape.n_items)
    users, items = users.astype(np.int32), items.astype(np.int32)
    del keys
    taste = rng.standard_normal((shape.n_users, RANK), dtype=np.float32) * 0.3
    profile = rng.standard_normal((shape.n_items, RANK), dtype=np.float32) * 0.7
    score = 3.5 + 0.4 * rng.standard_normal(shape.n_users)[users]
    score += 0.5 * rng.standard_normal(shape.n_items)[items]
    for f in range(RANK):  # column by column: no (n_ratings x rank) temporary
        score += taste[users, f] * profile[items, f]
    score += 0.5 * rng.standard_normal(len(score))
    if shape.half_stars:
        ratings = np.clip(np.rint(score * 2) / 2, 0.5, 5.0)
    else:
        ratings = np.clip(np.rint(score), 1, 5)
    is_test = rng.random(len(users)) < shape.test_share
    train_users = np.bincount(users[~is_test], minlength=shape.n_users) > 0
    train_items = np.bincount(items[~is_test], minlength=shape.n_items) > 0
    is_test &= train_users[users] & train_items[items]
    return users, items, ratings, is_test


def write(shape: Shape, folder: Path) -> dict[str, Path]:
    """Write the set to ``folder`` (skipped when already there); returns the paths."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in ("train.csv", "test.csv", "train.txt", "test.txt")}
    if all(p.exists() for p in paths.values()):
        return paths
    users, items, ratings, is_test = draw(shape)
    rating_type = pa.float32() if shape.half_stars else pa.int8()
    for part, rows in (("train", ~is_test), ("test", is_test)):
        table = pa.table(
            {
                "user": pa.array(users[rows]),
                "item": pa.array(items[rows]),
                "rating": pa.array(ratings[rows]).cast(rating_type),
            }
        )
        with open(paths[f"{part}.csv"], "wb") as fh:
            fh.write(b"user,item,rating\n")  # pyarrow would quote the names
            pacsv.write_csv(
                table, fh, pacsv.WriteOptions(include_header=False, quoting_style="none")
            )
        pacsv.write_csv(
            table,
            paths[f"{part}.txt"],
            pacsv.WriteOptions(include_header=False, delimiter=" ", quoting_style="none"),
        )
    return paths


if __name__ == "__main__":
    name, out = sys.argv[1], Path(sys.argv[2])
    for role, path in write(SHAPES[name], out).items():
        print(role, path, f"{path.stat().st_size / 1e6:.0f} MB")


def add_scale_arguments(parser, scale: str, repeats: int) -> None:
    """``--scale``, ``--repeats``, ``--data`` and ``--checkout``, as the benchmarks that run
    whole processes on a scale's set (against another copy of the package) take them."""
    parser.add_argument("--scale", choices=sorted(SHAPES), default=scale)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--checkout", type=Path, help="another copy of the package to compare")


def scale_train(args) -> tuple[Path, Path]:
    """The folder of ``args.scale``'s set (``--data``, else one in the temporary directory),
    written on first use, and its training CSV."""
    import tempfile

    data = args.data or Path(tempfile.gettempdir()) / f"recfactor-scale-{args.scale}"
    return data, write(SHAPES[args.scale], data)["train.csv"]
