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
CLOCK_COLUMNS = ("fit_seconds",)


def _blocks() -> list[list[tuple[str, list[str]]]]:
    """Each console block as (command, expected output lines) pairs."""
    blocks = re.findall(r"```console\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    out = []
    for text in blocks:
        steps: list[tuple[str, list[str]]] = []
        lines = text.splitlines()
        k = 0
        while k < len(lines):
            line = lines[k]
            k += 1
            if line.startswith("$ "):
                command = line[2:]
                while command.endswith("\\") and k < len(lines):
                    command = command[:-1] + " " + lines[k].strip()
                    k += 1
                steps.append((command, []))
            elif steps:
                steps[-1][1].append(line)
        out.append([(c, [x.rstrip() for x in o if x.strip()]) for c, o in steps])
    return out


def _reads_movielens(block: list[tuple[str, list[str]]]) -> bool:
    return "ml-100k" in " ".join(c for c, _ in block)


def _checked(block: list[tuple[str, list[str]]]) -> bool:
    """Whether a block's output can be compared: nothing elided."""
    return bool(block) and not any(x == "..." for _, o in block for x in o)


def _masked(lines: list[str]) -> list[str]:
    """CSV rows with the clock's columns as ``*``."""
    out, clock = [], []
    for line in lines:
        cells = line.split(",")
        if any(name in cells for name in CLOCK_COLUMNS):
            clock = [j for j, name in enumerate(cells) if name in CLOCK_COLUMNS]
        elif clock and len(cells) > max(clock):
            cells = ["*" if j in clock else cell for j, cell in enumerate(cells)]
        out.append(",".join(cells))
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
            assert _masked(got) == _masked(expected), f"$ {command}"
            checked += 1
    return checked


def test_the_readme_shows_what_the_program_prints(console):
    folder, env = console
    blocks = [b for b in _blocks() if _checked(b) and not _reads_movielens(b)]
    assert _compare(blocks, folder, env) >= 5  # the README keeps showing real runs


def test_the_readme_shows_what_the_program_prints_on_movielens(console, ml100k):
    folder, env = console
    (folder / "ml-100k").symlink_to(ml100k)
    setup = subprocess.run(["bash", "-c", "recfactor train ml-100k/u.data -m ml.model -q"],
                           cwd=folder, env=env, capture_output=True, timeout=300)  # fmt: skip
    assert setup.returncode == 0, setup.stderr
    blocks = [b for b in _blocks() if _checked(b) and _reads_movielens(b)]
    assert _compare(blocks, folder, env) >= 4
