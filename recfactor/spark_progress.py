"""What a Spark job is doing, said on stderr while it runs: a fit on a cluster can take minutes,
and a progress bar that counts recfactor's steps stands still inside one.

A thread reads Spark's status tracker every :data:`EVERY` seconds and, when the running stages
have moved, says which stage runs and how many of its tasks are done (failed tasks too, so
that a lost executor shows). A Spark Connect session has no status tracker here: nothing is
said there.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

# Seconds between two looks at the running stages (a line at most this often).
EVERY = 10.0


@contextlib.contextmanager
def stages(spark: Any, note: Callable[[str], None]) -> Iterator[None]:
    """Say the running stages through ``note`` while the block runs."""
    try:
        tracker = spark.sparkContext.statusTracker()
    except Exception:  # Spark Connect: no SparkContext on the client
        yield
        return
    stop = threading.Event()
    started = time.monotonic()

    def watch() -> None:
        said = ""
        while not stop.wait(EVERY):
            try:
                line = _running(tracker)
            except Exception:  # the session is ending
                return
            if line and line != said:
                note(f"spark: {line} ({time.monotonic() - started:.0f} s)")
                said = line

    thread = threading.Thread(target=watch, name="spark-stages", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(1.0)


@contextlib.contextmanager
def on_cluster(cluster: Any, note: Callable[[str], None]) -> Iterator[None]:
    """:func:`stages` of ``cluster``'s session (started here, as its first job would start
    it) while the block runs; nothing where ``cluster`` is None."""
    if cluster is None:
        yield
        return
    from recfactor import spark_engine

    spark = spark_engine.session(cluster.master, cluster.conf, cluster.remote, None)
    with stages(spark, note):
        yield


def _running(tracker: Any) -> str:
    """The running stages, one phrase each: 'stage 14 (count at ALS.scala:1034): 3/8 tasks'."""
    phrases = []
    for stage in sorted(tracker.getActiveStageIds()):
        info = tracker.getStageInfo(stage)
        if info is None:
            continue
        name = info.name.split(" at ")[0] if info.name else ""
        # A DataFrame's stages are named after a Scala closure ($anonfun$...): no name at all
        # says as much.
        named = f" ({name})" if name and not name.startswith("$") else ""
        failed = f", {info.numFailedTasks} failed" if info.numFailedTasks else ""
        phrases.append(f"stage {stage}{named}: {info.numCompletedTasks}/{info.numTasks} "
                       f"tasks{failed}")  # fmt: skip
    return "; ".join(phrases)
