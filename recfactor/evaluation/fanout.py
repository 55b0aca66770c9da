"""An evaluation's fits run on a Spark cluster: each (algorithm, seed, fold) fit is one task,
fitted and scored by recfactor's own engine on an executor, for the algorithms Spark has no
version of (svd, nmf, bpmf, bfm, ...). The folds are drawn here, as the local engine draws
them, and travel with the tasks (PySpark broadcasts a large task itself; Spark Connect sends
it in the plan); the report is assembled here from the tasks' results in task order, so it is
the local engine's report, number for number (every fit is the same at any thread count).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from typing import Any


def run(cluster: Any, function: Callable[..., Any], tasks: Sequence[tuple], context: tuple,
        on_result: Callable[[int, Any], None]) -> list[Any]:  # fmt: skip
    """``function(*task, context)`` for every task, each in one Spark task; the results in
    task order, ``on_result(k, result)`` called for each as they come back."""
    from recfactor import spark_engine
    from recfactor.errors import FitError

    spark = spark_engine.session(cluster.master, cluster.conf, cluster.remote, None)
    payload = pickle.dumps((function, list(tasks), context), protocol=pickle.HIGHEST_PROTOCOL)

    def work(batches: Any) -> Any:
        import pandas as pd

        call, todo, shared = pickle.loads(payload)
        for batch in batches:
            for k in batch["id"].tolist():
                result = _one_thread(call, todo[k], shared)
                yield pd.DataFrame({"k": [k], "result": [pickle.dumps(result)]})

    numbers = spark.range(0, len(tasks), numPartitions=max(1, len(tasks)))
    try:
        rows = numbers.mapInPandas(work, "k long, result binary").collect()
    except Exception as exc:
        raise FitError(f"a fit failed on Spark ({spark_engine._first_line(exc)[:300]})",
                       hint="check that the executors have recfactor installed, the same "
                       "version as here") from exc  # fmt: skip
    out: list[Any] = [None] * len(tasks)
    for row in sorted(rows, key=lambda r: r["k"]):
        k = int(row["k"])
        out[k] = pickle.loads(row["result"])
        on_result(k, out[k])
    return out


def _one_thread(call: Callable[..., Any], task: tuple, shared: tuple) -> Any:
    """One fit with one numba and one BLAS thread: an executor runs a task a core, as the
    local engine's worker processes do."""
    import numba

    from recfactor.running import blas

    numba.set_num_threads(1)
    with blas.threads(1):
        return call(*task, shared)
