"""`recfactor stability`: how many factors are stable at each rank, on planted answers."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from typer.testing import CliRunner

from recfactor.cli import app
from recfactor.errors import ParameterError
from recfactor.evaluation import stability
from recfactor.io.ratings import Dataset, ReadOptions, read_ratings
from tests.conftest import SAMPLE


def test_the_food_matrix_has_three_stable_dishes():
    data = read_ratings(SAMPLE / "food.csv", ReadOptions(feedback="implicit"))
    report = stability.sweep(data, "nmf", {}, range(1, 6), list(range(10)), None, None)
    stable = {row["k"]: row["stable_components"] for row in report.rows}
    assert [stable[k] for k in (1, 2, 3)] == [1, 2, 3]
    assert stable[4] < 4 and stable[5] < 5
    assert report.readable_rank == 3
    assert sorted(sorted(c) for c in report.components) == [
        ["burger", "fries"],
        ["chicken"],
        ["pizza"],
    ]


def test_a_planted_rank_of_six_is_found_through_noise():
    rng = np.random.default_rng(0)
    blocks = np.zeros((6, 120))
    for r in range(6):
        blocks[r, r * 20 : (r + 1) * 20] = rng.uniform(1, 2, 20)
    matrix = rng.gamma(0.5, 1.0, (300, 6)) @ blocks + rng.uniform(0, 0.3, (300, 120))
    u, i = np.nonzero(matrix)
    data = Dataset.from_arrays(u.astype(str), i.astype(str), matrix[u, i], feedback="implicit")
    report = stability.sweep(data, "nmf", {}, range(4, 9), list(range(6)), None, None)
    assert report.readable_rank == 6
    assert all(row["stable_components"] < row["k"] for row in report.rows if row["k"] > 6)
    # Each of the six components holds items of one planted block.
    blocks_found = sorted({int(items[0]) // 20 for items in report.components})
    assert blocks_found == list(range(6))


def test_svd_stable_dimension_and_the_error_beside_it():
    """Ratings of planted rank 2 plus noise: two stable directions at every k >= 2, and the
    cross-validated RMSE of seed 0 in each row."""
    from recfactor.evaluation import kfold

    rng = np.random.default_rng(1)
    p, q = rng.standard_normal((200, 2)), rng.standard_normal((80, 2))
    matrix = 3 + p @ q.T + 0.1 * rng.standard_normal((200, 80))
    u, i = np.nonzero(rng.random((200, 80)) < 0.5)
    data = Dataset.from_arrays(u.astype(str), i.astype(str), matrix[u, i])
    splits = kfold(data.n_ratings, 3, 0)
    report = stability.sweep(data, "svd", {"solver": "lanczos"}, [1, 2, 4], [0, 1, 2], splits,
                             "rmse", jobs=1)  # fmt: skip
    rows = {row["k"]: row for row in report.rows}
    assert rows[2]["stable_components"] == 2 and rows[4]["stable_components"] >= 2
    assert rows[2]["rmse"] < rows[1]["rmse"]
    assert report.best_rank == 2


def test_the_command_writes_one_row_per_k_and_says_what_to_use(tmp_path):
    result = CliRunner().invoke(app, ["stability", str(SAMPLE / "food.csv"), "--feedback",
                                      "implicit", "--algo", "nmf", "--ranks", "1..5", "--seeds",
                                      "10", "--format", "csv", "--no-cv"])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["algo"], r["k"]) for r in rows] == [("nmf", str(k)) for k in range(1, 6)]
    assert [r["stable_components"] for r in rows][:3] == ["1", "2", "3"]
    assert "read up to k = 3" in result.stderr and "burger + fries" in result.stderr


@pytest.mark.parametrize(
    ("text", "ranks"), [("2..5", [2, 3, 4, 5]), ("2..10:4", [2, 6, 10]), ("8,2,4", [2, 4, 8])]
)
def test_ranks_are_parsed(text, ranks):
    assert stability.parse_ranks(text) == ranks


@pytest.mark.parametrize("text", ["0..3", "a..b", "", "5..2"])
def test_bad_ranks_are_refused(text):
    with pytest.raises(ParameterError):
        stability.parse_ranks(text)


def test_two_algorithms_share_one_table_and_a_plot(tmp_path):
    pytest.importorskip("matplotlib")
    picture = tmp_path / "stability.png"
    result = CliRunner().invoke(app, ["stability", str(SAMPLE / "ratings.csv"), "--algo", "svd,als",
                                      "--ranks", "2,6", "--seeds", "2", "--folds", "2",
                                      "--format", "csv", "--plot", str(picture)])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["algo"], r["k"]) for r in rows] == [("svd", "2"), ("svd", "6"), ("als", "2"),
                                                   ("als", "6")]  # fmt: skip
    assert all(float(r["rmse"]) < 1.0 for r in rows)
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_worker_processes_give_the_table_of_one_process():
    """--jobs 2 fits the (rank, seed) models in worker processes (forced here on small data);
    the table is the one a single process gives."""
    import subprocess
    import sys

    code = (
        "import sys; import recfactor.evaluation.runner as ev; ev.PARALLEL_MIN_WORK = 0; "
        "from recfactor.cli import main; sys.argv = ['recfactor', 'stability', *sys.argv[1:]]; "
        "main()"
    )
    outputs = []
    for jobs in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-c", code, str(SAMPLE / "ratings.csv"), "--algo", "als",
             "--ranks", "2,4", "--seeds", "3", "--no-cv", "--format", "csv", "--jobs", jobs],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] and outputs[0].count("\n") == 3


def test_a_rank_the_data_cannot_take_is_refused_before_any_fit():
    result = CliRunner().invoke(app, ["stability", str(SAMPLE / "food.csv"), "--feedback",
                                      "implicit", "--algo", "svd", "--ranks", "3..6",
                                      "--seeds", "3", "--no-cv"])  # fmt: skip
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("error: rank 4 of --ranks:")


def test_stability_says_when_no_rank_beats_the_baseline():
    """On the sample ratings nmf at k 1 and 2 scores worse than the baseline algorithm on the
    same folds (0.84 against 0.8365); svd at k 5 scores better, and both say so."""
    import json

    from tests.cli import run

    def report(algo: str, ranks: str) -> dict:
        done = run("stability", "sample_data/ratings.csv", "--algo", algo, "--ranks", ranks,
                   "--seeds", 2, "--format", "json", "-q")  # fmt: skip
        assert done.exit_code == 0, done.output
        return json.loads(done.stdout)["reports"][0]

    nmf = report("nmf", "1,2")
    assert min(r["rmse"] for r in nmf["rows"]) > nmf["baseline"]
    assert "every k tried scores worse on rmse than the baseline algorithm" in nmf["reading"]
    svd = report("svd", "5")
    assert svd["rows"][0]["rmse"] < svd["baseline"]
    assert f"the baseline algorithm: {svd['baseline']:.4f})" in svd["reading"]
