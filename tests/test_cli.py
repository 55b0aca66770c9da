from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from recfactor.cli import app
from tests.conftest import SAMPLE

runner = CliRunner()


def run(*args: str, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def trained(tmp_path, monkeypatch, four_rows):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RECFACTOR_MODEL", raising=False)
    result = run("train", four_rows.name)
    assert result.exit_code == 0, result.output
    return tmp_path


def test_train_predict_evaluate_as_written(trained):
    assert (trained / "recfactor.model").exists()
    result = run("predict", "--user", "1", "--item", "B")
    assert result.exit_code == 0, result.output
    (row,) = rows(result.stdout)
    assert row["user"] == "1" and row["item"] == "B" and row["cold"] == "false"
    assert 0.5 <= float(row["prediction"]) <= 5.0  # within the scale seen in training
    result = run("evaluate", "--metric", "rmse")
    assert result.exit_code == 0, result.output
    report = [r for r in rows(result.stdout) if r["seed"] != "all"]
    assert {r["algo"] for r in report} == {"svd"} and {r["metric"] for r in report} == {"rmse"}
    assert len(report) == 3 * 4  # 3 seeds x 4 folds (only 4 ratings)
    # and the seeds' lists compared on the fits to all the data (3 items: top 3)
    lists = {r["metric"] for r in rows(result.stdout) if r["seed"] == "all"}
    assert {"jaccard@3", "chance_jaccard@3", "rbo@3"} <= lists
    assert "using 4 folds" in result.stderr


def test_batch_predict_from_stdin(trained):
    result = run("predict", "-", input="1,B\n3,C\n1,B\nnew,A\n")
    assert result.exit_code == 0, result.output
    out = rows(result.stdout)
    assert [(r["user"], r["item"], r["cold"]) for r in out] == [
        ("1", "B", "false"),
        ("3", "C", "false"),
        ("1", "B", "false"),
        ("new", "A", "baseline"),
    ]
    assert out[0]["prediction"] == out[2]["prediction"]
    assert "1 pair(s) with an unknown user or item" in result.stderr
    assert result.stdout.splitlines()[0] == "user,item,prediction,cold"


def test_single_cold_prediction_notes_on_stderr_and_strict_fails(trained):
    result = run("predict", "--user", "42", "--item", "A")
    assert result.exit_code == 0
    assert "unknown user" in result.stderr and rows(result.stdout)[0]["cold"] == "baseline"
    result = run("predict", "--user", "42", "--item", "A", "--strict")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: unknown user '42'")


@pytest.mark.parametrize(
    "args",
    [("predict", "--user", "", "--item", "A"), ("predict", "--user", "1", "--item", " "),
     ("recommend", "--user", ""), ("similar", "--item", "")],
)  # fmt: skip
def test_an_empty_id_is_a_usage_error_not_an_unknown_user(trained, args):
    """`--user "$U"` with U unset was answered for a user '' (a baseline, the most popular
    items) with a note at most: no user or item has an empty ID."""
    result = run(*args)
    assert result.exit_code == 2 and result.stdout == ""
    assert "an empty ID (no user or item has one)" in result.stderr, result.stderr


def test_standard_input_given_to_two_inputs_is_a_usage_error(trained, tmp_path):
    """The second reader of - found it drained and called its file empty ("<stdin>: the file
    is empty"); - as -o is standard output, beside - as the data."""
    pairs = "user,item\n1,B\n"
    for args in (
        ("train", "-", "--algo", "bfm", "--user-features", "-"),
        ("predict", "-", "--history=-"),
        ("predict", "-", "--history", "-", "-q"),
    ):
        result = run(*args, input=pairs)
        assert result.exit_code == 2 and result.stdout == "", args
        assert "- (standard input) is given to two inputs" in result.stderr, result.stderr
    for out in (("-o", "-"), ("--output=-",)):
        result = run("predict", "-", *out, "-q", input=pairs)
        assert result.exit_code == 0 and result.stdout.startswith("user,item,prediction")


def test_a_test_file_the_data_also_rates_is_noted(tmp_path):
    """`evaluate DATA --test FILE` where FILE was taken from DATA and not removed scored
    training errors as held-out ones, without a word."""
    lines = (SAMPLE / "ratings.csv").read_text().splitlines()
    (tmp_path / "part.csv").write_text("\n".join(lines[:301]) + "\n")
    (tmp_path / "rest.csv").write_text("\n".join(lines[:1] + lines[301:]) + "\n")
    args = ("--algo", "baseline", "--metric", "rmse", "--format", "csv")
    leaked = run("evaluate", SAMPLE / "ratings.csv", "--test", tmp_path / "part.csv", *args)
    assert leaked.exit_code == 0, leaked.output
    assert (f"note: {tmp_path / 'part.csv'}: 300 of its 300 ratings rate pairs the data rates "
            "too; their errors are training errors") in leaked.stderr  # fmt: skip
    held = run("evaluate", tmp_path / "rest.csv", "--test", tmp_path / "part.csv", *args)
    assert held.exit_code == 0 and "rate pairs the data rates" not in held.stderr
    # A saved model scored on pairs it was trained on says so too.
    for data, said in (("ratings", True), ("rest", False)):
        source = SAMPLE / "ratings.csv" if data == "ratings" else tmp_path / "rest.csv"
        model = tmp_path / f"{data}.model"
        assert run("train", source, "--algo", "baseline", "-m", model, "-q").exit_code == 0
        scored = run("evaluate", "-m", model, "--test", tmp_path / "part.csv")
        assert scored.exit_code == 0, scored.output
        assert ("0 cold, predicted by the fallback; 300 rate pairs it was trained on"
                in scored.stderr) is said, scored.stderr  # fmt: skip


def test_json_and_table_formats(trained):
    result = run("predict", "--user", "1", "--item", "B", "--format", "json")
    (record,) = json.loads(result.stdout)
    assert set(record) == {"user", "item", "prediction", "cold"} and record["cold"] == "false"
    result = run("predict", "--user", "1", "--item", "B", "--format", "table")
    assert "prediction" in result.stdout and "B" in result.stdout


def test_recommend_similar_export(trained):
    result = run("recommend", "--user", "1", "-n", "5")
    assert result.exit_code == 0, result.output
    out = rows(result.stdout)
    assert [r["item"] for r in out] == ["B"]  # user 1 rated A and C; only B is left
    assert out[0]["rank"] == "1"
    result = run("recommend", "--all-users", "--include-seen", "-n", "2")
    assert len(rows(result.stdout)) == 6
    # A user the model does not know gets the most popular items, and a note says so.
    result = run("recommend", "-", input="user\n2\nghost\n")
    ghost = [r["item"] for r in rows(result.stdout) if r["user"] == "ghost"]
    assert {r["user"] for r in rows(result.stdout)} == {"2", "ghost"} and ghost
    assert "1 unknown user(s): the most popular items" in result.stderr
    result = run("similar", "--item", "A", "-n", "2")
    out = rows(result.stdout)
    assert [r["item"] for r in out] == ["A", "A"]
    assert {r["similar_item"] for r in out} == {"B", "C"}
    result = run("export", "--what", "items")
    table = rows(result.stdout)
    assert list(table[0])[:3] == ["item", "bias", "f0"] and len(table[0]) == 2 + 100
    assert {r["item"] for r in table} == {"A", "B", "C"}
    result = run("export", "--what", "users", "-o", "users.csv")
    assert result.exit_code == 0 and (trained / "users.csv").read_text().startswith("user,bias,f0")
    # JSON: the CSV's records, the same numbers; by --format on stdout or by the -o suffix.
    records = json.loads(run("export", "--format", "json").stdout)
    assert [r["item"] for r in records] == [r["item"] for r in table]
    assert all(float(c[k]) == j[k] for c, j in zip(table, records) for k in ("bias", "f0", "f99"))
    assert run("export", "-o", "items.json").exit_code == 0
    assert json.loads((trained / "items.json").read_text()) == records
    result = run("export", "-o", trained / "missing" / "items.csv")
    assert result.exit_code == 1 and "missing does not exist" in result.stderr


def test_evaluate_json_contract(tmp_path):
    result = run(
        "evaluate",
        SAMPLE / "ratings.csv",
        "--algo",
        "baseline,svd",
        "-k",
        "5",
        "--seeds",
        "2",
        "--folds",
        "2",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) >= {"dataset", "split", "runs", "summary", "nonuniqueness"}
    assert len(report["runs"]) == 2 * 2 * 2
    assert set(report["runs"][0]) >= {"algo", "seed", "fold", "metrics", "fit_seconds"}
    summary = {(s["algo"], s["metric"]): s for s in report["summary"]}
    assert set(summary["svd", "rmse"]) >= {"mean", "std", "min", "max"}
    assert summary["svd", "rmse"]["mean"] < summary["baseline", "rmse"]["mean"]
    assert summary["baseline", "rmse"]["std"] == 0.0  # the baseline has no randomness
    svd_seeds = [r for r in report["runs"] if r["algo"] == "svd"]
    assert len({r["metrics"]["rmse"] for r in svd_seeds}) > 1


def test_describe_and_split(tmp_path, four_rows):
    result = run("describe", four_rows, "--format", "json")
    stats = json.loads(result.stdout)
    assert (stats["users"], stats["items"], stats["ratings"]) == (3, 3, 4)
    assert stats["density"] == pytest.approx(4 / 9)
    result = run("split", SAMPLE / "ratings.csv", "--folds", "3", "-o", tmp_path / "s")
    assert result.exit_code == 0, result.output
    listed = rows(result.stdout)
    assert len(listed) == 6
    tests = [
        (tmp_path / "s" / f"ratings.fold{k}.test.csv").read_text().splitlines()[1:]
        for k in (1, 2, 3)
    ]
    assert sum(len(t) for t in tests) == 50_000 and len(set().union(*tests)) == 50_000
    again = run("split", SAMPLE / "ratings.csv", "--folds", "3", "-o", tmp_path / "t")
    assert again.exit_code == 0
    assert (tmp_path / "t" / "ratings.fold2.test.csv").read_text() == (
        tmp_path / "s" / "ratings.fold2.test.csv"
    ).read_text()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "user,item,rating\n1,A,4\n2,B,oops\n",
            "line 3, column 3 (rating): 'oops' is not a number",
        ),
        ("1,A,4\n1,A,5\n", "line 2: duplicate rating"),
        ("", "the file is empty"),
    ],
)
def test_bad_data_is_one_error_line_and_exit_1(tmp_path, monkeypatch, text, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.csv").write_text(text)
    result = run("train", "bad.csv")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: bad.csv") and expected in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) <= 2
    assert not (tmp_path / "recfactor.model").exists()


def test_usage_errors_exit_2(trained):
    assert run("train", "ratings.csv", "--factors", "0").exit_code == 2
    assert run("train", "ratings.csv", "--algo", "magic").exit_code == 2
    assert run("train", "ratings.csv", "--algo", "baseline", "-k", "3").exit_code == 2
    assert run("predict", "--user", "1").exit_code == 2
    assert run("evaluate", "ratings.csv", "--metric", "accuracy").exit_code == 2
    # Negative seeds: numpy refuses them, so they must be stopped before it (no traceback).
    for command in (
        ("train", "ratings.csv", "--seed", "-1"),
        ("evaluate", "ratings.csv", "--split-seed", "-5"),
        ("split", "ratings.csv", "--split-seed", "-1", "--folds", "2"),
    ):
        result = run(*command)
        assert result.exit_code == 2
        assert "is not in the range x>=0" in result.stderr + result.output


def test_missing_model_and_env_var(tmp_path, monkeypatch, four_rows):
    monkeypatch.chdir(tmp_path)
    result = run("predict", "--user", "1", "--item", "A", "-m", "absent.model")
    assert result.exit_code == 1 and "no model file" in result.stderr
    monkeypatch.setenv("RECFACTOR_MODEL", str(tmp_path / "env.model"))
    assert run("train", four_rows, "--algo", "baseline").exit_code == 0
    assert (tmp_path / "env.model").exists()
    assert run("predict", "--user", "1", "--item", "B").exit_code == 0


def test_wide_food_matrix_trains_with_implicit_feedback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(
        "train", SAMPLE / "food_matrix.csv", "--layout", "wide", "--feedback", "implicit",
        "-k", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = rows(run("recommend", "--user", "2", "-n", "3").stdout)
    assert [r["item"] for r in out][:1] == ["chicken"]  # user 2 bought only pizza


def test_version_and_debug_traceback(tmp_path, monkeypatch):
    from recfactor import __version__

    result = run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == __version__
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.csv").write_text("1,A,x\n")
    result = run("--debug", "train", "bad.csv")
    assert result.exit_code == 1 and result.exception is not None  # traceback, not a message


def test_food_nmf_and_inspect_show_the_three_dishes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # Exactly the command of issue 3's "Done when".
    result = run("train", SAMPLE / "food.csv", "--algo", "nmf", "--feedback", "implicit",
                 "-k", "3")  # fmt: skip
    assert result.exit_code == 0, result.output
    result = run("inspect", "--format", "json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["algorithm"] == "nmf" and info["factors"] == 3
    assert info["training"]["n_iter"] > 0 and info["training"]["objective"] < 1e-3
    groups = {
        frozenset(
            t["item"] for t in f["top_items"] if t["weight"] > 0.5 * f["top_items"][0]["weight"]
        )
        for f in info["latent_factors"]
    }
    assert groups == {frozenset({"pizza"}), frozenset({"chicken"}), frozenset({"burger", "fries"})}
    table = run("inspect", "--format", "table").stdout
    assert "H (factors x items)" in table and "burger" in table and "fries" in table
    rows_out = rows(run("inspect", "--format", "csv").stdout)
    assert {r["item"] for r in rows_out} == {"pizza", "chicken", "burger", "fries"}


def test_inspect_names_items_from_a_names_file(trained, tmp_path):
    names = tmp_path / "names.csv"
    names.write_text("item_id,name\nA,Alpha\nB,Beta\nC,Gamma\n")
    info = json.loads(run("inspect", "--items", names, "--format", "json").stdout)
    named = {t["item"]: t["name"] for f in info["latent_factors"] for t in f["top_items"]}
    assert named and all(named[i] == {"A": "Alpha", "B": "Beta", "C": "Gamma"}[i] for i in named)


def test_nmf_flags_and_negative_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "neg.csv").write_text("user,item,rating\n1,A,3\n2,B,-1\n")
    result = run("train", "neg.csv", "--algo", "nmf")
    assert result.exit_code == 1
    assert "error: neg.csv, line 3, column 3 (rating): -1 is negative" in result.stderr
    assert "--algo svd" in result.stderr
    (tmp_path / "bare.csv").write_text("1,A,3\n2,B,-1\n")  # no header: the column is "rating"
    result = run("train", "bare.csv", "--algo", "nmf")
    assert "error: bare.csv, line 2, column 3 (rating): -1 is negative" in result.stderr
    # Named by its place and its header's name, wherever it stands, as the parser's errors.
    (tmp_path / "first.csv").write_text("stars,user,item\n3,1,A\n-1,2,B\n")
    result = run("train", "first.csv", "--algo", "nmf", "--user-col", "user", "--item-col",
                 "item", "--rating-col", "stars")  # fmt: skip
    assert "error: first.csv, line 3, column 1 (stars): -1 is negative" in result.stderr
    pd.DataFrame({"who": ["1", "2"], "what": ["A", "B"], "stars": [3.0, 2e19]}).to_parquet(
        tmp_path / "big.parquet")  # fmt: skip
    result = run("train", "big.parquet")
    assert "error: big.parquet, row 2, column 3 (stars): rating 2e+19 is beyond" in result.stderr
    assert run("train", "neg.csv", "--algo", "nmf", "--lr", "0.1").exit_code == 2
    assert run("train", "neg.csv", "--algo", "svd", "--l1-w", "1").exit_code == 2


def test_implicit_evaluate_reports_topn_metrics_with_popularity(tmp_path):
    rng = __import__("numpy").random.default_rng(0)
    lines = ["user,item"]
    for u in range(60):
        group = u % 3  # three taste groups of ten items each
        for i in rng.choice(10, size=6, replace=False):
            lines.append(f"u{u},g{group}-{i}")
    path = tmp_path / "clicks.csv"
    path.write_text("\n".join(lines) + "\n")
    result = run(
        "evaluate",
        path,
        "--feedback",
        "implicit",
        "--algo",
        "baseline,als",
        "-k",
        "3",
        "--seeds",
        "2",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["split"]["kind"] == "per-user holdout"
    summary = {(s["algo"], s["metric"]): s["mean"] for s in report["summary"]}
    assert set(m for _, m in summary) == {
        "precision@10",
        "recall@10",
        "ndcg@10",
        "map@10",
        "coverage@10",
    }
    assert summary["als", "ndcg@10"] > summary["baseline", "ndcg@10"]
    bad = run("evaluate", path, "--feedback", "implicit", "--metric", "rmse")
    assert bad.exit_code == 2 and "implicit feedback" in bad.stderr


def test_explicit_evaluate_with_topn_metrics_and_threshold(tmp_path):
    result = run(
        "evaluate",
        SAMPLE / "ratings.csv",
        "--algo",
        "als",
        "--metric",
        "rmse,ndcg@5",
        "--holdout-per-user",
        "3",
        "--seeds",
        "1",
        "--format",
        "csv",
    )
    assert result.exit_code == 0, result.output
    got = {r["metric"]: float(r["value"]) for r in rows(result.stdout)}
    assert set(got) == {"rmse", "ndcg@5"} and 0 < got["ndcg@5"] < 1 and got["rmse"] < 1.2


def test_nonuniqueness_section_on_the_food_matrix(tmp_path):
    """NMF k=3 on the food matrix over 10 seeds: one distinct solution, matched cosine above
    0.99, and a reading that says the solution is unique up to permutation and scale."""
    result = run("evaluate", SAMPLE / "food.csv", "--feedback", "implicit", "--algo", "nmf",
                 "-k", "3", "--seeds", "10", "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)["nonuniqueness"]
    assert record["distinct_solutions"] == 1 and record["factor_similarity"] > 0.99
    assert record["chance_factor_similarity"] < record["factor_similarity"]
    assert "unique up to permutation and scale" in record["reading"]
    for key in (
        "prediction_disagreement",
        "subspace_similarity",
        "interaction_agreement",
        "chance_subspace_similarity",
        "threshold",
    ):
        assert key in record


def test_jobs_do_not_change_the_report(tmp_path, monkeypatch):
    import recfactor.running.workers as ev

    monkeypatch.setattr(ev, "PARALLEL_MIN_WORK", 0)  # force worker processes on small data
    args = [
        "evaluate",
        SAMPLE / "ratings.csv",
        "--algo",
        "svd",
        "-k",
        "4",
        "--epochs",
        "3",
        "--seeds",
        "2",
        "--folds",
        "2",
        "--format",
        "json",
    ]
    one = json.loads(run(*args, "--jobs", "1").stdout)
    two = json.loads(run(*args, "--jobs", "2").stdout)
    strip = [{**r, "fit_seconds": None} for r in one["runs"]]
    assert strip == [{**r, "fit_seconds": None} for r in two["runs"]]
    assert one["nonuniqueness"] == two["nonuniqueness"]


def test_bad_file_with_workers_started_early_is_a_clean_error(tmp_path, monkeypatch):
    """Workers start before the data is read; a bad file must still give the one-line error
    and exit code 1, with the workers stopped."""
    import recfactor.running.workers as ev

    monkeypatch.setattr(ev, "PARALLEL_MIN_WORK", 0)
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,rating\n1,A,5\n2,B,five\n3,C,4\n")
    result = run("evaluate", bad, "--algo", "svd", "--seeds", "2", "--jobs", "2")
    assert result.exit_code == 1
    assert "bad.csv" in result.output and "line 3" in result.output
    assert "Traceback" not in result.output


def test_an_error_inside_a_worker_is_the_same_clean_error(tmp_path, monkeypatch):
    """NMF refuses negative ratings; raised in a worker process, the message (with its line)
    and exit code are those of a run in one process."""
    import recfactor.running.workers as ev

    monkeypatch.setattr(ev, "PARALLEL_MIN_WORK", 0)
    rows = [f"{u},{i},{(u * i) % 5 + 1}" for u in range(1, 9) for i in range(1, 9)]
    rows[20] = "3,5,-2"
    data = tmp_path / "neg.csv"
    data.write_text("user,item,rating\n" + "\n".join(rows) + "\n")
    results = [
        run("evaluate", data, "--algo", "nmf", "--seeds", "2", "--folds", "2", "--jobs", jobs)
        for jobs in ("1", "2")
    ]
    for result in results:
        assert result.exit_code == 1
        assert "line 22, column 3 (rating): -2 is negative" in result.stderr
        assert "Traceback" not in result.output
    assert results[0].stderr == results[1].stderr


def test_inspect_compare_two_models(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = SAMPLE / "ratings.csv"
    assert run("train", data, "-k", "8", "--seed", "1", "-m", "a.model").exit_code == 0
    assert run("train", data, "-k", "8", "--seed", "2", "-m", "b.model").exit_code == 0
    same = json.loads(run("inspect", "-m", "a.model", "--compare", "a.model", "--format",
                          "json").stdout)  # fmt: skip
    assert same["factor_similarity"] == pytest.approx(1.0)
    assert same["interaction_agreement"] == pytest.approx(1.0)
    other = json.loads(run("inspect", "-m", "a.model", "--compare", "b.model", "--format",
                           "json").stdout)  # fmt: skip
    assert other["factor_similarity"] < 0.99 and len(other["pairs"]) == 8
    assert other["chance_factor_similarity"] < 1.0


def test_plot_writes_a_png(tmp_path):
    path = tmp_path / "report.png"
    result = run(
        "evaluate",
        SAMPLE / "food_matrix.csv",
        "--layout",
        "wide",
        "--feedback",
        "implicit",
        "--algo",
        "nmf",
        "-k",
        "3",
        "--seeds",
        "3",
        "--holdout-per-user",
        "1",
        "--plot",
        path,
        "--format",
        "csv",
    )
    assert result.exit_code == 0, result.output
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_on_too_little_data_is_a_data_error(tmp_path):
    (tmp_path / "one.csv").write_text("1,A,4\n")
    result = run("evaluate", tmp_path / "one.csv")
    assert result.exit_code == 1 and "too few" in result.stderr
    assert run("evaluate", SAMPLE / "article001.csv", "--folds", "1").exit_code == 2


def test_every_command_is_documented_in_the_readme():
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    commands = [c.name or c.callback.__name__ for c in app.registered_commands]
    assert len(commands) == 13
    missing = [c for c in commands if f"recfactor {c}" not in readme]
    assert not missing, missing


def test_unwritable_outputs_are_one_line_errors(trained, tmp_path):
    result = run("export", "-o", tmp_path / "missing" / "dir" / "factors.csv")
    assert result.exit_code == 1 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.output
    result = run("train", "ratings.csv", "-m", tmp_path / "missing" / "m.model")
    assert result.exit_code == 1 and "does not exist" in result.stderr


def test_a_closed_pipe_ends_the_command_quietly(tmp_path):
    """`recfactor ... | head -1`: the reader goes away early; no traceback, no error line, and
    GNU tools' 141 (it was 1, which the README reserves for bad input)."""
    model = tmp_path / "m.model"
    assert run("train", SAMPLE / "ratings.csv", "-m", model, "-q").exit_code == 0
    command = [sys.executable, "-m", "recfactor", "recommend", "--all-users", "-n", "50",
               "-m", str(model)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline().startswith(b"user,rank,item,score")
    process.stdout.close()  # as head does after its line
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert stderr == ""


def _evaluate_in_new_process(*args: str) -> subprocess.CompletedProcess:
    """`recfactor evaluate` in a fresh process (so that it may fork: in this one numba's
    threads may have started), with worker processes forced on small data."""
    code = (
        "import sys; import recfactor.running.workers as ev; ev.PARALLEL_MIN_WORK = 0; "
        "from recfactor.cli import main; sys.argv = ['recfactor', 'evaluate', *sys.argv[1:]]; "
        "main()"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300
    )


def test_reader_process_and_forked_workers_give_the_report_of_one_process(tmp_path):
    """With --jobs 2 the data is read in a forked process while numba loads, and the workers
    are forked with both: the report is the one --jobs 1 gives, and a bad file is the usual
    one-line error."""
    args = [str(SAMPLE / "ratings.csv"), "--algo", "svd", "-k", "4", "--epochs", "3",
            "--seeds", "2", "--folds", "2", "--format", "json", "-q"]  # fmt: skip
    one, two = (_evaluate_in_new_process(*args, "--jobs", jobs) for jobs in ("1", "2"))
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    reports = [json.loads(done.stdout) for done in (one, two)]
    for report in reports:
        for run_ in report["runs"]:
            run_["fit_seconds"] = None
    assert reports[0] == reports[1]
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,rating\n1,A,5\n2,B,five\n")
    failed = _evaluate_in_new_process(str(bad), "--jobs", "2", "--seeds", "2")
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: ") and "bad.csv, line 3" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_a_split_too_fine_for_the_data_names_the_file(tmp_path):
    data = tmp_path / "few.csv"
    data.write_text("1,A,5\n2,B,4\n3,C,3\n")
    result = run("split", data, "--folds", "5", "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert f"error: {data}: 3 ratings cannot be cut into 5 folds" in result.stderr
    result = run("evaluate", data, "--algo", "baseline", "--test-fraction", "0.1")
    assert result.exit_code == 1
    assert f"error: {data}: a test fraction of 0.1 of 3 ratings leaves" in result.stderr


def test_nothing_left_to_recommend_is_said_on_stderr(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "one.csv").write_text("user,item,rating\n1,A,5\n")
    assert run("train", "one.csv", "-k", "2").exit_code == 0
    result = run("recommend", "--user", "1")
    assert result.exit_code == 0 and rows(result.stdout) == []
    assert "note: user '1' rated every item in training" in result.stderr
    assert run("recommend", "--user", "1", "--include-seen").stdout.count("\n") == 2
    result = run("similar", "--item", "A")
    assert result.exit_code == 0 and "knows no other item" in result.stderr


def test_reevaluating_a_model_whose_data_changed_notes_it_unless_quiet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "r.csv"
    data.write_text("".join(f"{u},{i},{(u * i) % 5 + 1}\n" for u in range(8) for i in range(6)))
    assert run("train", "r.csv", "--algo", "baseline").exit_code == 0
    with data.open("a") as extra:
        extra.write("9,0,3\n")
    args = ("evaluate", "--seeds", "1", "--folds", "2")
    result = run(*args)
    assert result.exit_code == 0
    assert f"note: {data} changed since the model was trained" in result.stderr
    assert "changed since" not in run(*args, "-q").stderr


def test_every_command_takes_quiet(trained, four_rows):
    # A script may pass -q to every call; none of them may refuse it.
    for command in (
        ("train", four_rows.name),
        ("predict", "--user", "1", "--item", "A"),
        ("recommend", "--user", "1"),
        ("similar", "--item", "A"),
        ("export",),
        ("evaluate", four_rows.name, "--algo", "baseline", "--folds", "2"),
        ("describe", four_rows.name),
        ("split", four_rows.name, "--folds", "2", "-o", "splits"),
        ("inspect",),
    ):
        result = run(*command, "-q")
        assert result.exit_code == 0, (command, result.output)
        assert result.stderr == ""


def test_evaluate_verbose_says_where_the_time_went(four_rows):
    result = run("evaluate", four_rows, "--algo", "baseline", "--folds", "2", "--seeds", "2", "-v")
    assert result.exit_code == 0
    assert re.search(r"read \(imports included\) in [0-9.]+ s; 6 fits and their scores in "
                     r"[0-9.]+ s with --jobs \d+", result.stderr)  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "flag", "where"),
    [
        ("--algo als --alpha 5", "--alpha", "--algo als with --feedback explicit"),
        ("--algo nmf --l1-w 1", "--l1-w", "--algo nmf with --feedback explicit"),
        ("--feedback implicit --algo svd -k 2 --epochs 5", "--epochs",
         "--algo svd with --feedback implicit"),
        ("--feedback implicit --algo nmf -k 2 --bias", "--bias",
         "--algo nmf with --feedback implicit"),
        ("--feedback implicit --algo baseline --reg 3", "--reg",
         "--algo baseline with --feedback implicit"),
        ("--solver lanczos -k 2 --lr 0.1", "--lr", "--algo svd with --solver lanczos"),
    ],
)  # fmt: skip
def test_a_flag_the_model_would_ignore_is_a_usage_error(four_rows, flags, flag, where):
    result = run("train", four_rows, *flags.split())
    assert result.exit_code == 2
    assert f"error: {flag} does not apply to {where}" in result.stderr
    assert "hint: drop it" in result.stderr


def test_beside_other_algorithms_a_flag_must_still_reach_one(four_rows):
    result = run("evaluate", four_rows, "--algo", "baseline,svd", "--alpha", "5", "--folds", "2")
    assert result.exit_code == 2
    assert "--alpha applies to none of --algo svd with --feedback explicit" in result.stderr
    # Where one of them uses it, the others simply do not take it.
    result = run("evaluate", four_rows, "--algo", "svd,als", "-k", "2", "--lr", "0.01",
                 "--folds", "2", "--seeds", "1")  # fmt: skip
    assert result.exit_code == 0, result.output


def test_a_truncated_svd_default_fits_itself_to_small_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    food = SAMPLE / "food.csv"  # 6 customers x 4 foods: a truncated SVD has at most 3 factors
    result = run("train", food, "--feedback", "implicit")
    assert result.exit_code == 0
    assert "note: svd uses 3 factors, the most a truncated SVD of this data allows" in result.stderr
    exported = json.loads(run("export", "--format", "json").stdout)
    assert sorted(k for k in exported[0] if k.startswith("f")) == ["f0", "f1", "f2"]
    # Asked for, a rank the data cannot give stays an error.
    result = run("train", food, "--feedback", "implicit", "-k", "10")
    assert result.exit_code == 1 and "--factors 10 is more than a truncated SVD" in result.stderr
    result = run("evaluate", food, "--feedback", "implicit", "--seeds", "2")
    assert result.exit_code == 0, result.output


def test_errors_the_data_holds_for_a_model_come_before_the_training_note(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating\nu1,a,3\nu2,b,-1\nu3,a,2\n")
    result = run("train", path, "--algo", "nmf", "-m", tmp_path / "m")
    assert result.exit_code == 1 and "training" not in result.stderr
    assert result.stderr.startswith(f"error: {path}, line 3, column 3 (rating): -1 is negative")
    result = run("train", path, "--feedback", "implicit", "-k", "5", "-m", tmp_path / "m")
    assert result.exit_code == 1 and "training" not in result.stderr
    assert "is more than a truncated SVD" in result.stderr


def test_jobs_beyond_the_cores_are_capped_with_a_note(tmp_path):
    from recfactor.running.workers import available_cores

    result = run("evaluate", SAMPLE / "food.csv", "--algo", "baseline", "--seeds", "1",
                 "--jobs", "4096", "--folds", "2")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"--jobs 4096 capped at the {available_cores()} usable cores" in result.stderr


def test_the_spark_engine_refuses_what_it_cannot_train(tmp_path):
    """Checked before Spark (or pyspark) is needed at all."""
    svd = run("train", SAMPLE / "ratings.csv", "--engine", "spark", "-m", tmp_path / "m")
    assert svd.exit_code == 2 and "--algo svd runs on the local engine only" in svd.stderr
    cg = run("train", SAMPLE / "ratings.csv", "--engine", "spark", "--algo", "als",
             "--feedback", "implicit", "--solver", "cg", "-m", tmp_path / "m")  # fmt: skip
    assert cg.exit_code == 2 and "--solver: the local engine's only" in cg.stderr
    local = run("train", SAMPLE / "ratings.csv", "--master", "local[2]", "-m", tmp_path / "m")
    assert local.exit_code == 2 and "apply to --engine spark" in local.stderr
    both = run("train", SAMPLE / "ratings.csv", "--engine", "spark", "--algo", "als",
               "--master", "local[2]", "--remote", "sc://h", "-m", tmp_path / "m")  # fmt: skip
    assert both.exit_code == 2 and "give --master or --remote, not both" in both.stderr
    stdin = run("train", "-", "--engine", "spark", "--algo", "als", "-m", tmp_path / "m")
    assert stdin.exit_code == 2 and "not stdin" in stdin.stderr
    # evaluate fans an algorithm MLlib lacks out as tasks (test_spark), from a path only.
    nmf = run("evaluate", "-", "--engine", "spark", "--algo", "als,nmf", input="u,i,4\n")
    assert nmf.exit_code == 2 and "not stdin" in nmf.stderr
    test = run("evaluate", SAMPLE / "ratings.csv", "--engine", "spark", "--algo", "als",
               "--test", SAMPLE / "ratings.csv")  # fmt: skip
    assert test.exit_code == 2 and "drop --test" in test.stderr
    timed = run("evaluate", SAMPLE / "ratings.csv", "--engine", "spark", "--algo", "als",
                "--test-fraction", "0.2", "--time-ordered")  # fmt: skip
    assert timed.exit_code == 2 and "drawn by the local engine" in timed.stderr
    orthant = run("train", SAMPLE / "ratings.csv", "--engine", "spark", "--algo", "als",
                  "--init", "orthant", "-m", tmp_path / "m")  # fmt: skip
    assert orthant.exit_code == 2 and "not --init orthant" in orthant.stderr
    constant = run("train", SAMPLE / "ratings.csv", "--engine", "spark", "--algo", "als",
                   "--no-weighted-reg", "-m", tmp_path / "m")  # fmt: skip
    assert constant.exit_code == 2 and "weights each row's penalty" in constant.stderr
    assert not (tmp_path / "m").exists()


def test_an_absent_cluster_is_one_error_line_at_once(tmp_path):
    """Nothing listens on port 1: said from a TCP connection before a JVM starts (Spark's own
    attempts take a minute and end in a Java stack trace)."""
    for flag, where in (("--master", "spark://127.0.0.1:1"), ("--remote", "sc://127.0.0.1:1")):
        result = run("train", SAMPLE / "ratings.csv", "--engine", "spark", "--algo", "als",
                     flag, where, "-m", tmp_path / "m")  # fmt: skip
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith(f"error: cannot reach {where} (127.0.0.1:1: ")
        assert "hint: check the address" in result.stderr and "Traceback" not in result.output


def test_an_error_in_evaluate_s_test_file_names_that_file_alone(tmp_path):
    """It read "error: ratings.csv: empty.csv: the file is empty": the data file's name put
    before a message that already names another file."""
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = run("evaluate", SAMPLE / "ratings.csv", "--test", empty, "--metric", "rmse")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"error: {empty}: the file is empty", result.stderr
    few = tmp_path / "one.csv"
    few.write_text("user,item,rating\nu1,i1,4\n")
    alone = run("evaluate", few, "--metric", "rmse")
    assert alone.stderr.splitlines()[0] == f"error: {few}: 1 rating is too few to hold any out"


def test_a_fit_diverging_with_many_factors_says_to_try_fewer(tmp_path):
    """100,000 factors start with dot products far from any rating: no step size helps, and
    the hint named only lr and reg."""
    data = tmp_path / "r.csv"
    data.write_text("user,item,rating\n" + "".join(
        f"u{u},i{i},{(u * i) % 5 + 1}\n" for u in range(30) for i in range(20)))  # fmt: skip
    result = run("train", data, "-k", "100000", "-m", tmp_path / "m", "-q")
    assert result.exit_code == 1 and "diverged" in result.stderr
    assert "or fewer --factors (now 100000)" in result.stderr.splitlines()[1]
    assert not (tmp_path / "m").exists()


def test_a_ranking_metric_no_split_can_score_is_said_to_be_undefined(tmp_path):
    """One item in all: no test user has an unseen item to rank, and every ndcg was an empty
    cell (nan) without a word."""
    data = tmp_path / "r.csv"
    data.write_text("user,item,rating\n" + "".join(f"u{u},i0,{u % 5 + 1}\n" for u in range(20)))
    result = run("evaluate", data, "--metric", "ndcg@5")
    assert result.exit_code == 0
    assert "note: ndcg@5 is undefined on every split" in result.stderr
    scored = run("evaluate", SAMPLE / "ratings.csv", "--metric", "ndcg@5", "--algo", "baseline")
    assert scored.exit_code == 0 and "undefined" not in scored.stderr


def test_a_min_ratings_that_leaves_nothing_says_why(tmp_path):
    """The note blamed the user ("rated every item in training") where --min-ratings had left
    out every item, or every one the user had not rated; similar said nothing at all."""
    data = tmp_path / "r.csv"
    rows = [("a", "x"), ("a", "y"), ("b", "x"), ("b", "z"), ("c", "x")]  # x has 3, y, z 1
    data.write_text("user,item,rating\n" + "".join(f"{u},{i},4\n" for u, i in rows))
    model = tmp_path / "m.model"
    assert run("train", data, "-m", model, "-k", "2", "-q").exit_code == 0
    none = run("recommend", "--user", "a", "--min-ratings", "5", "-m", model)
    assert "note: no item has 5 or more training ratings (the most has 3)" in none.stderr
    assert "rated every" not in none.stderr
    alike = run("similar", "--item", "y", "--min-ratings", "5", "-m", model)
    assert "note: no item has 5 or more training ratings" in alike.stderr
    left = run("recommend", "--user", "a", "--min-ratings", "3", "-m", model)
    assert "note: user 'a' rated every item --min-ratings leaves" in left.stderr


def test_a_titles_file_with_a_quote_left_open_names_its_line(trained):
    """It read "cannot read item names (Error tokenizing data. C error: EOF inside string
    starting at row 1)": pandas' words, and its count of rows."""
    titles = trained / "titles.csv"
    titles.write_text('item,title\nA,One\nB,"Two\nC,Three\n')
    result = run("recommend", "--user", "1", "--titles", titles)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"error: {titles}, line 3: a quote opened here is never closed"
    )


def test_one_seed_claims_no_spread_across_seeds():
    """With one seed the message read "std 0.0000 across seeds" and "rmse varies by 0 across
    seeds (the model's start)": a spread nobody measured."""
    one = run("evaluate", SAMPLE / "ratings.csv", "--algo", "svd", "--seeds", "1", "--folds",
              "2", "--metric", "rmse")  # fmt: skip
    assert one.exit_code == 0
    assert "svd rmse: mean " in one.stderr and "(one seed: more would show" in one.stderr
    assert "across seeds" not in one.stderr and "svd: Only one seed: nothing to compare." in (
        one.stderr)  # fmt: skip
    several = run("evaluate", SAMPLE / "ratings.csv", "--algo", "svd", "--seeds", "2",
                  "--folds", "2", "--metric", "rmse")  # fmt: skip
    assert "std " in several.stderr and "varies by" in several.stderr
