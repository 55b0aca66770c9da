"""The BLAS thread limit that keeps evaluate's results independent of --jobs."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from recfactor import blas


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
