"""Where a fit runs when it is not here: a Spark cluster (a master or a Spark Connect server),
what the Spark engine cannot do (refused before Spark starts, each pointing to the local
engine), and the data opened there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recfactor.errors import ParameterError


@dataclass(frozen=True)
class Cluster:
    """A Spark master (``local[*]``, ``spark://...``, ``yarn``) or a Spark Connect server
    (``sc://...``), and settings for the session (``KEY=VALUE``)."""

    master: str | None = None
    remote: str | None = None
    conf: tuple[str, ...] = ()
    # Where ALS checkpoints (spark_engine.session says what happens without one).
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        if self.master is not None and self.remote is not None:
            raise ParameterError(
                "give `master` or `remote`, not both",
                hint="`remote` sc://HOST:15002 is a Spark Connect server",
            )
        if self.checkpoint is not None and (
            self.remote is not None or (self.master or "").startswith("sc://")
        ):
            raise ParameterError(
                "`checkpoint_dir` is the Spark Connect server's to set",
                hint="start the server with --conf spark.checkpoint.dir=DIR",
            )
        if self.master is not None and self.master.startswith("sc://"):
            # A Connect server's address is not a master: Spark would start a JVM gateway
            # and fail ("Java gateway exited"). It is a remote, whichever flag named it.
            object.__setattr__(self, "remote", self.master)
            object.__setattr__(self, "master", None)

    @property
    def where(self) -> str:
        return self.remote or self.master or "local[*]"

    def open(self, data: str, read: Any) -> tuple[Any, Any]:
        """A session on the cluster and ``data`` read there as (user, item, rating)."""
        from recfactor import spark_engine

        if data == "-":
            raise ParameterError(
                "Spark reads its data from a path, not stdin",
                hint="give the file's path (file://, hdfs://, s3a://)",
            )
        self.check_local_path(data)
        spark = spark_engine.session(self.master, self.conf, self.remote, self.checkpoint)
        return spark, spark_engine.read(spark, data, read)

    def check_local_path(self, data: str) -> None:
        """Where the data is on this machine (a local master, a plain or file: path), refuse a
        missing one before Spark starts (20-35 s of a JVM's start for one line of error). On a
        cluster or a Connect server a plain path is the cluster's, not this machine's."""
        import os
        from urllib.parse import urlparse

        from recfactor.errors import DataError

        local = self.remote is None and (self.master is None or self.master.startswith("local"))
        scheme = urlparse(data).scheme
        if not local or (scheme not in ("", "file") and len(scheme) > 1):
            return
        path = urlparse(data).path if scheme == "file" else data
        if not os.path.exists(path):
            raise DataError(f"{data}: no such file or folder", hint="check the path")


# Parameters that only the local engine's ALS has.
LOCAL_ONLY = ("solver", "init_std")


def refuse_on_spark(algos: list[str], read: Any, params: dict[str, Any]) -> None:
    """What the Spark engine cannot do, said before Spark starts."""
    others = sorted(set(algos) - {"als"})
    if others:
        raise ParameterError(
            f"`engine` spark fits als; `algo` {','.join(others)} runs on the local engine only",
            hint="use `algo` als, or `engine` local",
        )
    if read.layout == "wide" or read.duplicates or read.missing_values:
        raise ParameterError("`layout` wide, `duplicates` and `missing_value` are local only",
                             hint="use `engine` local")  # fmt: skip
    if (params.get("ensemble") or 1) > 1:
        raise ParameterError("`ensemble`: the Spark engine fits one model",
                             hint="drop `ensemble`, or use `engine` local")  # fmt: skip
    unsupported = [f"`{name}`" for name in LOCAL_ONLY if params.get(name) is not None]
    if unsupported:
        raise ParameterError(f"{', '.join(unsupported)}: the local engine's only",
                             hint="drop it, or use `engine` local")  # fmt: skip
