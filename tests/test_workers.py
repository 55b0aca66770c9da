"""Worker processes for evaluate: results in call order, stopped cleanly when unused."""

from __future__ import annotations

import operator

from recfactor.workers import Workers


def test_results_come_back_in_call_order():
    finished = []
    with Workers(2, ["baseline"]) as workers:
        calls = [(k, 10) for k in range(6)]
        out = workers.run(operator.mul, calls, lambda k, result: finished.append((k, result)))
    assert out == [0, 10, 20, 30, 40, 50]
    assert sorted(finished) == [(k, 10 * k) for k in range(6)]


def test_unused_workers_are_stopped():
    workers = Workers(2, ["svd"])
    processes = list(workers._pool._processes.values())
    assert processes
    workers.close()
    for process in processes:
        process.join(timeout=30)
        assert not process.is_alive()
