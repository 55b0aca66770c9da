"""Whole processes timed and measured: wall seconds and the process's own peak memory.

A child forked from a large process counts the parent's resident pages in its ``ru_maxrss``
until it execs (the kernel keeps the high-water mark across exec): a benchmark that had
parsed a million predictions reported 912 MB for LIBMF's 120 MB `mf-train`. So the command
is started by a small launcher (a fresh Python, a few MB), which forks it, waits for it and
writes the child's own wall time and peak to a file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

LAUNCHER = """
import json, os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
with open(sys.argv[1], "w") as out:
    json.dump({"seconds": seconds, "peak_kb": usage.ru_maxrss,
               "code": os.waitstatus_to_exitcode(status)}, out)
"""


def measured(
    command: list[str], cwd: str | Path | None = None, env: dict[str, str] | None = None,
    stdout=subprocess.DEVNULL,
) -> tuple[float, float, str]:  # fmt: skip
    """Wall seconds and peak resident MB of ``command`` alone, and its stdout (when
    ``stdout`` is ``subprocess.PIPE``); raises CalledProcessError when it fails."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        process = subprocess.run([sys.executable, "-c", LAUNCHER, str(report), *command],
                                 cwd=cwd, env=env, stdout=stdout, check=True)  # fmt: skip
        found = json.loads(report.read_text())
    if found["code"] != 0:
        raise subprocess.CalledProcessError(found["code"], command)
    out = process.stdout.decode() if process.stdout is not None else ""
    return found["seconds"], found["peak_kb"] / 1024, out
