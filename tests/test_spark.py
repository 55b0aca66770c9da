"""`train --engine spark`: Spark MLlib's ALS in local mode, saved as an ordinary model.

These tests need pyspark (``pip install 'recfactor[spark]'``) and Java; they skip, saying
which is missing, where either is. One Spark session serves them all (the CLI's
``getOrCreate`` finds the first)."""

from __future__ import annotations

import csv
import io
import shutil

import pytest
from typer.testing import CliRunner

from recfactor import persist
from recfactor.cli import app
from tests.conftest import SAMPLE

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (recfactor[spark])")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java, and there is none here", allow_module_level=True)


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def spark_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("spark") / "spark.model"
    result = run("train", SAMPLE / "ratings.csv", "--engine", "spark", "--master", "local[2]",
                 "--algo", "als", "-m", path, "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    return path


def test_a_spark_model_is_an_ordinary_model(spark_model):
    model, manifest = persist.load(spark_model)
    assert manifest["engine"] == "spark" and manifest["master"] == "local[2]"
    assert (len(model.user_ids_), len(model.item_ids_)) == (1000, 500)
    assert model.user_factors_.shape == (1000, 10)  # Spark's rank 10 by default, as ours
    assert model.train_metrics_["rmse"] < 0.7
    result = run("predict", "--user", "u1", "--item", "m002", "-m", spark_model)
    assert result.exit_code == 0 and "u1,m002," in result.stdout and "false" in result.stdout
    cold = run("predict", "--user", "nobody", "--item", "m002", "-m", spark_model)
    assert cold.exit_code == 0 and cold.stdout.strip().endswith("true")
    top = list(csv.DictReader(io.StringIO(run("recommend", "--user", "u1", "-n", "3", "-m",
                                              spark_model).stdout)))  # fmt: skip
    assert len(top) == 3 and all(r["item"].startswith("m") for r in top)


def test_bad_input_on_spark_is_one_error_line(tmp_path):
    missing = run("train", tmp_path / "absent.csv", "--engine", "spark", "--algo", "als",
                  "-m", tmp_path / "m")  # fmt: skip
    assert missing.exit_code == 1 and "no such file or folder" in missing.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,rating\nu1,a,4\nu2,b,great\n")
    result = run("train", bad, "--engine", "spark", "--algo", "als", "-m", tmp_path / "m")
    assert result.exit_code == 1 and "'great' is not a number" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "m").exists()
