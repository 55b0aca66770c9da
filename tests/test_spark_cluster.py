"""`train --engine spark` on a standalone cluster (a master and two one-core workers on
127.0.0.1, started by scripts/spark_cluster.py) keeps going when a worker is killed mid-fit,
and gives the model local mode gives.

The fit runs in its own process (one Spark context per process: this one's serves the other
Spark tests), with Spark's status pages on, so that the test sees when ALS's own stages have
started before it kills a worker and its executor with SIGKILL."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import numpy as np
import pandas as pd
import pytest

from recfactor import persist
from tests.cli import run

pytest.importorskip("pyspark", reason="pyspark is not installed (recfactor[spark])")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java, and there is none here", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]


def _cluster_script():
    spec = importlib.util.spec_from_file_location("spark_cluster", ROOT / "scripts" /
                                                  "spark_cluster.py")  # fmt: skip
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _json(url: str):
    with urlopen(url, timeout=2) as answer:
        return json.load(answer)


def _wait_for_als(ui: str, fit: subprocess.Popen, seconds: float) -> str:
    """The application's ID, once one of ALS's own stages has started."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and fit.poll() is None:
        try:
            app = _json(f"{ui}/api/v1/applications")[0]["id"]
            stages = _json(f"{ui}/api/v1/applications/{app}/stages")
            if any("ALS.scala" in s.get("name", "") and s["status"] != "PENDING" for s in stages):
                return app
        except (OSError, IndexError, KeyError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"ALS did not start within {seconds} s: {fit.poll()}")


@pytest.fixture
def ratings(tmp_path):
    rng = np.random.default_rng(5)
    users, items, k = 1500, 400, 4
    value = 3 + rng.normal(0, 0.6, (users, k)) @ rng.normal(0, 0.6, (k, items))
    u, i = np.nonzero(rng.random((users, items)) < 0.15)
    path = tmp_path / "ratings.csv"
    pd.DataFrame({"user": u, "item": i, "rating": value[u, i].round(2)}).to_csv(path, index=False)
    return path


@pytest.mark.recovery
def test_a_worker_killed_mid_fit_leaves_the_model_local_mode_fits(ratings, tmp_path):
    cluster = _cluster_script()
    url, processes = cluster.start(2, "1g", tmp_path)
    try:
        ui_port = cluster.free_port()
        out = tmp_path / "cluster.model"
        fit = subprocess.Popen(
            [sys.executable, "-m", "recfactor", "train", str(ratings), "--engine", "spark",
             "--master", url, "--algo", "als", "--no-bias", "--epochs", "5", "--checkpoint-dir",
             str(tmp_path / "checkpoints"), "--spark-conf", "spark.ui.enabled=true",
             "--spark-conf", f"spark.ui.port={ui_port}", "-m", str(out), "-q"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        ui = f"http://127.0.0.1:{ui_port}"
        app = _wait_for_als(ui, fit, 120)
        victim = processes[1]
        executors = _children(victim.pid)
        assert executors, "the worker ran no executor"
        for pid in [victim.pid, *executors]:
            os.kill(pid, signal.SIGKILL)
        lost = None
        deadline = time.monotonic() + 60
        while lost is None and fit.poll() is None and time.monotonic() < deadline:
            try:
                every = _json(f"{ui}/api/v1/applications/{app}/allexecutors")
                lost = next((e for e in every if e["id"] != "driver" and not e["isActive"]), None)
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        _, stderr = fit.communicate(timeout=240)
        assert fit.returncode == 0, stderr
        assert lost is not None, "the fit ended before Spark saw its executor go"
    finally:
        for process in reversed(processes):
            process.kill()
            process.wait(30)
    local = tmp_path / "local.model"
    result = run("train", ratings, "--engine", "spark", "--master", "local[2]", "--algo", "als",
                 "--no-bias", "--epochs", "5", "-m", local, "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    on_cluster, alone = persist.load(out)[0], persist.load(local)[0]
    assert list(on_cluster.user_ids_) == list(alone.user_ids_)
    # Two one-core executors cut the data into the blocks local[2] does: the same factors,
    # the lost executor's tasks run again on the other.
    np.testing.assert_allclose(on_cluster.user_factors_, alone.user_factors_, atol=1e-5)
    np.testing.assert_allclose(on_cluster.item_factors_, alone.item_factors_, atol=1e-5)
