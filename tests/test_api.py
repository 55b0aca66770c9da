"""The public Python API, `import recfactor as rf` alone, against the command line on the same
file: the same models, predictions, recommendations and evaluation numbers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import recfactor as rf
from recfactor.cli import app
from tests.conftest import SAMPLE

RATINGS = SAMPLE / "ratings.csv"


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def data() -> rf.Dataset:
    frame = pd.read_csv(RATINGS)  # string IDs: u1, m002, ...
    return rf.Dataset.from_frame(frame)


NAMES = {"baseline": "Baseline", "svdpp": "SVDpp", "bpmf": "BPMF"}


@pytest.mark.parametrize("algo", ["baseline", "svd", "nmf", "als", "svdpp", "bpmf"])
def test_a_model_fitted_in_python_answers_as_the_command_line(tmp_path, data, algo):
    model = getattr(rf, NAMES.get(algo, algo.upper()))(seed=0).fit(data)
    path = tmp_path / "m.model"
    cli("train", RATINGS, "--algo", algo, "-m", path, "-q")
    printed = json.loads(cli("predict", "--user", "u1", "--item", "m002", "-m", path,
                             "--format", "json"))  # fmt: skip
    ours = model.predict(["u1"], ["m002"]).values[0]
    assert ours == pytest.approx(printed[0]["prediction"], abs=5e-6)  # printed to 6 digits
    top = json.loads(cli("recommend", "--user", "u1", "-n", "5", "-m", path, "--format", "json"))
    assert [item for item, _ in model.recommend("u1", n=5)] == [r["item"] for r in top]
    rf.save(model, tmp_path / "api.model")
    loaded, manifest = rf.load(tmp_path / "api.model")
    assert manifest["algorithm"] == algo
    pairs = (["u1", "u2", "nobody"], ["m002", "m010", "m001"])
    np.testing.assert_array_equal(loaded.predict(*pairs).values, model.predict(*pairs).values)


def test_evaluate_three_seeds_five_folds_as_the_command_line(data):
    report = rf.evaluate(data, rf.EvalConfig(algos=["baseline", "svd"], seeds=3, folds=5))
    printed = json.loads(cli("evaluate", RATINGS, "--algo", "baseline,svd", "--seeds", "3",
                             "--format", "json", "-q"))  # fmt: skip
    ours = report.to_dict()
    assert [(r["algo"], r["metric"], r["mean"]) for r in ours["summary"]] == [
        (r["algo"], r["metric"], r["mean"]) for r in printed["summary"]
    ]
    assert [r["reading"] for r in ours["nonuniqueness"]] == [
        r["reading"] for r in printed["nonuniqueness"]
    ]


def test_models_say_their_parameters():
    model = rf.SVD(factors=50, seed=1)
    assert repr(model) == "SVD(seed=1, factors=50)"
    assert model.get_params()["factors"] == 50
    assert model.set_params(lr=0.01).params.lr == 0.01
    with pytest.raises(rf.ParameterError, match="no parameter 'rank'"):
        rf.SVD(rank=3)
    with pytest.raises(rf.NotFittedError):
        rf.ALS().predict(["u1"], ["m1"])
    report_type = rf.Report
    assert hasattr(report_type, "render") and "evaluate" in rf.__all__


def test_fitting_something_else_than_a_dataset_says_how_to_make_one():
    with pytest.raises(rf.ParameterError, match="fits a recfactor Dataset, not DataFrame") as err:
        rf.SVD().fit(pd.DataFrame({"user": ["a"], "item": ["b"], "rating": [1.0]}))
    assert "Dataset.from_frame" in err.value.hint


SMALL = rf.Dataset.from_arrays(["u1", "u1", "u2", "u3"], ["a", "b", "a", "c"], [5, 3, 4, 2])
MISUSES = {
    "lengths": (lambda: rf.Dataset.from_arrays([1, 2], [1], [3, 4]),
                rf.ParameterError, r"differ in length \(2 users, 1 items, 2 ratings\)"),
    "two dimensions": (lambda: rf.Dataset.from_arrays([[1, 2]], [[1, 2]], [[3, 4]]),
                       rf.ParameterError, r"users must be one-dimensional"),
    "a None ID": (lambda: rf.Dataset.from_arrays(["u1", None], ["a", "b"], [3, 4]),
                  rf.DataError, r"<memory>, row 2: missing user"),
    "a word for a rating": (
        lambda: rf.Dataset.from_frame(pd.DataFrame({"user": [1, 2], "item": [1, 2],
                                                    "rating": [4, "x"]})),
        rf.DataError, r"<DataFrame>, row 2, column rating: 'x' is not a number"),
    "unpaired": (lambda: rf.SVD(epochs=2).fit(SMALL).predict(["u1", "u2"], ["a"]),
                 rf.ParameterError, r"2 users and 1 items"),
    "n of 0": (lambda: rf.SVD(epochs=2).fit(SMALL).recommend("u1", n=0),
               rf.ParameterError, r"n must be a whole number of 1 or more, not 0"),
    "fold-in of a dict": (lambda: rf.fold_in(rf.SVD(epochs=2).fit(SMALL), {"a": 5}),
                          rf.ParameterError, r"as a Dataset, not dict"),
    "times of another length": (lambda: SMALL.with_times([0.0, 86400.0]),
                                rf.ParameterError, r"2 times for 4 ratings or pairs"),
    "a word for a time": (
        lambda: rf.BFM(epochs=6, burn_in=2, time=True, seed=0)
        .fit(SMALL.with_times([0.0, 86400.0, 0.0, 86400.0])).predict_at(["u1"], ["a"], ["x"]),
        rf.ParameterError, r"times must be numbers"),
}  # fmt: skip


def test_float_ids_from_pandas_are_the_ids_a_file_gives(tmp_path):
    """pandas makes integer IDs float where a column had a missing value (and keeps them so
    after dropna): the model knew the users '1.0', '2.0', which `recommend --user 1` and a
    CSV of the same ratings do not name."""
    frame = pd.DataFrame({"user": [1.0, 2.0, np.nan, 3.0, 1.0], "item": [10, 20, 10, 10, 20],
                          "rating": [4.0, 3.0, 5.0, 5.0, 2.0]}).dropna()  # fmt: skip
    fitted = rf.Baseline().fit(rf.Dataset.from_frame(frame))
    frame.astype({"user": int}).to_csv(tmp_path / "r.csv", index=False)
    assert list(fitted.user_ids_) == list(rf.read_ratings(str(tmp_path / "r.csv")).user_ids)
    by_text, by_float = (
        fitted.predict(["1", "3"], ["10", "20"]),
        fitted.predict([1.0, 3.0], [10, 20]),
    )
    assert by_text.values.tolist() == by_float.values.tolist() and not by_float.cold.any()
    with pytest.raises(rf.ColdStartError, match="unknown user '7'"):  # as it was looked up
        fitted.predict([7.0], [10], strict=True)


@pytest.mark.parametrize("case", sorted(MISUSES))
def test_a_misused_call_raises_recfactor_s_error_saying_what(case):
    """The API's entry points refuse what they cannot take with recfactor's own errors, each
    saying what was wrong; before, unequal lengths and None IDs were taken silently and the
    rest raised numpy's or pandas' errors from inside."""
    call, kind, said = MISUSES[case]
    with pytest.raises(kind, match=said):
        call()


def test_fold_in_from_python_answers_as_recommend_history(tmp_path, data):
    """rf.fold_in is what `recommend --history` runs: the same list for a new user."""
    path = tmp_path / "m.model"
    cli("train", RATINGS, "--algo", "svd", "-k", "50", "--seed", "1", "-m", path, "-q")
    model, _ = rf.load(path)
    history = pd.DataFrame({"user": ["new"] * 2, "item": ["m002", "m091"], "rating": [5.0, 4.0]})
    folded, users, unknown = rf.fold_in(model, rf.Dataset.from_frame(history))
    assert users == ["new"] and unknown == 0
    ours = folded.recommend("new", n=3)
    (tmp_path / "h.csv").write_text(history.to_csv(index=False))
    printed = json.loads(cli("recommend", "--history", tmp_path / "h.csv", "-n", "3", "-m", path,
                             "--format", "json", "-q"))  # fmt: skip
    assert [r["item"] for r in printed] == [item for item, _ in ours]
    assert [r["score"] for r in printed] == pytest.approx([s for _, s in ours], abs=5e-6)


@pytest.mark.parametrize("algo", ["svd", "als"])
def test_the_commands_and_the_workflows_write_the_same_files(tmp_path, algo):
    """`recfactor train` and `rf.train_file`, `recfactor update` and `rf.update_saved`: one
    code path, so the model files are byte for byte the same."""
    cli("train", RATINGS, "--algo", algo, "--seed", "3", "-m", tmp_path / "cli.model", "-q")
    rf.train_file(RATINGS, algo, seed=3, model_path=tmp_path / "rf.model")
    assert (tmp_path / "cli.model").read_bytes() == (tmp_path / "rf.model").read_bytes()
    new = tmp_path / "new.csv"
    new.write_text("user,item,rating\nu1,m003,5\nnewcomer,m002,4\n")
    cli("update", new, "-m", tmp_path / "cli.model", "-q")
    done = rf.update_saved(new, tmp_path / "rf.model")
    assert "newcomer" in done.model.user_ids_
    cli_manifest = rf.load(tmp_path / "cli.model")[1]
    rf_manifest = rf.load(tmp_path / "rf.model")[1]
    # The same but for the path each was updated from, which names its own file.
    assert {**cli_manifest, "updated_from": None} == {**rf_manifest, "updated_from": None}
    assert np.array_equal(rf.load(tmp_path / "cli.model")[0].item_factors_,
                          done.model.item_factors_)  # fmt: skip


def test_reevaluate_from_python_reports_what_evaluate_m_prints(tmp_path):
    path = tmp_path / "m.model"
    cli("train", RATINGS, "--algo", "als", "-m", path, "-q")
    printed = json.loads(cli("evaluate", "-m", path, "--seeds", "2", "--folds", "2",
                             "--format", "json", "-q"))  # fmt: skip
    report = rf.reevaluate(path, seeds=2, folds=2).to_dict()
    assert [r["mean"] for r in report["summary"]] == pytest.approx(
        [r["mean"] for r in printed["summary"]], abs=1e-9
    )
    assert report["dataset"] == printed["dataset"]


def test_evaluate_file_from_python_reports_what_evaluate_prints():
    """The split as a type: a per-user holdout with its seed, and one algorithm with its own
    settings, give the command's numbers."""
    printed = json.loads(cli("evaluate", RATINGS, "--algo", "baseline,svd:k=8", "--seeds", "2",
                             "--holdout-per-user", "3", "--split-seed", "4", "--format", "json",
                             "-q"))  # fmt: skip
    split = rf.SplitSpec(holdout_per_user=3, split_seed=4)
    algos = [rf.AlgoSpec("baseline"), rf.AlgoSpec("svd", {"factors": 8}, "svd:k=8")]
    report = rf.evaluate_file(RATINGS, algos, split=split, seeds=2).to_dict()
    assert report["split"] == printed["split"] and report["split"]["kind"] == "per-user holdout"
    assert [(r["algo"], r["metric"]) for r in report["summary"]] == [
        (r["algo"], r["metric"]) for r in printed["summary"]
    ]
    assert [r["mean"] for r in report["summary"]] == pytest.approx(
        [r["mean"] for r in printed["summary"]], abs=1e-12
    )


def test_score_saved_from_python_reports_what_evaluate_m_test_prints(tmp_path):
    path = tmp_path / "m.model"
    cli("train", RATINGS, "-k", "8", "-m", path, "-q")
    printed = cli("evaluate", "-m", path, "--test", RATINGS, "--metric", "rmse,mae", "-q")
    scored = rf.score_saved(path, RATINGS, metrics=["rmse", "mae"])
    values = {row.split(",")[2]: float(row.split(",")[3]) for row in printed.splitlines()[1:]}
    assert scored["metrics"] == pytest.approx(values, abs=1e-6)
    assert scored["ratings"] == 50_000 and scored["cold"] == 0


def test_split_spec_refuses_what_no_split_is():
    with pytest.raises(rf.ParameterError, match="give one of"):
        rf.SplitSpec(folds=5, test_fraction=0.2)
    with pytest.raises(rf.ParameterError, match="needs a holdout"):
        rf.SplitSpec(time_ordered=True)
    with pytest.raises(rf.ParameterError, match="a count must be a whole number"):
        rf.SplitSpec(holdout_per_user=2.5)
    assert rf.SplitSpec().for_data("implicit").holdout_per_user == 0.2
    assert rf.SplitSpec().for_data("explicit").folds == 5


def test_tune_file_from_python_saves_what_tune_m_saves(tmp_path):
    args = ["--algo", "svd", "--space", "k=2..8", "--trials", "3", "--no-halving", "--folds",
            "2", "--epochs", "5"]  # fmt: skip
    cli("tune", RATINGS, *args, "-m", tmp_path / "cli.model", "-q")
    tuned = rf.tune_file(RATINGS, "svd", ["k=2..8"], fixed={"epochs": 5}, split={"folds": 2},
                         trials=3, halving=False, model_path=tmp_path / "rf.model")  # fmt: skip
    # The defaults (k 100) take part as a trial of their own.
    assert tuned.model is not None and tuned.search.best["factors"] in {*range(2, 9), 100}
    assert (tmp_path / "cli.model").read_bytes() == (tmp_path / "rf.model").read_bytes()


def test_the_algorithm_list_is_declared_once():
    """The model registry names every algorithm; rf exports each class, --algo offers each,
    and stability takes every one with factors (its own list had drifted)."""
    from recfactor.cli.common import Algo
    from recfactor.evaluation.stability import factor_algos
    from recfactor.models import _REGISTRY, ALGORITHMS

    assert [a.value for a in Algo] == list(ALGORITHMS)
    for name, (_, cls, *_) in _REGISTRY.items():
        assert getattr(rf, cls).name == name and cls in rf.__all__
    assert factor_algos(",".join(ALGORITHMS[1:])) == list(ALGORITHMS[1:])
    with pytest.raises(rf.ParameterError, match="stability compares the factors of svd, svdpp"):
        factor_algos("baseline")
