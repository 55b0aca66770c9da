"""The compiled SGD epoch against a slow pure-Python twin."""

from __future__ import annotations

import numpy as np
import pytest

from recfactor.kernels.sgd import sgd_epoch


def sgd_epoch_reference(users, items, ratings, order, mu, bu, bi, p, q, lr, reg, lr_b, reg_b, bias):
    sse = 0.0
    for j in order:
        u, i = users[j], items[j]
        dot = float(p[u] @ q[i])
        if bias:
            err = ratings[j] - (mu + bu[u] + bi[i] + dot)
            bu[u] += lr_b * (err - reg_b * bu[u])
            bi[i] += lr_b * (err - reg_b * bi[i])
        else:
            err = ratings[j] - dot
        sse += err * err
        pu = p[u].copy()
        p[u] += lr * (err * q[i] - reg * pu)
        q[i] += lr * (err * pu - reg * q[i])
    return sse


@pytest.mark.parametrize("bias", [True, False])
def test_kernel_matches_reference(bias):
    rng = np.random.default_rng(0)
    n, n_users, n_items, k = 400, 30, 20, 7
    users = rng.integers(0, n_users, n).astype(np.int32)
    items = rng.integers(0, n_items, n).astype(np.int32)
    ratings = rng.uniform(1, 5, n)
    order = rng.permutation(n).astype(np.int32)
    state = [
        rng.normal(0, 0.1, n_users),
        rng.normal(0, 0.1, n_items),
        rng.normal(0, 0.1, (n_users, k)),
        rng.normal(0, 0.1, (n_items, k)),
    ]
    fast = [a.copy() for a in state]
    slow = [a.copy() for a in state]
    args = (0.01, 0.05, 0.02, 0.03, bias)
    sse_fast = sgd_epoch(users, items, ratings, order, 3.0, *fast, *args)
    sse_slow = sgd_epoch_reference(users, items, ratings, order, 3.0, *slow, *args)
    assert sse_fast == pytest.approx(sse_slow, rel=1e-10)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_sgd_step_follows_the_gradient():
    """One rating, one step: the update equals -lr times the finite-difference gradient of
    0.5 * err^2 + 0.5 * reg * (|p|^2 + |q|^2) (both rows updated from the old values)."""
    rng = np.random.default_rng(1)
    p = rng.normal(0, 1, (1, 4))
    q = rng.normal(0, 1, (1, 4))
    r, lr, reg = 4.0, 1e-3, 0.1

    def loss(pv, qv):
        return 0.5 * (r - pv @ qv) ** 2 + 0.5 * reg * (pv @ pv + qv @ qv)

    eps = 1e-6
    grad_p = np.array(
        [(loss(p[0] + eps * e, q[0]) - loss(p[0] - eps * e, q[0])) / (2 * eps) for e in np.eye(4)]
    )
    grad_q = np.array(
        [(loss(p[0], q[0] + eps * e) - loss(p[0], q[0] - eps * e)) / (2 * eps) for e in np.eye(4)]
    )
    p_new, q_new = p.copy(), q.copy()
    zero = np.zeros(1)
    sgd_epoch(
        np.zeros(1, np.int32),
        np.zeros(1, np.int32),
        np.array([r]),
        np.zeros(1, np.int32),
        0.0,
        zero.copy(),
        zero.copy(),
        p_new,
        q_new,
        lr,
        reg,
        0.0,
        0.0,
        False,
    )
    np.testing.assert_allclose(p_new[0] - p[0], -lr * grad_p, rtol=1e-6)
    np.testing.assert_allclose(q_new[0] - q[0], -lr * grad_q, rtol=1e-6)
