from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from recfactor import persist
from recfactor.errors import ModelFileError
from recfactor.io.ratings import Dataset
from recfactor.models.baseline import Baseline
from recfactor.models.svd import SVD


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return Dataset.from_arrays(
        rng.integers(0, 40, 600),
        rng.integers(0, 30, 600),
        rng.integers(1, 6, 600),
        duplicates="last",
    )


@pytest.mark.parametrize("model", [Baseline(), SVD(factors=4, seed=3), SVD(bias=False, factors=2)])
def test_round_trip_gives_identical_predictions(tmp_path, data, model):
    model.fit(data)
    path = persist.save(model, tmp_path / "m.model", {"data": {"path": None}})
    loaded, manifest = persist.load(path)
    users = np.r_[data.user_ids, ["new"]]
    items = np.r_[data.item_ids[:1].repeat(len(users) - 1), ["new"]]
    a, b = model.predict(users, items), loaded.predict(users, items)
    assert a.values.tobytes() == b.values.tobytes()
    assert a.cold.tolist() == b.cold.tolist()
    assert manifest["algorithm"] == model.name
    assert manifest["params"] == model.params.to_dict()
    assert loaded.recommend(str(data.user_ids[0]), 5) == model.recommend(str(data.user_ids[0]), 5)


def test_save_writes_exact_name_and_keeps_old_file_on_failure(tmp_path, data, monkeypatch):
    path = tmp_path / "my.model"
    persist.save(Baseline().fit(data), path)
    before = path.read_bytes()
    assert not (tmp_path / "my.model.npz").exists()

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np.lib.format, "write_array", broken)
    with pytest.raises(KeyboardInterrupt):
        persist.save(SVD(factors=2).fit(data), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["my.model"]


def corrupt_cases(good: bytes) -> dict[str, bytes]:
    def rezip(mutate) -> bytes:
        src = zipfile.ZipFile(io.BytesIO(good))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as dst:
            for name in src.namelist():
                result = mutate(name, src.read(name))
                if result is not None:
                    dst.writestr(result[0], result[1])
        return out.getvalue()

    def manifest_with(**changes):
        def mutate(name, raw):
            if name != "manifest.npy":
                return name, raw
            array = np.load(io.BytesIO(raw))
            manifest = {**json.loads(array.tobytes()), **changes}
            buf = io.BytesIO()
            np.save(buf, np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8))
            return name, buf.getvalue()

        return rezip(mutate)

    obj = io.BytesIO()
    np.save(obj, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    return {
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "text": b"user,item,rating\n1,2,3\n",
        "flipped": good[:200] + bytes(b ^ 0xFF for b in good[200:400]) + good[400:],
        "no manifest": rezip(lambda n, r: None if n == "manifest.npy" else (n, r)),
        "foreign": manifest_with(format="something-else"),
        "newer": manifest_with(format_version=persist.FORMAT_VERSION + 1),
        "pickled": rezip(lambda n, r: (n, obj.getvalue() if n == "item_factors.npy" else r)),
        "missing array": rezip(lambda n, r: None if n == "user_ids.npy" else (n, r)),
    }


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("truncated", "not a recfactor model file|corrupt or truncated"),
        ("empty", "not a recfactor model file"),
        ("text", "not a recfactor model file"),
        ("flipped", "corrupt|not a recfactor model file|dtype|NaN"),
        ("no manifest", "no manifest"),
        ("foreign", "foreign manifest"),
        ("newer", "newer than this recfactor reads"),
        ("pickled", "not a plain array"),
        ("missing array", "lacks the array 'user_ids'"),
    ],
)
def test_damaged_files_give_clear_errors(tmp_path, data, case, message):
    good_path = persist.save(SVD(factors=2).fit(data), tmp_path / "good.model")
    bad = tmp_path / "bad.model"
    bad.write_bytes(corrupt_cases(good_path.read_bytes())[case])
    with pytest.raises(ModelFileError, match=message):
        persist.load(bad)


def test_missing_model_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ModelFileError, match="no model file") as err:
        persist.load(tmp_path / "nothing.model")
    assert "recfactor train" in err.value.hint


def test_one_long_id_does_not_blow_up_the_vocabulary_or_the_model_file(tmp_path):
    """Fixed-width strings gave each of 2,000 IDs the width of the longest (10,000
    characters): 80 MB in memory and in the file for 50 KB of IDs."""
    from recfactor.io.ratings import read_ratings

    long_id = "x" * 10_000
    rows = [f"{long_id if u == 0 else f'u{u}'},i{(u * 7 + j) % 40},{(u + j) % 5 + 1}"
            for u in range(2000) for j in range(3)]  # fmt: skip
    path = tmp_path / "r.csv"
    path.write_text("\n".join(rows) + "\n")
    data = read_ratings(path)
    assert data.user_ids.nbytes < 1_000_000
    model = SVD(factors=2, epochs=2).fit(data)
    saved = persist.save(model, tmp_path / "m.model")
    assert saved.stat().st_size < 2_000_000
    loaded, _ = persist.load(saved)
    assert list(loaded.user_ids_) == list(model.user_ids_)
    pairs = [long_id, "u5"], ["i0", "i3"]
    np.testing.assert_array_equal(loaded.predict(*pairs).values, model.predict(*pairs).values)
    assert not loaded.predict(*pairs).cold.any()


def test_a_fit_that_overflows_is_an_error_and_the_old_model_stays(tmp_path):
    """A fit on ratings of 1e10 overflowed to infinite factors (ALS did, before its penalty
    took the ratings' unit; SGD in the ratings' own units still does), which the saver wrote
    and the loader refused: a good model was replaced by one that could not be read, with exit
    0. In units of the ratings' spread (svd's default) the same fit is the stars' model."""
    from recfactor.errors import FitError

    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 30, 300).astype(str), rng.integers(0, 20, 300).astype(str)
    ratings = rng.integers(1, 6, 300) * 1e10
    data = Dataset.from_arrays(users, items, ratings, duplicates="last")
    target = tmp_path / "m.model"
    stars = Dataset.from_arrays(users, items, ratings / 1e10, duplicates="last")
    before = persist.save(SVD(factors=2).fit(stars), target).read_bytes()
    with pytest.raises(FitError, match="diverged"):
        persist.save(SVD(factors=2, epochs=3, standardize=False).fit(data), target)
    pairs = (users[:50], items[:50])
    large = SVD(factors=2, reg=0.1).fit(data).predict(*pairs).values
    small = SVD(factors=2, reg=0.1).fit(stars).predict(*pairs).values
    np.testing.assert_allclose(large / 1e10, small, rtol=1e-4)
    broken = SVD(factors=2).fit(stars)
    broken.user_factors_[0, 0] = np.nan
    with pytest.raises(ModelFileError, match="NaN or infinite"):
        persist.save(broken, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.model"]


def test_saves_follow_symlinks_and_the_umask(tmp_path, data):
    import os

    model = SVD(factors=2).fit(data)
    real = tmp_path / "models" / "real.model"
    real.parent.mkdir()
    link = tmp_path / "current.model"
    link.symlink_to(real)
    old = os.umask(0o027)
    try:
        persist.save(model, link)
    finally:
        os.umask(old)
    assert link.is_symlink() and real.is_file()
    assert real.stat().st_mode & 0o777 == 0o640
    persist.load(link)
