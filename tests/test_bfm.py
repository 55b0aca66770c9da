"""The Bayesian factorization machine: planted ratings whose users' taste follows an attribute,
recovered near the noise; the attributes used where they carry the signal, for users the
model knows and for users it has never seen; determinism whatever the threads; the file; the
command line and its features files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import recfactor as rf
from recfactor import coldstart
from recfactor.io.features import Side, features_from_frame
from tests.cli import rows, run

GROUPS = ("red", "green", "blue")


@pytest.fixture(scope="module")
def planted():
    """240 users in three groups and 150 items: a rating is 3.5 + the item's bias + the dot
    of the user's group vector (plus a small user part) with the item's (rank 2), noise 0.3;
    25% observed. Users 200..239 are held out of training entirely (their attributes known)."""
    rng = np.random.default_rng(5)
    n_users, n_items = 240, 150
    group = rng.integers(0, 3, n_users)
    taste = np.array([[1.2, 0.0], [-1.2, 0.6], [0.0, -1.2]])[group]
    taste += rng.normal(0, 0.2, (n_users, 2))
    items = rng.normal(0, 0.8, (n_items, 2))
    truth = 3.5 + rng.normal(0, 0.3, n_items) + taste @ items.T
    seen = rng.random(truth.shape) < 0.25
    u, i = np.nonzero(seen)
    frame = pd.DataFrame({"user": [f"u{x}" for x in u], "item": [f"i{x}" for x in i],
                          "rating": truth[u, i] + rng.normal(0, 0.3, len(u))})  # fmt: skip
    held = u >= 200
    users = pd.DataFrame({"user": [f"u{x}" for x in range(n_users)],
                          "group": [GROUPS[g] for g in group],
                          "age": rng.integers(18, 70, n_users)})  # fmt: skip
    tu, ti = np.nonzero(~seen)
    test = pd.DataFrame({"user": [f"u{x}" for x in tu], "item": [f"i{x}" for x in ti],
                         "truth": truth[tu, ti]})  # fmt: skip
    return frame[~held], frame[held], users, test


def _data(frame, users=None):
    data = rf.Dataset.from_frame(frame)
    side = None if users is None else Side(features_from_frame(users, "user"), None)
    return data.with_side(side)


def _rmse(model, test):
    guess = model.predict(test.user.to_numpy(str), test.item.to_numpy(str)).values
    return float(np.sqrt(np.mean((guess - test.truth.to_numpy()) ** 2)))


@pytest.fixture(scope="module")
def fitted(planted):
    train, _, users, _ = planted
    plain = rf.BFM(factors=2, epochs=80, burn_in=20, samples=30, seed=1).fit(_data(train))
    with_users = rf.BFM(factors=2, epochs=80, burn_in=20, samples=30, seed=1).fit(
        _data(train, users)
    )
    return plain, with_users


def test_planted_ratings_are_recovered_near_the_noise(planted, fitted):
    _, _, _, test = planted
    known = test[test.user.str[1:].astype(int) < 200]
    plain, with_users = fitted
    assert _rmse(plain, known) < 0.35  # of the truth, where the ratings' noise is 0.3
    assert _rmse(with_users, known) < 0.35
    # The kept draws side by side: predict and recommend read them as any factor model's.
    assert with_users.user_factors_.shape == (200, 2 * 30)


def test_users_never_seen_are_placed_by_their_attributes(planted, fitted):
    _, _, users, test = planted
    _, model = fitted
    new = test[test.user.str[1:].astype(int) >= 200]
    ids = sorted(set(new.user))
    rows = features_from_frame(users, "user", _encoding(model)).rows_for(ids)
    placed, paths = coldstart.place_users(model, ids, rows)
    assert set(paths.values()) == {"attributes"}
    fallback = _rmse(model, new)  # unknown users: the baseline
    assert _rmse(placed, new) < fallback - 0.2  # the group decides much of the taste
    top = {u: [r["item"] for r in rf_recommend(placed, u)] for u in ids}
    by_group = dict(zip(users.user, users.group))
    red = [u for u in ids if by_group[u] == "red"]
    blue = [u for u in ids if by_group[u] == "blue"]
    assert top[red[0]] != top[blue[0]]  # different attributes, different lists


def test_a_user_with_no_row_stands_at_the_average_rating_s_user(planted, fitted):
    """An unknown user's prediction is the learned users' predictions less their own biases,
    averaged with each user weighted by its ratings (the model is linear in the user's
    factors), and a user placed by attributes that move nothing is that user too; a model
    saved before the average user was kept answers at the baseline's level, as it did."""
    train, _, _, _ = planted
    _, model = fitted
    items = [f"i{x}" for x in range(0, 150, 7)]
    counts = train.user.value_counts()
    users = counts.index.to_numpy(str)
    each = np.array([model.predict([u] * len(items), items).values for u in users])
    each -= model.user_bias_[model.user_index(users)][:, None]
    weighted = counts.to_numpy(float) @ each / counts.sum()
    unknown = model.predict(["nobody"] * len(items), items).values
    assert unknown == pytest.approx(weighted, abs=1e-6)
    at_mean = model.user_attribute_mean_[None, :]  # attributes that move nothing
    placed, _ = coldstart.place_users(model, ["blank"], at_mean)
    assert placed.predict(["blank"] * len(items), items).values == pytest.approx(unknown, abs=1e-5)
    old = rf.BFM(**vars(model.params))
    old.__dict__.update(model.__dict__)
    old.new_user_factors_ = None
    level = old.fallback_mean_ + old.fallback_item_bias_[old.item_index(items)]
    assert old.predict(["nobody"] * len(items), items).values == pytest.approx(level)


def test_items_never_seen_are_placed_by_their_attributes_in_predict_and_in_lists():
    """Planted items whose taste follows their genre, a fifth held out of training: placed
    from their genre they beat the baseline's level, and a known user's list scores a placed
    item as predict does (the list's level for a placed item is predict's)."""
    rng = np.random.default_rng(8)
    n_users, n_items = 150, 200
    genre = rng.integers(0, 3, n_items)
    taste = np.array([[1.2, 0.0], [-1.2, 0.6], [0.0, -1.2]])[genre] + rng.normal(
        0, 0.2, (n_items, 2)
    )
    users = rng.normal(0, 0.8, (n_users, 2))
    truth = 3.5 + rng.normal(0, 0.3, n_users)[:, None] + users @ taste.T
    seen = rng.random(truth.shape) < 0.3
    u, i = np.nonzero(seen)
    frame = pd.DataFrame({"user": [f"u{x}" for x in u], "item": [f"i{x}" for x in i],
                          "rating": truth[u, i] + rng.normal(0, 0.3, len(u))})  # fmt: skip
    items = pd.DataFrame({"item": [f"i{x}" for x in range(n_items)],
                          "genre": [GROUPS[g] for g in genre]})  # fmt: skip
    held = i >= 160
    side = Side(None, features_from_frame(items, "item"))
    model = rf.BFM(factors=2, epochs=60, burn_in=20, samples=20, seed=3).fit(
        rf.Dataset.from_frame(frame[~held]).with_side(side)
    )
    new = [f"i{x}" for x in range(160, n_items)]
    placed, paths = coldstart.place_items(model, new, side.item.rows_for(new))
    assert set(paths.values()) == {"attributes"}
    tu, ti = np.nonzero(~seen[:, 160:])
    pairs_u, pairs_i = [f"u{x}" for x in tu], [f"i{x + 160}" for x in ti]
    truth_new = truth[tu, ti + 160]

    def rmse(m):
        return float(np.sqrt(np.mean((m.predict(pairs_u, pairs_i).values - truth_new) ** 2)))

    assert rmse(placed) < rmse(model) - 0.3
    from recfactor.lists import recommendations

    listed = recommendations(placed, ["u7"], 200, min_ratings=0)
    scores = {r["item"]: r["score"] for r in listed if r["item"] in set(new)}
    assert scores
    names = list(scores)
    want = placed.predict(["u7"] * len(names), names).values
    np.testing.assert_allclose([scores[n] for n in names], want, atol=1e-5)


def rf_recommend(model, user):
    from recfactor.lists import recommendations

    return recommendations(model, [user], 10)


def _encoding(model):
    from recfactor.io.features import Encoding

    return Encoding.from_dict(model.encodings_["user"])


def test_a_history_places_a_user_by_its_ratings(planted, fitted):
    _, held, _, test = planted
    _, model = fitted
    history = rf.Dataset.from_frame(held)
    placed, paths = coldstart.place_users(model, [str(u) for u in history.user_ids], None,
                                          history)  # fmt: skip
    assert set(paths.values()) == {"history"}
    new = test[test.user.isin(set(held.user))]
    assert _rmse(placed, new) < _rmse(model, new)


def test_the_same_seed_gives_the_same_model_whatever_the_threads(planted, threaded_small_fits):
    import numba

    data = _data(planted[0], planted[2])
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = rf.BFM(factors=2, epochs=6, burn_in=2, samples=3, seed=4).fit(data)
        numba.set_num_threads(max(2, before))
        two = rf.BFM(factors=2, epochs=6, burn_in=2, samples=3, seed=4).fit(data)
    finally:
        numba.set_num_threads(before)
    assert one.user_factors_.tobytes() == two.user_factors_.tobytes()
    assert one.item_bias_.tobytes() == two.item_bias_.tobytes()


@pytest.mark.parametrize("threaded", [False, True])
def test_a_small_fit_samples_on_one_thread(planted, request, monkeypatch, threaded):
    """bfm's sweeps call their kernels from Python thousands of times, and waking the threads
    for each cost more than the work on MovieLens 100K: below BFM.parallel_min_ratings they
    run in one (and the fixture that compares thread counts does lift it)."""
    import numba

    import recfactor.kernels.bfm as kernels

    if threaded:
        request.getfixturevalue("threaded_small_fits")
    else:  # the other kernels' threshold out of the way: bfm's own keeps it to one thread
        monkeypatch.setattr("recfactor.kernels.PARALLEL_MIN_RATINGS", 0)
    seen = []
    original = kernels.sample_side

    def counted(*args):
        seen.append(numba.get_num_threads())
        return original(*args)

    monkeypatch.setattr(kernels, "sample_side", counted)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(2)
        rf.BFM(factors=2, epochs=2, burn_in=0, samples=1).fit(_data(planted[0], planted[2]))
    finally:
        numba.set_num_threads(before)
    assert set(seen) == ({2} if threaded else {1})


def test_a_saved_model_answers_and_places_as_the_fitted_one(planted, fitted, tmp_path):
    _, _, users, test = planted
    _, model = fitted
    rf.save(model, tmp_path / "m.model")
    loaded, _ = rf.load(tmp_path / "m.model")
    assert _rmse(loaded, test) == pytest.approx(_rmse(model, test), abs=1e-6)
    ids = ["u200", "u201"]
    rows = features_from_frame(users, "user", _encoding(loaded)).rows_for(ids)
    a = coldstart.place_users(model, ids, rows)[0].predict(ids, ["i1", "i2"]).values
    b = coldstart.place_users(loaded, ids, rows)[0].predict(ids, ["i1", "i2"]).values
    assert a == pytest.approx(b, abs=1e-5)


def test_a_file_whose_average_user_is_not_one_row_is_refused(fitted, tmp_path):
    """A crafted ``new_user_factors`` of the wrong length (with a manifest that agrees) would
    fail at the first prediction for an unknown user: the load refuses it."""
    import io
    import json

    from recfactor import persist
    from recfactor.errors import ModelFileError
    from tests.corpus import npy, rezip

    _, model = fitted
    rf.save(model, tmp_path / "good.model")
    short = model.new_user_factors_[:-1]

    def edit(name, raw):
        if name == "new_user_factors.npy":
            return name, npy(short)
        if name != "manifest.npy":
            return name, raw
        manifest = json.loads(np.load(io.BytesIO(raw)).tobytes())
        manifest["arrays"]["new_user_factors"]["shape"] = list(short.shape)
        return name, npy(np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8))

    (tmp_path / "bad.model").write_bytes(rezip((tmp_path / "good.model").read_bytes(), edit))
    with pytest.raises(ModelFileError, match="new_user_factors"):
        persist.load(tmp_path / "bad.model")


@pytest.fixture(scope="module")
def files(planted, tmp_path_factory):
    train, held, users, _ = planted
    folder = tmp_path_factory.mktemp("bfm")
    train.to_csv(folder / "train.csv", index=False)
    held.to_csv(folder / "held.csv", index=False)
    users.to_csv(folder / "users.csv", index=False)
    model = folder / "m.model"
    result = run("train", folder / "train.csv", "--algo", "bfm", "-k", "2", "--epochs", "40",
                 "--burn-in", "10", "--samples", "10", "--user-features", folder / "users.csv",
                 "-m", model, "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    return folder, model


def test_the_command_line_places_new_users_by_a_features_file_or_attributes(files):
    folder, model = files
    found = run("predict", "--user", "u205", "--item", "i3", "--user-features",
                folder / "users.csv", "-m", model, "--format", "json")  # fmt: skip
    assert found.exit_code == 0, found.output
    assert '"cold": "attributes"' in found.stdout
    plain = run("predict", "--user", "u205", "--item", "i3", "-m", model, "--format", "json")
    assert '"cold": "baseline"' in plain.stdout
    assert "unknown user; predicted from the average user" in plain.stderr
    given = run("predict", "--user", "newcomer", "--item", "i3", "--user-attrs",
                "group=red,age=30", "-m", model, "--format", "json")  # fmt: skip
    assert given.exit_code == 0 and '"cold": "attributes"' in given.stdout, given.output
    red = run("recommend", "--user", "x", "--user-attrs", "group=red", "-m", model, "-q")
    blue = run("recommend", "--user", "x", "--user-attrs", "group=blue", "-m", model, "-q")
    assert red.exit_code == 0 and red.stdout != blue.stdout
    nothing = run("recommend", "--user", "stranger", "-m", model)
    assert nothing.exit_code == 0 and "the most popular items" in nothing.stderr


def test_a_features_file_missing_some_ids_is_noted_with_their_count(files, tmp_path):
    """A file naming some of the raters and not others (cut short, or another ID scheme in
    part) is fitted, and says how many are known by their ratings alone."""
    folder, _ = files
    users = pd.read_csv(folder / "users.csv")
    raters = pd.read_csv(folder / "train.csv").user.astype(str).unique()
    part = users[users.user.astype(str).isin(raters[:30])]
    part.to_csv(tmp_path / "part.csv", index=False)
    said = (f"note: {tmp_path / 'part.csv'}: {len(raters) - 30:,} of the ratings' "
            f"{len(raters):,} users have no row; they are known by their ratings "
            "alone")  # fmt: skip
    fit = ("--algo", "bfm", "-k", "2", "--epochs", "12", "--burn-in", "4")
    trained = run("train", folder / "train.csv", *fit, "--user-features", tmp_path / "part.csv",
                  "-m", tmp_path / "p.model")  # fmt: skip
    assert trained.exit_code == 0 and said in trained.stderr.splitlines(), trained.stderr
    evaluated = run("evaluate", folder / "train.csv", *fit, "--folds", "2", "--user-features",
                    tmp_path / "part.csv")  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    assert sum("have no row" in line for line in evaluated.stderr.splitlines()) == 1
    whole = run("train", folder / "train.csv", *fit, "--user-features", folder / "users.csv",
                "-m", tmp_path / "w.model")  # fmt: skip
    assert whole.exit_code == 0 and "have no row" not in whole.stderr, whole.stderr


def test_bad_features_get_one_error_line(files, tmp_path):
    folder, model = files
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    one_column = tmp_path / "ids.csv"
    one_column.write_text("user\nu1\nu2\n")
    twice = tmp_path / "twice.csv"
    twice.write_text("user,group\nu1,red\nu1,blue\n")
    strangers = tmp_path / "strangers.csv"  # IDs under another name: none is a rater
    strangers.write_text("user,group\nuser-1,red\nuser-2,blue\n")
    cases = [
        (("train", folder / "train.csv", "--algo", "bfm", "--user-features", empty), "empty"),
        (("train", folder / "train.csv", "--algo", "bfm", "--user-features", one_column),
         "single column"),
        (("train", folder / "train.csv", "--algo", "bfm", "--user-features", twice),
         "has two rows"),
        (("train", folder / "train.csv", "--algo", "bfm", "--user-features", strangers, "-q"),
         "none of its 2 users is in the ratings"),
        (("train", folder / "train.csv", "--algo", "svd", "--user-features",
          folder / "users.csv"), "for `algo` bfm"),
        (("predict", "--user", "n", "--item", "i1", "--user-attrs", "colour=red", "-m", model),
         "no column colour"),
        (("predict", "--user", "n", "--item", "i1", "--user-attrs", "=red", "-m", model),
         "'=red' is not NAME=VALUE"),
    ]  # fmt: skip
    for args, said in cases:
        result = run(*args, "-m", tmp_path / "x.model") if args[0] == "train" else run(*args)
        assert result.exit_code in (1, 2), (args, result.output)
        lines = result.stderr.splitlines()
        assert lines[0].startswith("error:") and said.replace("`algo`", "--algo") in lines[0], (
            args, result.stderr)  # fmt: skip
    # evaluate and tune name the features file alone, not after the ratings' file
    for command in (("evaluate", "--epochs", "10", "--burn-in", "2"), ("tune", "--trials", "2")):
        result = run(command[0], folder / "train.csv", *command[1:], "--algo", "bfm",
                     "--user-features", strangers, "-q")  # fmt: skip
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith(f"error: {strangers}: none of its 2 users"), result.stderr


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # pandas took the first of these as a header plus an index column: item "Action"
        ("user|group\nu1|red|blue\nu2|blue\n", "line 2: 3 fields, where the first line has 2"),
        ("user|group\nu1|red\n\nu2|red|blue\n", "line 4: 3 fields, where the first line has 2"),
        ('user,group\nu1,red\nu2,"blue\nu3,red\n', "line 3: a quote opened here is never closed"),
    ],
)
def test_a_ragged_or_open_quoted_features_file_is_refused_by_its_line(text, said, tmp_path):
    """A row wider than the first is a mistake to name, not a shift of every column by one
    (the IDs read from the attributes) nor the parser's internal error."""
    train = tmp_path / "train.csv"
    train.write_text("user,item,rating\nu1,i1,4\nu2,i1,3\nu1,i2,5\nu3,i2,2\n")
    features = tmp_path / "users.csv"
    features.write_text(text)
    result = run("train", train, "--algo", "bfm", "--user-features", features, "-m",
                 tmp_path / "m", "-q")  # fmt: skip
    lines = result.stderr.splitlines()
    assert result.exit_code == 1 and len(lines) == 2, result.output
    assert lines[0] == f"error: {features}, {said}" and lines[1].startswith("hint: ")
    assert not (tmp_path / "m").exists()


def test_a_category_first_seen_later_adds_nothing(files):
    """A documented rule: a value the training rows never had moves the row by nothing, so
    the user stands where its other attributes put it."""
    _, model = files
    known = run("predict", "--user", "n1", "--item", "i3", "--user-attrs", "age=30", "-m",
                model, "--format", "csv", "-q")  # fmt: skip
    odd = run("predict", "--user", "n1", "--item", "i3", "--user-attrs", "group=purple,age=30",
              "-m", model, "--format", "csv", "-q")  # fmt: skip
    assert known.exit_code == 0 and known.stdout == odd.stdout
    # ... and says so, where a slip of the keyboard would otherwise pass unsaid
    said = run("predict", "--user", "n1", "--item", "i3", "--user-attrs", "group=purple,age=30",
               "-m", model)  # fmt: skip
    assert said.stdout == odd.stdout
    assert "note: attributes: group 'purple' was never seen in training; it adds nothing" in (
        said.stderr)  # fmt: skip
    twice = run("predict", "--user", "n1", "--item", "i3", "--user-attrs", "age=30,age=40",
                "-m", model)  # fmt: skip
    assert twice.exit_code == 1 and "attributes: age is given twice" in twice.stderr


def test_the_day_of_a_rating_is_a_context_where_asked(planted):
    """Ratings of odd days are a star higher: with each rating's day as a context, a
    prediction at its day finds the star; without, it cannot."""
    train, _, _, test = planted
    rng = np.random.default_rng(3)
    day = 86_400.0
    train = train.assign(time=rng.integers(0, 20, len(train)) * day)
    train = train.assign(rating=train.rating + (train.time // day % 2))
    data = rf.Dataset.from_frame(train[["user", "item", "rating"]])
    data = data.with_times(train.time.to_numpy(dtype=float))
    known = test[test.user.str[1:].astype(int) < 200].head(2000)
    days = rng.integers(0, 20, len(known)) * day
    truth = known.truth.to_numpy() + (days // day % 2)
    plain = rf.BFM(factors=2, epochs=60, burn_in=20, samples=20, seed=1).fit(data)
    timed = rf.BFM(factors=2, epochs=60, burn_in=20, samples=20, seed=1, time=True).fit(data)
    users, items = known.user.to_numpy(str), known.item.to_numpy(str)
    without = np.sqrt(np.mean((plain.predict(users, items).values - truth) ** 2))
    at_day = np.sqrt(np.mean((timed.predict_at(users, items, days) - truth) ** 2))
    assert at_day < 0.45 < without  # the day's star is half the spread without it
    # A user with no row stands at the users' mean bias: their days' part re-centred too.
    assert abs(timed.user_bias_.mean()) < 1e-9 and abs(plain.user_bias_.mean()) < 1e-9


def test_evaluate_fits_and_scores_a_day_context_at_the_ratings_days(planted, tmp_path):
    """`evaluate --algo bfm --time` learns from each rating's day and predicts the held-out
    ratings at theirs (once fitted without the days at all: the flag was lost), and a saved
    day-context model is scored on a test file at its pairs' days."""
    train, _, _, test = planted
    rng = np.random.default_rng(3)
    day = 86_400
    train = train.assign(time=rng.integers(0, 20, len(train)) * day)
    train = train.assign(rating=train.rating + (train.time // day % 2))
    data = tmp_path / "days.csv"
    train.to_csv(data, index=False)
    known = test[test.user.str[1:].astype(int) < 200].head(2000)
    known = known.assign(time=rng.integers(0, 20, len(known)) * day)
    known = known.assign(rating=known.truth + (known.time // day % 2))
    held = tmp_path / "held.csv"
    known[["user", "item", "rating", "time"]].to_csv(held, index=False)
    small = ["--algo", "bfm", "-k", "2", "--epochs", "60", "--burn-in", "20", "--samples", "20"]

    def rmse(*extra, split=("--folds", "2")):
        result = run("evaluate", data, *small, *extra, *split, "--seeds", "1",
                     "--format", "json", "-q")  # fmt: skip
        assert result.exit_code == 0, result.output
        runs = json.loads(result.stdout)["runs"]
        return float(np.mean([r["metrics"]["rmse"] for r in runs]))

    assert rmse("--time") < 0.45 < rmse()  # the day's star is half the spread without it
    # A time-ordered holdout (each user's latest: days others rated on) reads the times once,
    # for the split and the model alike.
    assert rmse("--time", split=("--time-ordered", "--holdout-per-user", "2")) < 0.45
    model = tmp_path / "days.model"
    assert run("train", data, *small, "--time", "-m", model, "-q").exit_code == 0
    result = run("evaluate", "-m", model, "--test", held, "--format", "json", "-q")
    assert result.exit_code == 0, result.output
    scores = {row["metric"]: row["value"] for row in json.loads(result.stdout)}
    assert scores["rmse"] < 0.45
    undated = tmp_path / "undated.csv"  # no times: scored without days, as predict would
    known[["user", "item", "rating"]].to_csv(undated, index=False)
    result = run("evaluate", "-m", model, "--test", undated, "--format", "json", "-q")
    assert result.exit_code == 0, result.output
    assert {r["metric"]: r["value"] for r in json.loads(result.stdout)}["rmse"] > 0.45


@pytest.mark.parametrize(("planted", "n_rows", "n_attrs"),
                         [("factors", 40, 4), ("both", 40, 4), ("noise", 14, 10)])  # fmt: skip
def test_the_attribute_map_keeps_the_penalty_whose_left_out_placements_predict_best(
    planted, n_rows, n_attrs
):
    """attribute_map against the definition written out: for each penalty, each row refitted
    without itself (ridge on the centred attributes), placed, and its placements scored on
    the ratings; the bias and the factors each keep their best penalty (or none), and the map
    is the full fit at it (attributes of pure noise, few rows: where fitting a row with itself
    would pick another penalty than leaving it out)."""
    from recfactor.models.bfm import ATTRIBUTE_PENALTIES, attribute_map

    rng = np.random.default_rng(len(planted) + n_rows)
    n_cols, n_ratings = 6, 300
    attrs = rng.normal(size=(n_rows, n_attrs))
    truth = rng.normal(size=(n_attrs, 1 + n_cols)) * (planted != "noise")
    if planted == "factors":
        truth[:, 0] = 0
    values = attrs @ truth + 0.3 * rng.normal(size=(n_rows, 1 + n_cols))
    own = rng.integers(0, n_rows, n_ratings)
    other = rng.normal(size=(n_ratings, n_cols))
    level = rng.normal(size=n_ratings)
    rating = level + values[own, 0] + np.einsum("ij,ij->i", values[own, 1:], other)
    rating += 0.2 * rng.normal(size=n_ratings)

    a = attrs - attrs.mean(axis=0)
    target = values - values.mean(axis=0)

    def ridge(x, y, penalty):
        return np.linalg.solve(x.T @ x + penalty * np.eye(x.shape[1]), x.T @ y)

    left = rating - level
    best, chosen = [float(left @ left)] * 2, [None, None]
    for penalty in ATTRIBUTE_PENALTIES:
        placed = np.empty_like(target)
        for row in range(n_rows):
            rest = np.arange(n_rows) != row
            placed[row] = a[row] @ ridge(a[rest], target[rest], penalty)
        guesses = (placed[own, 0], np.einsum("ij,ij->i", placed[own, 1:], other))
        for t in (0, 1):
            error = float(((left - guesses[t]) ** 2).sum())
            if error < best[t]:
                best[t], chosen[t] = error, penalty
    if planted != "noise":
        assert chosen[1] is not None and (chosen[0] is not None) == (planted == "both")
    picked = (own, np.arange(n_ratings), other, level, rating)  # each rating its own row
    found = attribute_map(attrs, values[:, 0], values[:, 1:], picked)
    assert (found is None) == (chosen == [None, None])
    if found is None:
        return
    mean, found = found
    np.testing.assert_allclose(mean, attrs.mean(axis=0))
    expected = np.zeros_like(found)
    for t, columns in ((0, slice(0, 1)), (1, slice(1, None))):
        if chosen[t] is not None:
            expected[:, columns] = ridge(a, target, chosen[t])[:, columns]
    np.testing.assert_allclose(found, expected, rtol=1e-9, atol=1e-12)


def test_the_sampler_starts_from_the_residuals_of_all_three_sides():
    """With a day context the residuals a fit starts from take out the days' biases and
    factors too, each pair of sides' products (they once left the day's out: on MovieLens
    100K u1..u5 a prediction at its day then scored 0.8841 on average, now 0.8825)."""
    from recfactor.models.bfm import _predicted, _Side

    rng = np.random.default_rng(0)
    n = 50
    own = [rng.integers(0, m, n) for m in (7, 5, 3)]
    sides = [_Side.build(own[t], own[(t + 1) % 3], m, 5, False, None, 4, rng)
             for t, m in enumerate((7, 5, 3))]  # fmt: skip
    for side in sides:
        side.b[:] = rng.normal(size=side.n_rows)
    u, i, d = ((s.b[s.rows_of], s.U[s.rows_of]) for s in sides)
    expected = u[0] + i[0] + d[0] + (u[1] * i[1]).sum(1) + (u[1] * d[1]).sum(1)
    expected += (i[1] * d[1]).sum(1)
    assert np.allclose(_predicted(sides), expected)
    assert np.allclose(_predicted(sides[:2]), u[0] + i[0] + (u[1] * i[1]).sum(1))


def test_update_learns_from_the_attributes_again(files, tmp_path):
    """A model that learned from the users' attributes is updated with them (the same file,
    read with its encoding): without it, the update is refused rather than made another
    model."""
    folder, model = files
    copy = tmp_path / "m.model"
    copy.write_bytes(model.read_bytes())
    missing = run("update", folder / "held.csv", "-m", copy, "--base", folder / "train.csv")
    assert missing.exit_code == 2 and "give them again" in missing.stderr
    done = run("update", folder / "held.csv", "-m", copy, "--base", folder / "train.csv",
               "--user-features", folder / "users.csv", "-q")  # fmt: skip
    assert done.exit_code == 0, done.output
    updated, _ = rf.load(copy)
    assert "u205" in set(updated.user_ids_.tolist())


def test_fold_in_places_bfm_users_by_their_ratings(planted, fitted):
    """rf.fold_in, as for the other models: the history's users known afterwards, their
    predictions moved by their ratings."""
    _, held, _, test = planted
    _, model = fitted
    folded, users, unknown = rf.fold_in(model, rf.Dataset.from_frame(held))
    assert set(users) == set(held.user) and unknown == 0
    new = test[test.user.isin(set(held.user))]
    assert _rmse(folded, new) < _rmse(model, new)


def test_a_file_with_a_header_is_matched_to_the_model_by_column_name(files, tmp_path):
    """Columns in another order (the ID not first) mean the same user; read by position, the
    group would have been taken for the age. A file with none of the model's columns is an
    error, not another file's columns read as the model's."""
    _, model = files

    def predicted(text: str):
        path = tmp_path / "new.csv"
        path.write_text(text)
        return run("predict", "--user", "n1", "--item", "i3", "--user-features", path, "-m",
                   model, "--format", "csv", "-q")  # fmt: skip

    as_trained = predicted("user,group,age\nn1,red,30\n")
    assert as_trained.exit_code == 0 and as_trained.stdout.endswith(",attributes\n")
    assert predicted("age,user,group\n30,n1,red\n").stdout == as_trained.stdout
    assert predicted("group,user\nblue,n1\n").stdout != as_trained.stdout
    other = predicted("user,colour\nn1,red\n")
    assert other.exit_code == 1 and other.stderr.splitlines()[0].endswith(
        "none of the model's user feature columns is here (the file has colour)"
    ), other.stderr
    assert "hint: give the columns the model was trained with: group, age" in other.stderr


def test_a_number_column_reads_na_as_missing_and_names_a_stray_word(tmp_path):
    """NA, NaN, null and None are a missing number (the column's mean, as an empty cell);
    one stray word is an error naming it, where before it turned the ages into categories or
    dropped them as naming their rows, without a word."""
    rows = 30
    ages = [str(20 + k) for k in range(rows)]
    frame = pd.DataFrame({"user": [f"u{k}" for k in range(rows)], "age": ages,
                          "group": [GROUPS[k % 3] for k in range(rows)]})  # fmt: skip
    empty = features_from_frame(frame.assign(age=["", *ages[1:]]), "user")
    for token in ("NA", "NaN", "null", "None", "n/a"):
        marked = features_from_frame(frame.assign(age=[token, *ages[1:]]), "user")
        assert marked.encoding == empty.encoding, token
        assert (marked.matrix != empty.matrix).nnz == 0, token
    assert empty.encoding.columns[0].kind == "number"
    assert empty.matrix[0, 0] == 0.0  # the mean, standardised
    spaced = tmp_path / "spaced.csv"  # blank lines and a quoted ID: the line, not the row
    spaced.write_text("user,age,group\n\n" + "".join(
        f'"u{k}",{"old" if k == 7 else 20 + k},red\n' + ("\n" if k == 3 else "")
        for k in range(rows)))  # fmt: skip
    with pytest.raises(rf.DataError, match=r"spaced\.csv, line 11, column 'age': 'old' is not"):
        rf.read_features(spaced, "user")
    with pytest.raises(rf.DataError, match="row 8, column 'age'"):  # a frame has rows
        features_from_frame(frame.assign(age=[*ages[:7], "old", *ages[8:]]), "user")
    for value, said in (("old", "'old' is not a number"), ("1e300", "'1e300' is beyond"),
                        ("inf", "'inf' is not a finite number")):  # fmt: skip
        path = tmp_path / "users.csv"
        frame.assign(age=[*ages[:4], value, *ages[5:]]).to_csv(path, index=False)
        with pytest.raises(rf.DataError, match=f"users.csv, line 6, column 'age': {said}"):
            rf.read_features(path, "user")


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b'[{"user": "u1", "group": "red"}]\n', "looks like JSON, not delimited text"),
        (bytes(range(256)) * 4, "looks like a binary file, not delimited text"),
        ("user,group\nu1,red\n".encode("utf-16"), None),
    ],
    ids=["json", "binary", "utf-16"],
)
def test_a_features_file_that_is_not_delimited_text_is_named_so(content, said, tmp_path):
    """JSON and binary data were read as rows ("1 fields, where the first line has 2"); UTF-16
    text (Excel's "Unicode text") reads as its UTF-8."""
    path = tmp_path / "users.csv"
    path.write_bytes(content)
    if said is None:
        read = rf.read_features(path, "user")
        assert read.ids.tolist() == ["u1"] and read.encoding.feature_names() == ["group=red"]
        return
    with pytest.raises(rf.DataError, match=said):
        rf.read_features(path, "user")
    with pytest.raises(rf.DataError, match="is a directory, not a features file"):
        rf.read_features(tmp_path, "user")


def test_each_column_is_read_for_what_it_is():
    """Flags kept, numbers and dates standardised, |-labels and categories one feature a
    value, a number with a leading zero read as text, and columns naming their row left
    out."""
    rows = 30
    frame = pd.DataFrame({
        "item": [f"i{k}" for k in range(rows)],
        "flag": [k % 2 for k in range(rows)],
        "year": [1950 + k for k in range(rows)],
        "released": [f"{1 + k % 28:02d}-Jan-19{50 + k}" for k in range(rows)],
        "genres": ["Action|Comedy" if k % 3 else "Drama" for k in range(rows)],
        "colour": [GROUPS[k % 3] for k in range(rows)],
        "zip": [f"0{k:04d}" for k in range(rows)],
        "code": ["007" if k % 2 else "010" for k in range(rows)],
        "title": [f"Film number {k}" for k in range(rows)],
    })  # fmt: skip
    encoding = features_from_frame(frame, "item").encoding
    kinds = {c.name: c.kind for c in encoding.columns}
    assert kinds == {"flag": "flag", "year": "number", "released": "date", "genres": "labels",
                     "colour": "category", "code": "category"}  # fmt: skip
    assert encoding.dropped == ("zip", "title")
    matrix = features_from_frame(frame, "item", encoding).matrix.toarray()
    names = encoding.feature_names()
    assert matrix[:, names.index("year")].mean() == pytest.approx(0.0, abs=1e-12)
    assert matrix[1, names.index("genres=Action")] == 1 == matrix[1, names.index("genres=Comedy")]
    assert matrix[0, names.index("code=010")] == 1 == matrix[1, names.index("code=007")]


def test_the_server_places_a_posted_user_by_attributes_and_ratings(files):
    from tests.test_serve import Server

    model = files[1]
    served = Server("-m", model)
    try:
        red = served.ask("POST", "/recommend", {"attributes": {"group": "red"}, "n": 5})
        blue = served.ask("POST", "/recommend", {"attributes": {"group": "blue"}, "n": 5})
        rated = served.ask("POST", "/recommend", {"ratings": [["i3", 5], ["i4", 1]], "n": 5})
        unknown = served.ask("POST", "/recommend", {"attributes": {"colour": "red"}})
    finally:
        assert served.stop() == 0
    assert red[0] == blue[0] == rated[0] == 200
    assert red[1]["cold"] == blue[1]["cold"] == "attributes" and rated[1]["cold"] == "history"
    want = run("recommend", "--user", "x", "--user-attrs", "group=red", "-m", model, "-n", "5",
               "-q")  # fmt: skip
    assert [x["item"] for x in red[1]["items"]] == [r["item"] for r in rows(want.stdout)]
    assert red[1]["items"] != blue[1]["items"]
    assert unknown[0] == 422 and unknown[1]["parameter"] == "attributes"
    assert unknown[1]["error"].startswith("attributes: no column colour")


def test_a_tables_list_column_is_labels_and_a_record_column_is_refused(tmp_path):
    """JSON lines' arrays (and Parquet's lists) are a set of labels each, as "|"-joined text
    is; made text as they were, each list was one category ("['Action' 'Comedy']")."""
    path = tmp_path / "items.json"
    path.write_text('{"item": "i1", "genres": ["Action", "Comedy"], "year": 1995}\n'
                    '{"item": "i2", "genres": ["Drama"], "year": 1990}\n'
                    '{"item": "i3", "genres": [], "year": 1991}\n')  # fmt: skip
    read = rf.read_features(path, "item")
    assert read.ids.tolist() == ["i1", "i2", "i3"]
    names = read.encoding.feature_names()
    assert names[:3] == ["genres=Action", "genres=Comedy", "genres=Drama"]
    assert np.asarray(read.matrix.todense() if hasattr(read.matrix, "todense") else read.matrix)[
        :, :3].tolist() == [[1, 1, 0], [0, 0, 1], [0, 0, 0]]  # fmt: skip
    path.write_text('{"item": "i1", "meta": {"a": 1}}\n')
    with pytest.raises(rf.DataError, match="column 'meta' holds struct<a: int64>, not values"):
        rf.read_features(path, "item")


def test_a_tables_number_ids_are_the_ratings_ids_and_a_missing_one_is_refused(tmp_path):
    """Parquet's IDs are written as the ratings' reader writes them: a float 1.0 (pandas writes
    float IDs for integers with a None among them) was the ID "1.0", which no rater has, and a
    null was the ID "n" (pandas 3's missing text, cut to one character) or an internal error."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ages = pa.array([20, 30, 40])
    for ids in (pa.array([1.0, 2.0, 3.5]), pa.array([1, 2, 3], pa.int64())):
        pq.write_table(pa.table({"user": ids, "age": ages}), tmp_path / "users.parquet")
        assert rf.read_features(tmp_path / "users.parquet", "user").ids.tolist()[:2] == ["1", "2"]
    frames = [pd.DataFrame({"user": [1.0, np.nan, 3.0], "age": [20, 30, 40]}),
              pd.DataFrame({"user": pd.array([1, None, 3], dtype="Int64"), "age": [20, 30, 40]}),
              pd.DataFrame({"user": ["u1", None, "u3"], "age": [20, 30, 40]})]  # fmt: skip
    for frame in frames:
        frame.to_parquet(tmp_path / "users.parquet")
        with pytest.raises(rf.DataError, match=r"users.parquet, row 2: no user ID"):
            rf.read_features(tmp_path / "users.parquet", "user")
    # A missing attribute is missing, as an empty field of a text file: not the category "n".
    pq.write_table(pa.table({"user": ["u1", "u2", "u3"], "colour": ["red", None, "blue"]}),
                   tmp_path / "users.parquet")  # fmt: skip
    read = rf.read_features(tmp_path / "users.parquet", "user")
    assert read.encoding.feature_names() == ["colour=blue", "colour=red"]


def test_a_dataframes_missing_id_or_attribute_is_missing_and_the_ids_stay_whole():
    """A None among a DataFrame's IDs cut every ID to one character ('u1' was 'u') under
    pandas 3, whose missing text is a NaN; a None attribute was an internal error."""
    with pytest.raises(rf.DataError, match=r"<frame>, row 2: no user ID"):
        rf.features_from_frame(pd.DataFrame({"user": ["u1", None, "u3"], "age": [20, 30, 40]}),
                               "user")  # fmt: skip
    frame = pd.DataFrame({"user": ["u10", "u2", "u3"], "colour": ["red", None, "blue"]})
    read = rf.features_from_frame(frame, "user")
    assert read.ids.tolist() == ["u10", "u2", "u3"]
    assert read.encoding.feature_names() == ["colour=blue", "colour=red"]
    # Float IDs (pandas' for integers that had a missing value) name the raters as Dataset does.
    floats = rf.features_from_frame(pd.DataFrame({"user": [1.0, 2.0], "age": [20.0, np.nan]}),
                                    "user")  # fmt: skip
    assert floats.ids.tolist() == ["1", "2"]
