"""What ``--engine spark`` needs on the command line: where the cluster is, what Spark cannot
do (said as usage errors that point to the local engine), and the data opened there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recfactor.cli.common import Engine


@dataclass(frozen=True)
class Cluster:
    """A Spark master (``local[*]``, ``spark://...``, ``yarn``) or a Spark Connect server
    (``sc://...``), and settings for the session."""

    master: str | None
    remote: str | None
    conf: tuple[str, ...]

    @property
    def where(self) -> str:
        return self.remote or self.master or "local[*]"


def spark_target(
    engine: Engine, master: str | None, remote: str | None, conf: list[str] | None
) -> Cluster | None:
    """The cluster ``--engine spark`` asks for, or None for the local engine."""
    from recfactor.errors import ParameterError

    if engine != Engine.spark:
        if master is not None or remote is not None or conf:
            raise ParameterError("--master, --remote and --spark-conf apply to --engine spark")
        return None
    if master is not None and remote is not None:
        raise ParameterError("give --master or --remote, not both",
                             hint="--remote sc://HOST:15002 is a Spark Connect server")  # fmt: skip
    return Cluster(master, remote, tuple(conf or ()))


# Model flags that only the local engine's ALS has.
LOCAL_ONLY_FLAGS = ("solver", "init_std")


def refuse_on_spark(algos: list[str], options: Any, flags: dict[str, Any]) -> None:
    """Usage errors for what ``--engine spark`` cannot do, each pointing to the local engine."""
    from recfactor.errors import ParameterError

    others = sorted(set(algos) - {"als"})
    if others:
        raise ParameterError(
            f"--engine spark fits als; --algo {','.join(others)} runs on the local engine only",
            hint="use --algo als, or --engine local",
        )
    if options.layout == "wide" or options.duplicates or options.missing_values:
        raise ParameterError("--layout wide, --duplicates and --missing-value are local only",
                             hint="use --engine local")  # fmt: skip
    unsupported = [f"--{name.replace('_', '-')}" for name in LOCAL_ONLY_FLAGS
                   if flags.get(name) is not None]  # fmt: skip
    if unsupported:
        raise ParameterError(f"{', '.join(unsupported)}: the local engine's only",
                             hint="drop it, or use --engine local")  # fmt: skip


def open_on_spark(data: str, cluster: Cluster, options: Any) -> tuple[Any, Any]:
    """A session on ``cluster`` and ``data`` read there as (user, item, rating)."""
    from recfactor import spark_engine

    if data == "-":
        from recfactor.errors import ParameterError

        raise ParameterError("Spark reads its data from a path, not stdin",
                             hint="give the file's path (file://, hdfs://, s3a://)")  # fmt: skip
    spark = spark_engine.session(cluster.master, cluster.conf, cluster.remote)
    return spark, spark_engine.read(spark, data, options)
