"""Everyday use (issue 16): names in the output, leaving out rarely rated items, and scoring a
saved model without fitting it again."""

from __future__ import annotations

import numpy as np
import pytest

import recfactor
from tests.cli import rows, run


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """60 users rating 30 popular items, and one item ("rare") with a single 5-star rating;
    titles for every item but one."""
    folder = tmp_path_factory.mktemp("shop")
    rng = np.random.default_rng(4)
    lines = ["user,item,rating"]
    for u in range(60):
        for i in rng.choice(30, 12, replace=False):
            lines.append(f"u{u},i{i},{rng.integers(1, 6)}")
    lines.append("u0,rare,5")
    (folder / "ratings.csv").write_text("\n".join(lines) + "\n")
    (folder / "titles.csv").write_text(
        "item,title\n" + "".join(f"i{i},Item number {i}\n" for i in range(29)) + "rare,Rare\n"
    )
    model = folder / "shop.model"
    result = run("train", folder / "ratings.csv", "--algo", "als", "-k", "4", "-m", model, "-q")
    assert result.exit_code == 0, result.output
    return folder, model


def test_titles_join_recommend_similar_and_predict(shop):
    folder, model = shop
    titles = folder / "titles.csv"
    top = rows(run("recommend", "--user", "u1", "-n", "3", "--items", titles, "-m", model).stdout)
    assert len(top) == 3 and all(r["title"] == f"Item number {r['item'][1:]}"
                                 or r["item"] in ("i29", "rare") for r in top)  # fmt: skip
    near = rows(run("similar", "--item", "i3", "-n", "30", "--items", titles, "-m", model).stdout)
    assert {r["similar_item"]: r["title"] for r in near}["i29"] == ""  # no title in the file
    one = rows(run("predict", "--user", "u1", "--item", "i2", "--items", titles, "-m", model)
               .stdout)  # fmt: skip
    assert one[0]["title"] == "Item number 2"


def test_min_ratings_leaves_out_rarely_rated_items(shop):
    _, model = shop
    every = rows(run("similar", "--item", "i3", "-n", "40", "-m", model).stdout)
    assert "rare" in {r["similar_item"] for r in every}
    kept = rows(run("similar", "--item", "i3", "-n", "40", "--min-ratings", "2", "-m", model)
                .stdout)  # fmt: skip
    assert "rare" not in {r["similar_item"] for r in kept} and len(kept) == 29
    for_user = rows(run("recommend", "--user", "u5", "-n", "40", "--min-ratings", "2", "-m",
                        model).stdout)  # fmt: skip
    assert "rare" not in {r["item"] for r in for_user} and len(for_user) > 0


def test_evaluate_scores_a_saved_model_on_a_test_file_without_fitting(shop, monkeypatch):
    folder, model = shop
    test = folder / "test.csv"
    test.write_text("user,item,rating\nu1,i2,4\nu2,i7,1\nnobody,i3,3\nu4,i9,5\n")
    from recfactor.models.base import Model

    def no_fit(*args, **kwargs):
        raise AssertionError("evaluate -m --test must not fit")

    monkeypatch.setattr(Model, "fit", no_fit)
    result = run("evaluate", "-m", model, "--test", test, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert "as saved (no fit) on 4 test ratings" in result.stderr and "1 cold" in result.stderr
    scores = {r["metric"]: float(r["value"]) for r in rows(result.stdout)}
    predicted = rows(run("predict", test, "-m", model, "--format", "csv").stdout)
    estimate = np.array([float(r["prediction"]) for r in predicted])
    truth = np.array([4, 1, 3, 5])
    assert scores["rmse"] == pytest.approx(np.sqrt(np.mean((estimate - truth) ** 2)), rel=1e-5)
    assert scores["mae"] == pytest.approx(np.mean(np.abs(estimate - truth)), rel=1e-5)


def test_piped_evaluate_says_its_message_on_stderr(tmp_path):
    """stdout piped to a file gets the per-run CSV, unchanged; the spread and the reading of
    what changes across seeds go to stderr, so a log still shows them (not with -q)."""
    from tests.conftest import SAMPLE

    args = ["evaluate", SAMPLE / "food.csv", "--feedback", "implicit", "--algo", "nmf", "-k",
            "2", "--seeds", "2", "--holdout-per-user", "1", "--format", "csv"]  # fmt: skip
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("algo,seed,fold,metric,value,fit_seconds\n")
    assert "nmf ndcg@10: mean" in result.stderr and "across seeds" in result.stderr
    assert "nmf: " in result.stderr and "distinct solution" in result.stderr
    assert run(*args, "-q").stderr == ""


def test_each_algorithm_takes_its_own_settings_in_one_evaluation(shop):
    """Two settings of one algorithm are two rows; a flag given once still goes to every
    algorithm that uses it; settings are checked as tune checks its space."""
    folder, _ = shop
    data = folder / "ratings.csv"
    result = run("evaluate", data, "--algo", "svd:k=2", "--algo", "svd:k=8,reg=0.05",
                 "--algo", "baseline", "--seeds", "1", "--folds", "2", "--epochs", "5",
                 "--format", "json", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    import json

    report = json.loads(result.stdout)
    labels = [row["algo"] for row in report["summary"] if row["metric"] == "rmse"]
    # Settings joined by ';': a CSV cell that `cut -d,` keeps whole.
    assert labels == ["svd:k=2", "svd:k=8;reg=0.05", "baseline"]
    by_label = {}
    for run_ in report["runs"]:
        by_label.setdefault(run_["algo"], []).append(run_["metrics"]["rmse"])
    assert by_label["svd:k=2"] != by_label["svd:k=8;reg=0.05"]
    again = run("evaluate", data, "--algo", "svd:k=8;reg=0.05", "--seeds", "1", "--folds", "2",
                "--epochs", "5", "-q")  # fmt: skip
    assert again.exit_code == 0 and again.stdout.splitlines()[1].startswith("svd:k=8;reg=0.05,")
    for args, said in [
        (["--algo", "svd:k=0"], "factors must be at least 1"),
        (["--algo", "svd:colour=2"], "svd has no parameter 'colour'"),
        (["--algo", "reg=0.1,svd"], "follows no algorithm's settings"),
        (["--algo", "svd:k=2..4"], "factors takes one value here"),
        (["--algo", "baseline,nmf", "--alpha", "3"], "--alpha applies to none of"),
    ]:
        bad = run("evaluate", data, *args, "--seeds", "1")
        assert bad.exit_code == 2 and said in bad.stderr, (args, bad.stderr)


def test_recommend_scores_are_predict_scores(shop):
    """A recommended item's score is the prediction for that pair: clipped to the rating
    scale (the raw p.q ran past 5)."""
    _, model = shop
    top = rows(run("recommend", "--all-users", "-n", "5", "-m", model).stdout)
    assert max(float(r["score"]) for r in top) <= 5.0
    pairs = "".join(f"{r['user']},{r['item']}\n" for r in top)
    predicted = rows(run("predict", "-", "-m", model, "--format", "csv", input=pairs).stdout)
    assert [float(r["score"]) for r in top] == [float(p["prediction"]) for p in predicted]


def test_split_writes_the_files_own_lines(tmp_path):
    """Every column (the timestamp too), the header and the ratings' spelling survive a
    split, and the parts hold every line once; stdin, which cannot be read twice, gets the
    ratings as read."""
    data = tmp_path / "log.tsv"
    lines = [f"u{k % 7}\ti{k % 11}\t{k % 5 + 1}\t{880000000 + k}" for k in range(77)]
    data.write_text("user\titem\trating\ttimestamp\n" + "\n".join(lines) + "\n")
    result = run("split", data, "-o", tmp_path / "out", "--folds", "3", "-q")
    assert result.exit_code == 0, result.output
    written = []
    for fold in (1, 2, 3):
        test = (tmp_path / "out" / f"log.fold{fold}.test.tsv").read_text().splitlines()
        assert test[0] == "user\titem\trating\ttimestamp"
        written += test[1:]
    assert sorted(written) == sorted(lines)
    piped = run("split", "-", "-o", tmp_path / "piped", "-q", input=data.read_text())
    assert piped.exit_code == 0, piped.output
    assert (tmp_path / "piped" / "stdin.test.csv").read_text().startswith("user,item,rating\n")


def test_an_algorithm_that_refuses_the_data_is_left_out_with_a_note(tmp_path):
    data = tmp_path / "signed.csv"
    rng = np.random.default_rng(0)
    data.write_text("user,item,rating\n" + "".join(
        f"u{k % 40},i{k % 23},{rng.integers(-5, 6)}\n" for k in range(600)))  # fmt: skip
    result = run("evaluate", data, "--algo", "svd,nmf,baseline", "--seeds", "1", "--folds", "2",
                 "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "note: left out nmf: " in result.stderr and "non-negative" in result.stderr
    import json

    assert {r["algo"] for r in json.loads(result.stdout)["runs"]} == {"svd", "baseline"}
    alone = run("evaluate", data, "--algo", "nmf", "--seeds", "1", "--folds", "2")
    assert alone.exit_code == 1 and alone.stderr.startswith("error: ")


def test_dash_h_is_help_everywhere():
    for args in ([], ["train"], ["predict"], ["evaluate"], ["tune"]):
        result = run(*args, "-h")
        assert result.exit_code == 0 and result.stdout.startswith("Usage: "), args


def test_export_help_offers_only_the_formats_it_writes(shop):
    _, model = shop
    assert "--format [csv|json]" in run("export", "--help").stdout
    result = run("export", "--format", "table", "-m", model)
    assert result.exit_code == 2 and "'table' is not one of 'csv', 'json'" in result.stderr


def test_a_one_row_result_fits_80_columns_whole(tmp_path, monkeypatch):
    """train's summary as a table: a field a row, every number whole in 80 columns (the
    eight columns were cut to "0.57…")."""
    from tests.conftest import SAMPLE

    monkeypatch.setenv("COLUMNS", "80")
    result = run("train", SAMPLE / "ratings.csv", "-m", tmp_path / "m.model", "-q",
                 "--format", "table")  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in result.stdout
    rmse = recfactor.load(tmp_path / "m.model")[0].train_metrics_["rmse"]
    shown = next(line for line in lines if "train_rmse" in line).split()[-2]
    assert float(shown) == pytest.approx(rmse, rel=1e-5)


COMMANDS = ("train", "update", "predict", "recommend", "similar", "export", "evaluate", "tune",
            "stability", "describe", "split", "inspect")  # fmt: skip


def test_every_help_fits_80_columns_with_groups_examples_and_plain_metavars(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    root = run("--help").stdout
    assert "Examples:" in root and max(map(len, root.splitlines())) <= 80
    for command in COMMANDS:
        text = run(command, "--help").stdout
        assert max(map(len, text.splitlines())) <= 80, command
        assert "Examples:\n  $ recfactor " + command in text, command
        assert "<" not in text.replace("<stdin>", ""), command  # no <str>, <int range>
        assert "Output options:" in text, command
    train = run("train", "--help").stdout
    for heading in ("Model options:", "Input options:", "Spark options:"):
        assert heading in train
    assert "--seed N " in train and "--sep SEP " in train and "--reg X " in train
    assert "-m, --model PATH " in train
    assert "als 10 explicit / 64 implicit" in " ".join(train.split())  # by the data's kind
    assert "Evaluation options:" in run("evaluate", "--help").stdout


def test_debug_is_taken_anywhere_on_the_line(tmp_path):
    missing = tmp_path / "missing.csv"
    plain = run("describe", missing)
    assert plain.exit_code == 1 and "Traceback" not in plain.output
    from recfactor.errors import DataError

    for args in (("--debug", "describe", missing), ("describe", missing, "--debug")):
        result = run(*args)
        assert isinstance(result.exception, DataError), args  # raised, for the traceback


def test_completion_installs_and_completes(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash"}
    entry = [sys.executable, "-m", "recfactor"]
    installed = subprocess.run([*entry, "--install-completion", "bash"], env=env,
                               capture_output=True, text=True)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    assert "recfactor" in (tmp_path / ".bashrc").read_text()
    env.update(_RECFACTOR_COMPLETE="complete_bash", COMP_WORDS="recfactor train x --algo ",
               COMP_CWORD="4")  # fmt: skip
    completed = subprocess.run(entry, env=env, capture_output=True, text=True)
    from recfactor.models import ALGORITHMS

    assert completed.stdout.split() == list(ALGORITHMS)


def test_the_first_run_that_compiles_kernels_says_so_once(tmp_path):
    """With an empty kernel cache the first fit says it compiles (it takes seconds); the next
    run, and any run with -q, says nothing of it."""
    import os
    import subprocess
    import sys

    from tests.conftest import SAMPLE

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("RECFACTOR_COMPILE_NOTED", None)
    train = [sys.executable, "-m", "recfactor", "train", str(SAMPLE / "ratings.csv"), "--algo",
             "baseline", "-m", str(tmp_path / "m.model")]  # fmt: skip
    first = subprocess.run(train, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("compiling kernels, first run only") == 1
    again = subprocess.run(train, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "compiling" not in again.stderr


def test_similar_says_once_when_another_seed_would_change_the_neighbours(tmp_path):
    """train measures, for a quick fit, how many of each item's 10 nearest neighbours a
    second seed keeps; similar says so on stderr when fewer than half stay (NMF's
    multiplicative updates from a random start), and nothing for a truncated SVD, whose
    factors do not depend on the start."""
    from recfactor import persist
    from tests.conftest import SAMPLE

    unstable, stable = tmp_path / "nmf.model", tmp_path / "lanczos.model"
    data = SAMPLE / "ratings.csv"
    assert run("train", data, "--algo", "nmf", "-k", "8", "-m", unstable, "-q").exit_code == 0
    assert run("train", data, "--algo", "svd", "--solver", "lanczos", "-k", "8", "-m", stable,
               "-q").exit_code == 0  # fmt: skip
    record = persist.read_manifest(unstable)["neighbours"]
    assert record["k"] == 10 and record["seeds"] == [0, 1] and record["shared"] < 0.5
    assert persist.read_manifest(stable)["neighbours"]["shared"] > 0.95
    said = run("similar", "--item", "m001", "-m", unstable)
    assert said.exit_code == 0 and said.stderr.count("not stable across seeds") == 1
    assert run("similar", "--item", "m001", "-m", unstable, "-q").stderr == ""
    assert "not stable" not in run("similar", "--item", "m001", "-m", stable).stderr


def test_inspect_lists_only_the_settings_the_fit_used(tmp_path):
    """svd under the lanczos solver takes no learning rate or epochs; ALS on ratings no
    alpha: inspect leaves out what did not apply."""
    import json

    from tests.conftest import SAMPLE

    model = tmp_path / "m.model"
    assert run("train", SAMPLE / "food.csv", "--solver", "lanczos", "-k", "2", "-m", model,
               "-q").exit_code == 0  # fmt: skip
    shown = json.loads(run("inspect", "-m", model, "--format", "json").stdout)["params"]
    assert shown["solver"] == "lanczos" and shown["factors"] == 2
    assert "lr" not in shown and "epochs" not in shown
    assert run("train", SAMPLE / "food.csv", "--algo", "als", "-k", "2", "-m", model,
               "-q").exit_code == 0  # fmt: skip
    shown = json.loads(run("inspect", "-m", model, "--format", "json").stdout)["params"]
    assert "alpha" not in shown and shown["reg"] == 0.1


def test_titles_are_read_with_titles_and_still_with_items(tmp_path):
    """--titles says what the file holds (beside similar's --item and ITEMS of IDs); --items,
    its first name, still reads it but is no longer shown."""
    from tests.conftest import SAMPLE

    model = tmp_path / "m.model"
    assert run("train", SAMPLE / "ratings.csv", "-k", "4", "--epochs", "3", "-m", model,
               "-q").exit_code == 0  # fmt: skip
    outputs = [run("similar", "--item", "m002", "-n", "2", flag, SAMPLE / "items.csv", "-m",
                   model, "-q").stdout for flag in ("--titles", "--items")]  # fmt: skip
    assert outputs[0] == outputs[1] and "title" in outputs[0].splitlines()[0]
    shown = run("similar", "--help").stdout
    assert "--titles PATH" in shown and "--items" not in shown  # the old name, no longer shown
