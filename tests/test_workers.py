"""Processes for evaluate: workers with a shared state, and a reader in the background."""

from __future__ import annotations

import os
import sys

import pytest

from recfactor.errors import DataError, FitError
from recfactor.running.workers import Background, Workers, can_fork


def _scaled(k: int, state: dict) -> int:
    return k * state["factor"]


def test_results_come_back_in_call_order_with_the_state():
    finished = []
    with Workers(2, ["baseline"], {"factor": 10}) as workers:
        out = workers.run(_scaled, [(k,) for k in range(6)], lambda k, r: finished.append((k, r)))
    assert out == [0, 10, 20, 30, 40, 50]
    assert sorted(finished) == [(k, 10 * k) for k in range(6)]


def _die(code: int, state: object) -> None:
    os._exit(code)  # as a worker killed for memory would end


def test_a_worker_that_dies_is_a_clear_error():
    with pytest.raises(FitError, match="worker process stopped") as err:
        with Workers(2, ["baseline"], None) as workers:
            workers.run(_die, [(3,), (3,)], lambda k, result: None)
    assert "--jobs 1" in err.value.for_command_line()[1]


def _fail(message: str) -> None:
    raise DataError(message, hint="a hint")


@pytest.mark.skipif(not can_fork(), reason="the background reader needs fork")
def test_background_returns_the_value_or_raises_the_error_with_its_hint():
    assert Background(sum, [1, 2, 3]).result() == 6
    with pytest.raises(DataError, match=r"bad\.csv, line 3") as err:
        Background(_fail, "bad.csv, line 3").result()
    assert err.value.hint == "a hint"
    with pytest.raises(DataError, match="stopped before it was done"):
        Background(os._exit, 9).result()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux's")
def test_the_default_jobs_are_the_cores_this_process_may_use():
    # A container or taskset may allow fewer cores than the machine has.
    import subprocess

    script = (
        "import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); "
        "from recfactor.running.workers import available_cores; print(available_cores())"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.strip() == "1", done.stderr
