from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"

_warming: list = []


def pytest_sessionstart(session) -> None:
    """Compile the kernels beside the tests, at the lowest priority (tests/warm_kernels.py):
    on a fresh checkout a run otherwise spends about 100 s compiling inside its tests."""
    import subprocess
    import sys

    if hasattr(session.config, "workerinput"):  # one warmer for a run, not one a worker
        return
    _warming.append(subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "warm_kernels.py")], cwd=ROOT,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.nice(19)))  # fmt: skip


def pytest_sessionfinish(session, exitstatus) -> None:
    for warmer in _warming:
        if warmer.poll() is None:
            warmer.kill()
        warmer.wait()


def on_threads(fit, counts=(1, 2)) -> list:
    """``fit()``'s result with numba at each thread count of ``counts`` in turn (the count
    before is restored): what the same-model-whatever-the-threads tests compare."""
    import numba

    before = numba.get_num_threads()
    results = []
    try:
        for threads in counts:
            numba.set_num_threads(threads)
            results.append(fit())
    finally:
        numba.set_num_threads(before)
    return results


def planted_ratings(seed, n_users, n_items, rank, spread, centre, density, noise):
    """Planted low-rank ratings: ``centre + P Q'`` (entries N(0, spread)), a ``density`` share
    observed with N(0, noise) noise. Returns the Dataset, the unobserved cells' user and item
    IDs (as text, as predict takes them), their true values, and the generator (for fresh
    draws after)."""
    import numpy as np

    from recfactor.dataset import Dataset

    rng = np.random.default_rng(seed)
    p, q = rng.normal(0, spread, (n_users, rank)), rng.normal(0, spread, (n_items, rank))
    truth = centre + p @ q.T
    seen = rng.random(truth.shape) < density
    u, i = np.nonzero(seen)
    data = Dataset.from_arrays(u, i, truth[u, i] + rng.normal(0, noise, len(u)))
    tu, ti = np.nonzero(~seen)
    return data, tu.astype(str), ti.astype(str), truth[tu, ti], rng


def random_ratings_csv(n_users: int, n_items: int, density: float, seed: int) -> str:
    """A ``user,item,rating`` CSV of whole stars 1-5 at random: users ``u0..``, items ``i0..``,
    each pair present with probability ``density``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = [f"u{u},i{i},{rng.integers(1, 6)}" for u in range(n_users) for i in range(n_items)
            if rng.random() < density]  # fmt: skip
    return "user,item,rating\n" + "\n".join(rows) + "\n"


def ml100k_dir() -> Path:
    return Path(os.environ.get("RECFACTOR_ML100K", ROOT.parent / "shared" / "data" / "ml-100k"))


@pytest.fixture
def ml100k() -> Path:
    path = ml100k_dir()
    if not (path / "u1.base").exists():
        pytest.skip(f"MovieLens 100K not found at {path} (set RECFACTOR_ML100K)")
    return path


@pytest.fixture
def four_rows(tmp_path: Path) -> Path:
    """The long-format example of article 001."""
    path = tmp_path / "ratings.csv"
    path.write_text("user_id,movie_id,rating\n1,A,4.5\n2,B,3.0\n1,C,5.0\n3,A,2.5\n")
    return path


@pytest.fixture
def write(tmp_path: Path):
    def _write(name: str, text: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return path

    return _write


@pytest.fixture
def threaded_small_fits(monkeypatch):
    """Let fits of a few thousand ratings use several threads (below
    ``kernels.PARALLEL_MIN_RATINGS``, or a model's own ``parallel_min_ratings``, they run in
    one), so that a test comparing thread counts compares one thread with two, not one with
    one."""
    import numba

    from recfactor.models import ALGORITHMS, model_class

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread here: nothing to compare")
    monkeypatch.setattr("recfactor.kernels.PARALLEL_MIN_RATINGS", 0)
    for name in ALGORITHMS:
        if model_class(name).parallel_min_ratings is not None:
            monkeypatch.setattr(model_class(name), "parallel_min_ratings", 0)


@pytest.fixture(scope="session")
def spark_session():
    """The one Spark session of the test run, local[2], created before any command asks for
    one (their getOrCreate finds it). It also serves Spark Connect on 127.0.0.1 (the server's
    plugin), so that the Connect tests reuse its warm JVM rather than start a second one:
    a second JVM cost them 20 s of start-up and warming. Yields the Connect address."""
    import socket

    from recfactor import spark_engine

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = ("spark.plugins=org.apache.spark.sql.connect.SparkConnectPlugin",
            "spark.connect.grpc.binding.address=127.0.0.1",
            f"spark.connect.grpc.binding.port={port}")  # fmt: skip
    session = spark_engine.session("local[2]", conf=conf)
    yield f"sc://127.0.0.1:{port}"
    session.stop()
