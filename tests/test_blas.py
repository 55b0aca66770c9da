"""The BLAS thread limit that keeps evaluate's results independent of --jobs."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from recfactor.running import blas


@pytest.mark.skipif(sys.platform != "linux", reason="OpenBLAS is found through /proc")
def test_threads_are_limited_inside_the_block_and_restored_after():
    import scipy.sparse.linalg  # noqa: F401  (scipy's own OpenBLAS, beside numpy's)

    controls = blas._find()
    assert controls  # numpy's and scipy's Linux wheels bundle OpenBLAS
    before = [get() for _, get in controls]
    with blas.threads(1):
        assert [get() for _, get in controls] == [1] * len(controls)
        a = np.random.default_rng(0).standard_normal((300, 300))
        np.testing.assert_allclose(a @ np.eye(300), a)  # products still work
    assert [get() for _, get in controls] == before


FORKED_COUNTS = """
import os
import numpy
from recfactor.running import blas

def threads_in_child(n):
    read, write = os.pipe()
    if os.fork() == 0:
        blas.set_threads(n)
        os.write(write, str(len(os.listdir("/proc/self/task"))).encode())
        os._exit(0)
    os.wait()
    return int(os.read(read, 16))

blas.set_threads(1)  # as evaluate does before it forks workers
print(threads_in_child(1), threads_in_child(2))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="threads are counted through /proc")
def test_a_forked_worker_keeps_the_inherited_count_without_restarting_blas_threads():
    # Setting the count in a forked process restarts OpenBLAS's pool, whose new thread spins
    # before it sleeps; a worker that already has the count must not set it again.
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", FORKED_COUNTS], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["1", "2"]
