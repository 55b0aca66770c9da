"""The README's console blocks are the program's output: each block that runs on the bundled
sample data is run, in order, in one folder (a later block uses the model an earlier one
trained), and its output compared line by line. Seconds (``fit_seconds``) are the clock's and
are not compared; a block that elides lines (``...``) is not run, and one that reads MovieLens
100K runs where the data is (``ml.model`` is the model the prose names: ``recfactor train
ml-100k/u.data -m ml.model``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _readme_tool():
    """tools/readme_outputs.py: how a console block is read (its steps, whether it is
    compared, whether it needs MovieLens), the one definition the tool and this test share."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_outputs",
                                                  ROOT / "tools" / "readme_outputs.py")  # fmt: skip
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOOL = _readme_tool()


def _blocks() -> list[list[tuple[str, list[str]]]]:
    """Each compared console block as (command, expected output lines) pairs, with whether
    it needs MovieLens: [(needs_movielens, steps)]."""
    texts = re.findall(r"```console\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    out = []
    for text in texts:
        block = TOOL.steps(text)
        if TOOL.checked(block):
            steps = [(TOOL.command(w), [x.rstrip() for x in o if x.strip()]) for w, o in block]
            out.append((TOOL.reads_movielens(block), steps))
    return out


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """A folder with the sample data and a ``recfactor`` on PATH that runs this checkout."""
    folder = tmp_path_factory.mktemp("readme")
    (folder / "sample_data").symlink_to(ROOT / "sample_data")
    bin_dir = folder / ".bin"
    bin_dir.mkdir()
    script = bin_dir / "recfactor"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m recfactor "$@"\n')
    script.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "COLUMNS": "100",
           "PYTHONPATH": str(ROOT), "RECFACTOR_MODEL": "recfactor.model"}  # fmt: skip
    env.pop("RECFACTOR_DEBUG", None)
    return folder, env


def _compare(blocks: list, folder: Path, env: dict) -> int:
    """Run each block's commands in ``folder``; the number of commands compared."""
    checked = 0
    for block in blocks:
        for command, expected in block:
            run = subprocess.run(
                ["bash", "-c", command], cwd=folder, env=env, text=True, timeout=300,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )  # fmt: skip
            got = [x.rstrip() for x in run.stdout.splitlines() if x.strip()]
            assert TOOL.masked(got) == TOOL.masked(expected), f"$ {command}"
            checked += 1
    return checked


def test_the_readme_shows_what_the_program_prints(console):
    folder, env = console
    blocks = [steps for movielens, steps in _blocks() if not movielens]
    assert _compare(blocks, folder, env) >= 5  # the README keeps showing real runs


def test_the_readme_shows_what_the_program_prints_on_movielens(console, ml100k):
    folder, env = console
    (folder / "ml-100k").symlink_to(ml100k)
    setup = subprocess.run(["bash", "-c", "recfactor train ml-100k/u.data -m ml.model -q"],
                           cwd=folder, env=env, capture_output=True, timeout=300)  # fmt: skip
    assert setup.returncode == 0, setup.stderr
    blocks = [steps for movielens, steps in _blocks() if movielens]
    assert _compare(blocks, folder, env) >= 4
