"""Random malformed files: every reader either reads them or says what is wrong (a
RecfactorError, which the CLI prints as one line); no other exception may escape."""

from __future__ import annotations

import random

import pytest

from recfactor.errors import RecfactorError
from recfactor.io.pairs import read_pairs
from recfactor.io.ratings import ReadOptions, read_ratings

TOKENS = [
    "1", "2", "u1", "A", "B", "5", "4.5", "-1", "nan", "inf", "", " ", '"', '""', "'", "x,y",
    '"a,b"', "1e309", "0x1", "\u0661", "\u65e5\u672c", "\\", "\t", ";", "::", "|", "#", "NA",
    "null", "+5", "5.", ".5", "1e-5", "user", "item", "rating", "timestamp", "movieId",
]  # fmt: skip
SEPARATORS = [",", "\t", ";", "|", "::", " ", "  ", ", "]


def random_file(rng: random.Random) -> str:
    sep = rng.choice(SEPARATORS)
    rows = [
        sep.join(rng.choice(TOKENS) for _ in range(rng.randint(0, 5)))
        for _ in range(rng.randint(0, 6))
    ]
    return rng.choice(["\n", "\r\n", "\r"]).join(rows) + rng.choice(["", "\n"])


@pytest.mark.parametrize("seed", range(4))
def test_random_malformed_files_read_or_fail_cleanly(tmp_path, seed):
    rng = random.Random(seed)
    path = tmp_path / "f.csv"
    for _ in range(100):
        path.write_text(random_file(rng), encoding="utf-8", newline="")
        options = ReadOptions(
            feedback=rng.choice(["explicit", "implicit"]),
            layout=rng.choice(["long", "long", "wide"]),
            header=rng.choice([None, None, True, False]),
            duplicates=rng.choice(["error", "last", "mean", "sum"]),
        )
        for read, args in ((read_ratings, (path, options)), (read_pairs, (path,))):
            try:
                read(*args)
            except RecfactorError:
                pass
