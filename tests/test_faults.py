"""Faults around the process: an unwritable numba cache, a parent killed under its workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"

# Runs `recfactor train` with numba unable to write any cache folder but those under ALLOWED
# (as for a service account with no home and a read-only install).
DENIED_CACHE = textwrap.dedent(
    """
    import os, sys
    import numba.core.caching as caching

    allowed = os.environ.get("ALLOWED") or None
    original = caching._CacheLocator.ensure_cache_path

    def ensure_cache_path(self):
        if allowed is None or not self.get_cache_path().startswith(allowed):
            raise PermissionError(13, "Permission denied", self.get_cache_path())
        return original(self)

    caching._CacheLocator.ensure_cache_path = ensure_cache_path
    from recfactor.cli import main
    sys.argv = ["recfactor", *sys.argv[1:]]
    main()
    """
)


@pytest.mark.parametrize("writable_tmp", [True, False], ids=["tmp-writable", "nothing-writable"])
def test_kernels_run_when_no_cache_folder_is_writable(tmp_path, writable_tmp):
    env = {**os.environ, "TMPDIR": str(tmp_path), "ALLOWED": str(tmp_path) if writable_tmp else ""}
    env.pop("NUMBA_CACHE_DIR", None)
    result = subprocess.run(
        [sys.executable, "-c", DENIED_CACHE, "train", str(SAMPLE / "food.csv"),
         "--algo", "baseline", "-m", str(tmp_path / "m.model"), "-q"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and (tmp_path / "m.model").exists()
    cached = list(tmp_path.glob("recfactor-numba-*/**/*.nbi"))
    assert bool(cached) == writable_tmp


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["TERM", "KILL"])
def test_workers_die_with_their_parent(tmp_path, sig):
    # Enough work for worker processes (3 seeds x 5 folds of 200,000 ratings), slow enough to
    # be caught in the middle (many epochs).
    rng = np.random.default_rng(0)
    data = tmp_path / "ratings.csv"
    keys = rng.choice(4000 * 1000, size=200_000, replace=False)
    rows = np.c_[keys // 1000, keys % 1000, rng.integers(1, 6, len(keys))]
    np.savetxt(data, rows, fmt="%d", delimiter=",")
    command = [sys.executable, "-m", "recfactor", "evaluate", str(data), "--algo", "svd",
               "--epochs", "3000", "--seeds", "3", "--jobs", "2", "-q"]  # fmt: skip
    parent = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline and len(workers) < 2:
            workers = _children(parent.pid)
            time.sleep(0.1)
        assert len(workers) >= 2, "the evaluation never started its workers"
        time.sleep(1.0)  # into their fits
        os.kill(parent.pid, sig)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.05)
        assert not any(_alive(w) for w in workers)
        # Nobody holds the output pipe any more: reading it ends.
        assert parent.stdout.read() is not None
    finally:
        for pid in [parent.pid, *_children(parent.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        parent.wait()


def test_ctrl_c_stops_a_long_fit_within_a_second(tmp_path):
    """The baseline's epochs ran in one compiled call, which Ctrl-C cannot interrupt: 100,000
    epochs over 50,000 ratings ignored it for 18 s."""
    command = [sys.executable, "-m", "recfactor", "train", str(SAMPLE / "ratings.csv"), "-q",
               "--algo", "baseline", "--epochs", "100000", "-m", str(tmp_path / "m")]  # fmt: skip

    # Ctrl-C as a terminal gives it: a shell starts a background job (`pytest &`) with SIGINT
    # ignored, which its children inherit, and Python then installs no handler for it.
    def as_a_terminal_would() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=as_a_terminal_would)  # fmt: skip
    try:
        time.sleep(3.0)  # started, read, fitting
        assert process.poll() is None, process.stderr.read()
        os.kill(process.pid, signal.SIGINT)
        sent = time.monotonic()
        code = process.wait(timeout=30)
        assert time.monotonic() - sent < 1.0
        assert code == 130 and b"interrupted" in process.stderr.read()
        assert not (tmp_path / "m").exists()
    finally:
        process.kill()
        process.wait()


def test_sigterm_stops_a_fit_and_leaves_no_file_half_written(tmp_path):
    """SIGTERM ended the process on the spot: a save in progress left its temporary file
    beside the target. It now unwinds as Ctrl-C does: 143, "terminated", nothing left."""
    code = textwrap.dedent(
        """
        import os, signal, sys
        from recfactor import targets
        from recfactor.cli import main as entry

        def save_then_stop(*args, **kwargs):  # SIGTERM arrives while the model is written
            with targets.replacing(sys.argv[-1]) as tmp:
                tmp.write_bytes(b"half a model")
                os.kill(os.getpid(), signal.SIGTERM)
                signal.pause()

        import recfactor.persist
        recfactor.persist.save = save_then_stop
        sys.argv = ["recfactor", "train", *sys.argv[1:]]
        entry()
        """
    )
    target = tmp_path / "m.model"
    result = subprocess.run([sys.executable, "-c", code, str(SAMPLE / "ratings.csv"), "-q",
                             "--algo", "baseline", "-m", str(target)], capture_output=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 143, result.stderr
    assert result.stderr.decode().strip().splitlines()[-1] == "terminated"
    assert list(tmp_path.iterdir()) == []  # neither the model nor its temporary file


def test_a_closed_stdin_is_an_error_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "recfactor", "train", "-", "-m", str(tmp_path / "m")],
        capture_output=True, text=True, timeout=120, preexec_fn=lambda: os.close(0),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: <stdin>: standard input is closed")
    assert "Traceback" not in result.stderr and not (tmp_path / "m").exists()


PROGRAM = [sys.executable, "-m", "recfactor"]


@pytest.fixture(scope="module")
def baseline_model(tmp_path_factory):
    """A baseline model of the sample ratings, trained by `python -m recfactor` itself."""
    model = tmp_path_factory.mktemp("baseline") / "m.model"
    train = [*PROGRAM, "train", str(SAMPLE / "ratings.csv"), "-m", str(model), "-q", "--algo",
             "baseline"]  # fmt: skip
    done = subprocess.run(train, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return model


def test_the_program_ends_with_its_commands_code_and_output_whole(tmp_path, baseline_model):
    """`python -m recfactor` (the console script's own entry): stdout flushed before the
    process ends without tearing down the native libraries (whose thread pools aborted some
    exits with code 134), and the command's exit code kept: 0, 2 for a refused fold-in, 141
    for a closed pipe."""
    model, base = baseline_model, PROGRAM
    done = subprocess.run([*base, "recommend", "--all-users", "-m", str(model)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 1 + 10 * 1000
    history = tmp_path / "history.csv"
    history.write_text("user,item,rating\nnew,1,5\n")
    done = subprocess.run([*base, "recommend", "--history", str(history), "-m", str(model)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 2 and done.stderr.startswith("error: this baseline model"), done
    pipe = subprocess.Popen([*base, "recommend", "--all-users", "-m", str(model)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert pipe.stdout.readline().startswith(b"user,rank,item")
    pipe.stdout.close()
    assert pipe.wait(timeout=300) == 141 and b"Traceback" not in pipe.stderr.read()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_a_full_disk_under_standard_output_is_named_with_its_remedy(baseline_model):
    """`> /dev/full`: the error names standard output (it read "error: No space left on
    device") and says to free space, not to check a path's permissions."""
    lists = [*PROGRAM, "recommend", "--all-users", "-m", str(baseline_model)]
    with open("/dev/full", "w") as full:
        done = subprocess.run(lists, stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "error: standard output: No space left on device\nhint: free some space" in done.stderr


@pytest.mark.parametrize("failure", [OSError, TypeError, AttributeError])
def test_the_heap_settings_are_skipped_where_the_c_library_lacks_them(monkeypatch, failure):
    """glibc's malloc_trim and mallopt tune memory; on another C library (musl, macOS,
    Windows) they are missing or the library cannot be opened by no name: nothing happens."""
    import ctypes

    from recfactor.running import heap

    def missing(name):
        if failure is AttributeError:
            return object()  # a library without the function
        raise failure("no such library")

    monkeypatch.setattr(ctypes, "CDLL", missing)
    heap.trim_heap()
    heap.map_large_blocks()
