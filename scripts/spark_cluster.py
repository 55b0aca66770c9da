"""A standalone Spark cluster on 127.0.0.1 for trying `--engine spark` as a team's cluster runs
it: a master and two workers (one core each), from the installed pyspark, until Ctrl-C.

    python scripts/spark_cluster.py [--workers 2] [--memory 2g]
    # in another shell, with the master it prints:
    recfactor train ratings.csv --engine spark --algo als --master spark://127.0.0.1:PORT

Needs pyspark (`pip install 'recfactor[spark]'`) and Java 17 or later. The master's and the
workers' logs go to a temporary folder, named when it starts; Ctrl-C (or SIGTERM) stops them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.request import urlopen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(workers: int, memory: str, folder: Path) -> tuple[str, list[subprocess.Popen]]:
    """The master's URL and the processes of a master and ``workers`` workers."""
    import pyspark

    home = Path(pyspark.__file__).parent
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOG_DIR": str(folder),
           "SPARK_WORKER_DIR": str(folder / "work")}  # fmt: skip
    spark_class = str(home / "bin" / "spark-class")
    port, ui = free_port(), free_port()
    log = open(folder / "cluster.log", "w")  # open for the cluster's life
    master = subprocess.Popen([spark_class, "org.apache.spark.deploy.master.Master", "--host",
                               "127.0.0.1", "--port", str(port), "--webui-port", str(ui)],
                              env=env, stdout=log, stderr=log)  # fmt: skip
    url = f"spark://127.0.0.1:{port}"
    processes = [master]
    wait_for(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() or True,
             60, "the master did not open its port")  # fmt: skip
    for _ in range(workers):
        processes.append(subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
             "--cores", "1", "--memory", memory, "--webui-port", str(free_port()), url],
            env=env, stdout=log, stderr=log))  # fmt: skip

    def alive() -> bool:
        state = json.load(urlopen(f"http://127.0.0.1:{ui}/json/", timeout=2))
        return sum(w["state"] == "ALIVE" for w in state.get("workers", [])) >= workers

    wait_for(alive, 90, f"fewer than {workers} workers registered")
    return url, processes


def wait_for(check, seconds: float, failure: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"error: {failure}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory", default="2g", help="each worker's memory")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="recfactor-spark-"))
    url, processes = start(args.workers, args.memory, folder)
    print(f"master {url}, {args.workers} workers; logs in {folder}; Ctrl-C stops", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(1)
        print("error: a process of the cluster ended; see the logs", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        for p in reversed(processes):
            p.terminate()
        for p in processes:
            p.wait(30)


if __name__ == "__main__":
    main()
