"""`--engine spark` over Spark Connect: the test run's Spark session serves Connect on
127.0.0.1 (Spark's Connect plugin, the server `start-connect-server.sh` runs), `--master sc://`
(the address named as a master) and `--remote` train against it from other processes, and data
it cannot find is one line of error, not a JVM's stack trace.

Needs pyspark with its Connect client libraries (``pip install 'recfactor[spark]'``) and Java;
skips, saying which is missing, where either is."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from recfactor import persist
from tests.cli import unclocked
from tests.conftest import random_ratings_csv

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (recfactor[spark])")
pytest.importorskip("grpc", reason="Spark Connect's client needs grpcio (recfactor[spark])")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java, and there is none here", allow_module_level=True)


def _recfactor(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recfactor", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_master_sc_trains_on_a_connect_server(spark_session, tmp_path):
    """`--master sc://...` is the address of a Connect server (as `--remote`, which the same
    code path serves): before, it started a local JVM gateway and failed."""
    server = spark_session  # the run's session, its Connect address
    data = tmp_path / "r.csv"
    data.write_text(random_ratings_csv(30, 20, 0.5, seed=0))
    model = tmp_path / "connect.model"
    done = _recfactor("train", data, "--engine", "spark", "--algo", "als", "--master", server,
                      "-k", 3, "--epochs", 3, "-m", model, "-q", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    fitted, manifest = persist.load(model)
    assert manifest["engine"] == "spark" and manifest["master"] == server
    assert fitted.user_factors_.shape == (30, 3) and fitted.train_metrics_["rmse"] < 1.5
    # Connect reads lazily: the missing path surfaces late, and is still one line.
    gone = tmp_path / "gone.parquet"
    missing = _recfactor("train", gone, "--engine", "spark", "--algo", "als", "--master", server,
                         cwd=tmp_path)  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == [f"error: {gone}: no such file or folder",
                                           "hint: check the path"]  # fmt: skip
    # Any model scored on the server, and svd's fits fanned out there: the local numbers.
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("user,item\nu1,i1\nu2,i3\nnobody,i1\n")
    scored = _recfactor("predict", pairs, "--engine", "spark", "--master", server, "-m", model,
                        "-o", tmp_path / "p.parquet", "-q", cwd=tmp_path)  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    import pandas as pd

    got = pd.read_parquet(tmp_path / "p.parquet").sort_values("user")
    assert (
        got.prediction.tolist()
        == fitted.predict(got.user.to_numpy(str), got.item.to_numpy(str)).values.tolist()
    )
    reports = []
    for name, where in [("local", ()), ("spark", ("--engine", "spark", "--master", server))]:
        done = _recfactor("evaluate", data, "--algo", "svd", "--seeds", "2", "--folds", "2",
                          "-q", "-o", tmp_path / f"{name}.json", *where, cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        reports.append(unclocked(tmp_path / f"{name}.json", "runs", "fit_seconds"))
    assert reports[1] == reports[0]
