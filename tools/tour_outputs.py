"""Run the README tour's commands (and a few more) in a scratch folder and write each one's
exit code, stdout and stderr to OUTDIR, so that two versions of recfactor can be compared
byte for byte:

    python tools/tour_outputs.py /tmp/before && (change) && python tools/tour_outputs.py /tmp/after
    diff -r /tmp/before /tmp/after

fit_seconds and timings vary from run to run; they are masked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
ML100K = Path(os.environ.get("RECFACTOR_ML100K", ROOT.parent / "shared/data/ml-100k"))

COMMANDS = [
    f"train {SAMPLE}/ratings.csv",
    "predict --user u1 --item m002",
    "predict --user u1 --item m002 --format json",
    "recommend --user u1 -n 3",
    "similar --item m001 -n 3",
    "export --what items",
    "inspect --format csv",
    f"describe {SAMPLE}/ratings.csv",
    f"evaluate {SAMPLE}/ratings.csv --algo baseline,svd,nmf,als --seeds 3 --format json",
    f"evaluate {SAMPLE}/ratings.csv --algo svd --seeds 2 --format csv",
    f"train {SAMPLE}/food.csv --feedback implicit --algo nmf -k 3 -m food.model",
    "inspect -m food.model --format json",
    f"evaluate {SAMPLE}/food.csv --feedback implicit --algo nmf -k 3 --seeds 10 "
    "--holdout-per-user 1 --format json",
    f"train {SAMPLE}/food_matrix.csv --layout wide --feedback implicit -k 2 -m wide.model",
    "recommend -m wide.model --user 2 -n 3",
    f"stability {SAMPLE}/food.csv --feedback implicit --algo nmf --ranks 1..5 --seeds 10 "
    "--format csv",
    f"split {SAMPLE}/ratings.csv --folds 2 --split-seed 1 -o splits",
    "train nothing.csv",
    "train --bogus",
    f"train {SAMPLE}/ratings.csv --alpha 1",
]
if (ML100K / "u.data").exists():
    COMMANDS += [
        f"evaluate {ML100K}/u.data --feedback implicit --seeds 1 --format csv",
        f"train {ML100K}/u1.base --algo als -m ml.model",
        f"predict {ML100K}/u1.test -m ml.model",
    ]


def mask(command: str, text: str) -> str:
    text = re.sub(r'("fit_seconds": )[0-9.e+-]+', r"\1<t>", text)
    text = re.sub(r'("fit_seconds": )null', r"\1<t>", text)
    text = re.sub(r'"created": "[^"]*"', '"created": <t>', text)
    if command.startswith(("train", "evaluate")) and "--format json" not in command:
        text = re.sub(r",[0-9.e+-]+\n", ",<t>\n", text)  # the last column: seconds
    return text


def main() -> None:
    out = Path(sys.argv[1])
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    env.pop("RECFACTOR_MODEL", None)
    with tempfile.TemporaryDirectory() as scratch:
        for n, command in enumerate(COMMANDS):
            argv = [sys.executable, "-m", "recfactor", *command.split()]
            result = subprocess.run(argv, cwd=scratch, env=env, capture_output=True, text=True)
            text = (f"$ recfactor {command}\nexit {result.returncode}\n--- stdout\n"
                    f"{mask(command, result.stdout)}--- stderr\n{result.stderr}")  # fmt: skip
            (out / f"{n:02d}.txt").write_text(text.replace(scratch, "<scratch>"))
    print(f"{len(COMMANDS)} commands written to {out}")


if __name__ == "__main__":
    main()
