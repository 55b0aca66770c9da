"""Rewrite the README's console blocks with what the program prints now: each block that
tests/test_readme.py checks is run as the test runs it (the sample-data blocks in order in one
folder, then those that read MovieLens 100K, where it is), and its output lines replaced.

    python tools/readme_outputs.py          # rewrites README.md in place
    python tools/readme_outputs.py --check  # says which commands' output changed, writes nothing

For a change that moves the numbers on purpose (a new default, another order of updates): read
the diff before committing it, and the prose around the blocks, which this does not touch.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# Columns the clock fills: not compared.
CLOCK_COLUMNS = ("fit_seconds",)
ML100K = Path(os.environ.get("RECFACTOR_ML100K", ROOT.parent / "shared/data/ml-100k"))


def steps(block: str) -> list[tuple[list[str], list[str]]]:
    """(command lines as written, output lines) of each step of a block."""
    steps: list[tuple[list[str], list[str]]] = []
    lines = block.splitlines()
    k = 0
    while k < len(lines):
        line = lines[k]
        k += 1
        if line.startswith("$ "):
            written = [line]
            while written[-1].endswith("\\") and k < len(lines):
                written.append(lines[k])
                k += 1
            steps.append((written, []))
        elif steps:
            steps[-1][1].append(line)
    return steps


def command(written: list[str]) -> str:
    text = written[0][2:]
    for more in written[1:]:
        text = text[:-1] + " " + more.strip()
    return text


def masked(lines: list[str]) -> list[str]:
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


def checked(block) -> bool:
    """Whether a block's output can be compared: nothing elided (``...``)."""
    return bool(block) and not any(x == "..." for _, out in block for x in out)


def reads_movielens(block) -> bool:
    """Whether a block needs MovieLens 100K (its files, or the model trained from them)."""
    return any("ml-100k" in command(w) or "ml.model" in command(w) for w, _ in block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    spans = [(m.start(1), m.end(1)) for m in re.finditer(r"```console\n(.*?)```", text, re.S)]
    blocks = [steps(text[a:b]) for a, b in spans]
    order = [j for j, b in enumerate(blocks) if checked(b) and not reads_movielens(b)]
    movielens = [j for j, b in enumerate(blocks) if checked(b) and reads_movielens(b)]
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "sample_data").symlink_to(ROOT / "sample_data")
        shim = folder / ".bin"
        shim.mkdir()
        (shim / "recfactor").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m recfactor "$@"\n')
        (shim / "recfactor").chmod(0o755)
        env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}", "COLUMNS": "100",
               "PYTHONPATH": str(ROOT), "RECFACTOR_MODEL": "recfactor.model"}  # fmt: skip
        env.pop("RECFACTOR_DEBUG", None)
        if movielens and ML100K.is_dir():
            (folder / "ml-100k").symlink_to(ML100K)
        else:
            movielens = []
        new: dict[int, str] = {}
        for j in order + movielens:
            if j == (movielens or [None])[0]:
                subprocess.run(["bash", "-c", "recfactor train ml-100k/u.data -m ml.model -q"],
                               cwd=folder, env=env, capture_output=True, check=True)  # fmt: skip
            out = []
            for written, expected in blocks[j]:
                run = subprocess.run(["bash", "-c", command(written)], cwd=folder, env=env,
                                     text=True, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)  # fmt: skip
                got = [x.rstrip() for x in run.stdout.splitlines() if x.strip()]
                if masked(got) != masked([x.rstrip() for x in expected if x.strip()]):
                    print(f"changed: $ {command(written)}")
                # A blank line that closed the step's output (before the next command) stays.
                spacer = [""] if expected and not expected[-1].strip() else []
                out += written + got + spacer
            while out and not out[-1]:
                out.pop()
            new[j] = "\n".join(out) + "\n"
    if args.check:
        return
    for j in sorted(new, reverse=True):
        a, b = spans[j]
        text = text[:a] + new[j] + text[b:]
    README.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
