"""The hostile-input corpus (tests/corpus.py) through the command line, in this process.

For every case: the exit code; one `error:` line naming the file and the line, row or member;
no traceback; nothing on stdout; no file left behind; a model that is unchanged (a failed
train must not touch the model already there) or, for a damaged model file that still loads,
answers exactly as the undamaged one.
"""

from __future__ import annotations

import contextlib
import io
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from recfactor import persist
from recfactor.dataset import Dataset
from tests import corpus


def invoke(args: list[str], stdin: bytes = b"") -> tuple[int, str, str]:
    """``recfactor ARGS`` as the console entry point runs it: (exit code, stdout, stderr)."""
    from recfactor.cli import main

    out, err = io.BytesIO(), io.BytesIO()
    stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    stderr = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
    saved = sys.argv, sys.stdin
    sys.argv = ["recfactor", *args]
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    code = 0
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv, sys.stdin = saved
    text = (stream.getvalue().decode("utf-8", "replace") for stream in (out, err))
    return code, *text


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    """Real model files of every kind, trained on a small set where u1 and i1 exist."""
    rng = np.random.default_rng(0)
    users = np.repeat([f"u{u}" for u in range(12)], 6)
    items = np.array([f"i{(u * 5 + j) % 9}" for u in range(12) for j in range(6)])
    ratings = rng.integers(1, 6, len(users)).astype(float)
    data = Dataset.from_arrays(users, items, ratings)
    implicit = Dataset.from_arrays(users, items, ratings, feedback="implicit")
    from recfactor.models import model_class

    out = {}
    for algo, dataset, params in [
        ("svd", data, {"factors": 3}),
        ("als", data, {"factors": 3}),
        ("nmf", data, {"factors": 3}),
        ("baseline", data, {}),
        ("als_implicit", implicit, {"factors": 3}),
    ]:
        cls = model_class(algo.split("_")[0])
        model = cls(**params).fit(dataset)
        buf = io.BytesIO()
        path = Path(f"/tmp/recfactor-corpus-{algo}.model")
        persist.save(model, path)
        buf.write(path.read_bytes())
        path.unlink()
        out[algo] = buf.getvalue()
    return out


def _check(case: corpus.Case, tmp_path: Path, answers: dict[str, str] | None = None) -> None:
    for name, raw in case.files.items():
        (tmp_path / name).write_bytes(raw)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    args = [a.replace("{dir}", str(tmp_path)) for a in case.args]
    code, out, err = invoke(args, case.stdin)
    assert "Traceback" not in err, err
    if case.code == -1 and code == 0:  # a damaged model that still loads: the same answer
        assert answers is not None and out == answers[case.name.split("-")[1]], (out, err)
        return
    expected = (1,) if case.code == -1 else (case.code,)
    assert code in expected, (code, out, err)
    lines = [ln for ln in err.splitlines() if ln]
    assert lines and lines[0].startswith("error: "), err
    assert len(lines) == 2 and lines[1].startswith("hint: "), err  # every error says what to do
    assert "internal error" not in err, err
    if case.where:
        import re

        assert re.search(case.where, lines[0]), (case.where, lines[0])
    assert out == "", out
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before, sorted(set(after) ^ set(before)) or "a file changed"
    assert not [p for p in tmp_path.iterdir() if p.is_dir()], "a folder was left behind"


DATA_CASES = corpus.data_cases()
COMMAND_CASES = corpus.command_cases()


def test_corpus_is_large_enough():
    assert len(DATA_CASES) >= 150
    assert len(COMMAND_CASES) >= 100


@pytest.mark.parametrize("case", DATA_CASES, ids=lambda c: c.name)
def test_malformed_data_file(tmp_path, case, models):
    # A good model is already there: a failed train must leave it as it was.
    (tmp_path / "model").write_bytes(models["svd"])
    _check(case, tmp_path)


@pytest.mark.parametrize("case", COMMAND_CASES, ids=lambda c: c.name)
def test_bad_command_line(tmp_path, case, models):
    (tmp_path / "model").write_bytes(models["svd"])
    _check(case, tmp_path)


def test_damaged_and_hostile_models(tmp_path, models):
    cases = corpus.model_cases(models)
    assert len(cases) >= 100
    answers = {}
    for algo, raw in models.items():
        (tmp_path / "model").write_bytes(raw)
        args = ["predict", "--user", "u1", "--item", "i1", "-m", str(tmp_path / "model")]
        code, out, err = invoke(args)
        assert code == 0, err
        answers[algo] = out
    for case in cases:
        folder = tmp_path / case.name
        folder.mkdir()
        _check(case, folder, answers)


def test_full_bit_flip_sample(models):
    """A random sample of single-bit flips and truncations of every kind of model file: a
    clean ModelFileError or a model with the same arrays (benchmarks/bench_damage.py sweeps
    5,000 flips and 200 truncations of each)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        from bench_damage import sweep
    finally:
        sys.path.pop(0)
    for algo, raw in models.items():
        result = sweep(raw, flips=300, cuts=40, rng=random.Random(algo))
        assert result["escaped"] == [], (algo, result["escaped"][:3])
        assert result["changed"] == [], (algo, result["changed"][:3])
