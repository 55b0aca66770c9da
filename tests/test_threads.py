"""Threads that share the machine: short OpenMP spinning, one thread for small work."""

from __future__ import annotations

import os
import subprocess
import sys

import numba
import numpy as np
import pytest

from recfactor.dataset import Dataset
from recfactor.kernels import PARALLEL_MIN_RATINGS
from recfactor.models.svd import SVD


def _spin_count(env: dict[str, str]) -> str:
    code = "import recfactor, os; print(os.environ.get('GOMP_SPINCOUNT'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return out.stdout.strip()


def test_openmp_threads_spin_briefly_unless_the_user_says_otherwise():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    assert _spin_count(env) == "10000"
    assert _spin_count({**env, "GOMP_SPINCOUNT": "5"}) == "5"
    assert _spin_count({**env, "OMP_WAIT_POLICY": "passive"}) == "None"  # theirs, unchanged


class _Recording(SVD):
    """SVD that notes how many threads its fit was given."""

    def _fit(self, dataset, rng):
        self.threads_seen = numba.get_num_threads()
        super()._fit(dataset, rng)


def _data(n: int) -> Dataset:
    rng = np.random.default_rng(0)
    return Dataset.from_arrays(
        rng.integers(0, n // 20, n), rng.integers(0, n // 40, n), rng.integers(1, 6, n),
        duplicates="last",
    )  # fmt: skip


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has one thread here")
def test_small_fits_run_in_one_thread_and_large_ones_in_all():
    before = numba.get_num_threads()
    small = _Recording(factors=4, epochs=1).fit(_data(20_000))
    assert small.threads_seen == 1
    assert numba.get_num_threads() == before  # restored
    large = _Recording(factors=4, epochs=1).fit(_data(3 * PARALLEL_MIN_RATINGS // 2))
    assert large.threads_seen == before > 1
