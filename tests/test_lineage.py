"""Every field of a model's lineage (its data, its updates, its neighbour check) against every
wrong type: `update`, `evaluate -m`, `predict` and `similar` on the edited model answer
correctly or refuse it with one `error:` line naming the field; never an internal error, and
the model file is never replaced.

And the file itself: the same command, data and seed give the same bytes, whatever the time
or the machine's load.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from recfactor import persist
from recfactor.lineage import DataRecord, Lineage
from tests.corpus import npy, rezip
from tests.test_corpus import invoke

RATINGS = "user,item,rating\n" + "".join(
    f"u{u},i{(u * 3 + j) % 7},{1 + (u + j) % 5}\n" for u in range(10) for j in range(4)
)
WRONG = [None, 0, -1, 1.5, True, "x", "", [], {}, [1, "a"], {"a": 1}, 10**30, "a\x00b"]


@pytest.fixture(scope="module")
def updated(tmp_path_factory):
    """A folder with data.csv, new.csv and a model trained on the first and updated with the
    second (so that its manifest has data, updates and neighbours)."""
    folder = tmp_path_factory.mktemp("lineage")
    (folder / "data.csv").write_text(RATINGS)
    (folder / "new.csv").write_text("user,item,rating\nu1,i6,5\nnew,i1,4\n")
    code, _, err = invoke(["train", str(folder / "data.csv"), "-m", str(folder / "first"), "-q",
                           "-k", "2", "--epochs", "3"])  # fmt: skip
    assert code == 0, err
    code, _, err = invoke(["update", str(folder / "new.csv"), "-m", str(folder / "first"),
                           "--save-as", str(folder / "model"), "-q"])  # fmt: skip
    assert code == 0, err
    # An update does not carry the first fit's neighbour check over (its factors moved): the
    # record is put back here, so that its fields are tried too.
    check = persist.read_manifest(folder / "first")["neighbours"]
    model = folder / "model"
    model.write_bytes(_edited(model.read_bytes(), ("neighbours",), check))
    persist.load(model)
    return folder


def _fields(manifest: dict) -> list[tuple]:
    """Paths (tuples of keys and indices) to every lineage field of ``manifest``."""
    out: list[tuple] = []

    def walk(value, path):
        out.append(path)
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, (*path, key))
        elif isinstance(value, list) and path[-1] != "missing_values":
            for k, inner in enumerate(value):
                walk(inner, (*path, k))

    for top in ("data", "updates", "neighbours"):
        walk(manifest[top], (top,))
    return out


def _edited(good: bytes, path: tuple, value) -> bytes:
    def mutate(name, data):
        if name != "manifest.npy":
            return name, data
        manifest = json.loads(np.load(_io(data)).tobytes())
        target = manifest
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        raw = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
        return name, npy(raw)

    return rezip(good, mutate)


def _io(data: bytes):
    import io

    return io.BytesIO(data)


def test_every_lineage_field_against_every_wrong_type(updated, tmp_path):
    good = (updated / "model").read_bytes()
    manifest = persist.read_manifest(updated / "model")
    assert manifest["updates"] and manifest["neighbours"] and manifest["data"]["sha256"]
    fields = _fields(manifest)
    assert len(fields) >= 25
    # Each field gets 5 of the wrong values, in turn, so that every value meets many fields;
    # each edit is tried by one of the commands, in turn: predict (the loader's checks),
    # update and evaluate -m (which read the lineage), similar (the neighbour check).
    commands = [
        ["predict", "-m", "{m}", "--user", "u1", "--item", "i1"],
        ["update", str(updated / "new.csv"), "-m", "{m}", "--save-as", str(tmp_path / "out"), "-q"],
        ["evaluate", "-m", "{m}", "--folds", "2", "-q"],
        ["similar", "-m", "{m}", "--item", "i1"],
    ]
    refused = turn = 0
    for f, path in enumerate(fields):
        for value in (WRONG[(5 * f + j) % len(WRONG)] for j in range(5)):
            model = tmp_path / "model"
            edited = _edited(good, path, value)
            model.write_bytes(edited)
            turn += 1
            line = [a.replace("{m}", str(model)) for a in commands[turn % len(commands)]]
            code, _, err = invoke(line)
            where = ".".join(map(str, path))
            assert "internal error" not in err and "Traceback" not in err, (where, value, err)
            if code != 0:
                lines = [ln for ln in err.splitlines() if ln]
                assert code in (1, 2) and lines[0].startswith("error: "), (where, err)
                assert len(lines) <= 2, err
                refused += 1
            assert model.read_bytes() == edited
            (tmp_path / "out").unlink(missing_ok=True)
    assert refused > len(fields)  # the wrong values were seen, not ignored


def test_a_wrong_field_is_named(updated, tmp_path):
    good = (updated / "model").read_bytes()
    model = tmp_path / "model"
    model.write_bytes(_edited(good, ("data", "read_options", "header"), "yes"))
    code, _, err = invoke(["predict", "-m", str(model), "--user", "u1", "--item", "i1"])
    assert code == 1 and "data.read_options.header" in err and "'yes'" in err, err
    model.write_bytes(_edited(good, ("updates", 0, "sha256"), 42))
    code, _, err = invoke(["update", str(updated / "new.csv"), "-m", str(model), "-q"])
    assert code == 1 and "updates[0].sha256" in err, err


def test_the_lineage_round_trips_as_a_typed_record(updated):
    manifest = persist.read_manifest(updated / "model")
    lineage = Lineage.of(manifest, "model")
    assert isinstance(lineage.data, DataRecord) and len(lineage.updates) == 1
    assert lineage.data.path.endswith("data.csv") and len(lineage.data.sha256) == 64
    assert Lineage.of(lineage.to_manifest(), "model") == lineage
    assert lineage.data.options("explicit", "model").header is None


def test_the_same_train_gives_the_same_bytes(tmp_path):
    """No clock in the file: not the time it was written, not the fit's seconds, not the zip
    members' dates, not a neighbour check decided by how long the fit took."""
    (tmp_path / "data.csv").write_text(RATINGS)
    blobs = []
    for k in range(2):
        if k:
            time.sleep(1.1)  # another second on the clock
        target = tmp_path / f"m{k}"
        code, _, err = invoke(["train", str(tmp_path / "data.csv"), "-m", str(target), "-q",
                               "-k", "2", "--epochs", "3"])  # fmt: skip
        assert code == 0, err
        blobs.append(target.read_bytes())
    assert blobs[0] == blobs[1]
    assert "created" not in persist.read_manifest(tmp_path / "m0")


@pytest.mark.parametrize("size", [0, 1, 6, 7, 8, 29])
def test_the_fingerprint_hashes_every_piece(tmp_path, monkeypatch, size):
    """The hash reads its file in pieces into one buffer: a file of several pieces, one that
    ends mid-piece, one of exactly a piece and an empty file all hash as the whole file does."""
    import hashlib

    from recfactor import lineage

    monkeypatch.setattr(lineage, "FINGERPRINT_PIECE", 7)
    data = bytes(range(97, 97 + size))
    (tmp_path / "r.csv").write_bytes(data)
    found = lineage.file_fingerprint(tmp_path / "r.csv")
    assert found["sha256"] == hashlib.sha256(data).hexdigest() and found["size"] == size
