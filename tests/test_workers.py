"""Worker processes for evaluate: results in call order, stopped cleanly when unused."""

from __future__ import annotations

import operator
import os

import pytest

from recfactor.errors import FitError
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


def _die(code: int) -> None:
    os._exit(code)  # as a worker killed for memory would end


def test_a_worker_that_dies_is_a_clear_error():
    with pytest.raises(FitError, match="worker process stopped") as err:
        with Workers(2, ["baseline"]) as workers:
            workers.run(_die, [(3,), (3,)], lambda k, result: None)
    assert "--jobs 1" in err.value.hint
