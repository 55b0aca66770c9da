"""`train --engine spark`: Spark MLlib's ALS in local mode, saved as an ordinary model.

These tests need pyspark (``pip install 'recfactor[spark]'``) and Java; they skip, saying
which is missing, where either is. One Spark session serves them all (the CLI's
``getOrCreate`` finds the first)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest

import recfactor as rf
from recfactor import persist
from tests.cli import run, unclocked
from tests.conftest import SAMPLE

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (recfactor[spark])")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java, and there is none here", allow_module_level=True)
pytestmark = pytest.mark.usefixtures("spark_session")  # the run's one session, made first


@pytest.fixture(scope="module")
def spark_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("spark") / "spark.model"
    result = run("train", SAMPLE / "ratings.csv", "--engine", "spark", "--master", "local[2]",
                 "--algo", "als", "--preset", "spark", "-m", path, "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    return path


def test_a_spark_model_is_an_ordinary_model(spark_model, tmp_path):
    model, manifest = persist.load(spark_model)
    assert manifest["engine"] == "spark" and manifest["master"] == "local[2]"
    # The local file it was trained from is hashed, so update can tell it has not changed.
    digest = hashlib.sha256((SAMPLE / "ratings.csv").read_bytes()).hexdigest()
    assert manifest["data"]["sha256"] == digest
    (tmp_path / "new.csv").write_text("user,item,rating\nu1,m003,5\nnewcomer,m002,4\n")
    updated = run("update", tmp_path / "new.csv", "-m", spark_model, "--save-as",
                  tmp_path / "u.model", "-q")  # fmt: skip
    assert updated.exit_code == 0, updated.output
    assert "newcomer" in persist.load(tmp_path / "u.model")[0].user_ids_
    assert (len(model.user_ids_), len(model.item_ids_)) == (1000, 500)
    assert model.user_factors_.shape == (1000, 10)  # Spark's rank 10 by default, as ours
    assert model.train_metrics_["rmse"] < 0.7
    result = run("predict", "--user", "u1", "--item", "m002", "-m", spark_model)
    assert result.exit_code == 0 and "u1,m002," in result.stdout and "false" in result.stdout
    cold = run("predict", "--user", "nobody", "--item", "m002", "-m", spark_model)
    assert cold.exit_code == 0 and cold.stdout.strip().endswith("baseline")
    top = list(csv.DictReader(io.StringIO(run("recommend", "--user", "u1", "-n", "3", "-m",
                                              spark_model).stdout)))  # fmt: skip
    assert len(top) == 3 and all(r["item"].startswith("m") for r in top)


def test_bad_input_on_spark_is_one_error_line(tmp_path):
    missing = run("train", tmp_path / "absent.csv", "--engine", "spark", "--algo", "als",
                  "-m", tmp_path / "m")  # fmt: skip
    assert missing.exit_code == 1 and "no such file or folder" in missing.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,rating\nu1,a,4\nu2,b,great\n")
    result = run("train", bad, "--engine", "spark", "--algo", "als", "-m", tmp_path / "m")
    assert result.exit_code == 1 and "'great' is not a number" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "m").exists()


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Ratings mu + b_u + b_i + p_u . q_i + noise (rank 3, noise 0.1) of 150 users and 80
    items, 40% observed, with string IDs; a train and a test file."""
    rng = np.random.default_rng(7)
    users, items, k = 150, 80, 3
    p, q = rng.normal(0, 0.7, (users, k)), rng.normal(0, 0.7, (items, k))
    value = 3.5 + rng.normal(0, 0.4, (users, 1)) + rng.normal(0, 0.4, (1, items)) + p @ q.T
    u, i = np.nonzero(rng.random((users, items)) < 0.4)
    frame = pd.DataFrame({"user": [f"user{x}" for x in u], "item": [f"item{x}" for x in i],
                          "rating": value[u, i] + rng.normal(0, 0.1, len(u))})  # fmt: skip
    test = rng.random(len(frame)) < 0.2
    folder = tmp_path_factory.mktemp("planted")
    frame[~test].to_csv(folder / "train.csv", index=False)
    frame[test].to_csv(folder / "test.csv", index=False)
    return folder


def _test_rmse(model, folder):
    test = pd.read_csv(folder / "test.csv")
    estimate = model.predict(test.user.to_numpy(str), test.item.to_numpy(str)).values
    return float(np.sqrt(np.mean((estimate - test.rating.to_numpy()) ** 2)))


def test_spark_biases_and_factors_predict_as_well_as_the_local_engine(
    planted, no_ratings_to_the_driver
):
    """With --bias, Spark fits the biases by aggregations and the factors on what they leave,
    in turn (MLlib cannot learn them jointly, as the local ALS does): the test error lands
    within 0.01 of the local engine's (0.256 here; the planted signal spreads 1.0, the noise
    0.1, and the weighted-lambda penalty of 0.1 shrinks what a 40% sample shows)."""
    path = planted / "spark-bias.model"
    result = run("train", planted / "train.csv", "--engine", "spark", "--master", "local[2]",
                 "--algo", "als", "--bias", "-k", "5", "-m", path, "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    spark, manifest = persist.load(path)
    assert spark.uses_bias_ and manifest["params"]["bias"] is True
    local = rf.ALS(bias=True, factors=5).fit(rf.read_ratings(str(planted / "train.csv")))
    spark_rmse, local_rmse = _test_rmse(spark, planted), _test_rmse(local, planted)
    assert local_rmse < 0.3 and abs(spark_rmse - local_rmse) < 0.01, (spark_rmse, local_rmse)
    # The saved biases are the model's: a prediction is mu + b_u + b_i + p.q, clipped.
    u, i = 3, 5
    by_hand = (spark.global_mean_ + spark.user_bias_[u] + spark.item_bias_[i]
               + spark.user_factors_[u] @ spark.item_factors_[i])  # fmt: skip
    low, high = spark.rating_scale_
    assert spark.predict_index(np.array([u]), np.array([i]))[0] == pytest.approx(
        min(max(by_hand, low), high)
    )
    _keeps_what_a_local_adoption_keeps(spark, planted / "train.csv")


@pytest.fixture
def no_ratings_to_the_driver(monkeypatch):
    """Training on Spark must not bring the ratings here: their collection fails the test."""
    from recfactor import spark_engine

    def refuse(*args, **kwargs):
        raise AssertionError("the ratings were collected to the driver")

    monkeypatch.setattr(spark_engine, "local_dataset", refuse)


def _keeps_what_a_local_adoption_keeps(spark, source, options=None):
    """What a Spark-fitted model keeps besides its factors (computed on the cluster: the
    fallback's biases or popularity, the rating scale, each user's seen items, the training
    error) equals what the local engine keeps when it adopts the same factors for the same
    ratings."""
    from recfactor.io.options import ReadOptions

    data = rf.read_ratings(str(source), options or ReadOptions())
    users = pd.Index(spark.user_ids_).get_indexer(data.user_ids)
    items = pd.Index(spark.item_ids_).get_indexer(data.item_ids)
    assert (users >= 0).all() and (items >= 0).all()
    biases = None
    if spark.uses_bias_:
        biases = (spark.global_mean_, spark.user_bias_[users], spark.item_bias_[items])
    local = type(spark)(spark.params).adopt(
        data, spark.user_factors_[users], spark.item_factors_[items], biases
    )
    assert spark.uses_bias_ == local.uses_bias_
    assert spark.global_mean_ == pytest.approx(local.global_mean_, abs=1e-12)
    if local.user_bias_ is not None:
        np.testing.assert_allclose(spark.user_bias_[users], local.user_bias_, atol=1e-9)
    np.testing.assert_allclose(spark.item_bias_[items], local.item_bias_, atol=1e-9)
    assert spark.rating_scale_ == local.rating_scale_
    for u, mine in enumerate(users):
        theirs = spark.seen_items_[spark.seen_indptr_[mine] : spark.seen_indptr_[mine + 1]]
        ours = local.seen_items_[local.seen_indptr_[u] : local.seen_indptr_[u + 1]]
        assert sorted(spark.item_ids_[theirs]) == sorted(data.item_ids[ours])
        assert (np.diff(theirs) >= 0).all()  # sorted, as the local engine keeps them
    assert spark.train_metrics_.keys() == local.train_metrics_.keys()
    for name, value in local.train_metrics_.items():
        assert spark.train_metrics_[name] == pytest.approx(value, rel=1e-9), name


def test_train_on_spark_from_python_reports_each_step(planted, tmp_path, no_ratings_to_the_driver):
    """The Spark fit is not silent: each step (the indexing, each of the three fits of the
    factors between the biases' updates, the collection) moves a bar whose total is known, so
    that it can say how long is left."""
    import contextlib

    seen = []

    @contextlib.contextmanager
    def bar(title):
        seen.append(title)
        yield lambda done=None, total=None: seen.append((done, total))

    # Without biases: one fit of the factors between the indexing and the collection (with
    # them, three: the same path, counted by the same steps, at three times the seconds).
    rf.train_on_spark(str(planted / "train.csv"), rf.Cluster(master="local[2]"), "als",
                      {"factors": 3, "bias": False, "epochs": 3}, seed=1,
                      model_path=tmp_path / "m.model", progress=bar)  # fmt: skip
    assert seen == ["training on Spark", (1, 3), (2, 3), (3, 3)]
    model, manifest = persist.load(tmp_path / "m.model")
    assert manifest["engine"] == "spark"
    _keeps_what_a_local_adoption_keeps(model, planted / "train.csv")


def test_implicit_feedback_on_spark_keeps_the_local_popularity(
    planted, tmp_path, no_ratings_to_the_driver, monkeypatch
):
    from recfactor import spark_summary
    from recfactor.io.options import ReadOptions

    # Pieces of 8 kB: the seen items arrive in ten, in no order, and land in their places.
    monkeypatch.setattr(spark_summary, "COLLECT_BYTES", 8192)

    read = ReadOptions(feedback="implicit")
    model = rf.train_on_spark(str(planted / "train.csv"), rf.Cluster(master="local[2]"), "als",
                              {"factors": 3, "epochs": 3}, read=read)  # fmt: skip
    assert model.feedback_ == "implicit" and model.train_metrics_ == {}
    _keeps_what_a_local_adoption_keeps(model, planted / "train.csv", read)


def test_parquet_and_a_folder_of_part_files_train_the_same_model(planted, tmp_path):
    frame = pd.read_csv(planted / "train.csv")
    frame.to_parquet(tmp_path / "train.parquet")
    parts = tmp_path / "parts"
    parts.mkdir()
    half = len(frame) // 2
    frame[:half].to_csv(parts / "part-00000.csv", index=False)
    frame[half:].to_csv(parts / "part-00001.csv", index=False)
    models = {}
    for name, source in (("csv", planted / "train.csv"), ("parquet", tmp_path / "train.parquet"),
                         ("parts", parts)):  # fmt: skip
        path = tmp_path / f"{name}.model"
        result = run("train", source, "--engine", "spark", "--master", "local[2]", "--algo",
                     "als", "--no-bias", "-m", path, "-q")  # fmt: skip
        assert result.exit_code == 0, (name, result.output)
        models[name] = persist.load(path)[0]
    csv_model = models["csv"]
    for name in ("parquet", "parts"):
        other = models[name]
        assert list(other.user_ids_) == list(csv_model.user_ids_)
        assert list(other.item_ids_) == list(csv_model.item_ids_)
        # The same ratings in other partitions: the same factors up to float32 sums' order.
        np.testing.assert_allclose(other.user_factors_, csv_model.user_factors_, atol=1e-4)


def test_float_ids_name_the_users_the_local_reader_names(planted, tmp_path):
    """A float ID column (pandas writes one for integers with a None among them) was cast by
    Spark to "3.0" where the local reader writes "3": a model trained on Spark knew none of
    the users by the IDs the same file gives here. A NaN is a missing user, refused."""
    frame = pd.read_csv(planted / "train.csv")
    frame["user"] = frame.user.str.slice(4).astype(float) + np.where(frame.index % 7, 0, 0.5)
    frame.to_parquet(tmp_path / "floats.parquet")
    model = rf.train_on_spark(str(tmp_path / "floats.parquet"), rf.Cluster(master="local[2]"),
                              "als", {"factors": 2, "epochs": 1, "bias": False})  # fmt: skip
    local = rf.read_ratings(str(tmp_path / "floats.parquet"))
    assert sorted(model.user_ids_) == sorted(local.user_ids) and "3" in local.user_ids
    frame.loc[5, "user"] = np.nan
    frame.to_parquet(tmp_path / "floats.parquet")
    with pytest.raises(rf.DataError, match="a row has no user"):
        rf.train_on_spark(str(tmp_path / "floats.parquet"), rf.Cluster(master="local[2]"), "als",
                          {"factors": 2, "epochs": 1, "bias": False})  # fmt: skip


def test_evaluate_on_spark_reports_what_the_local_engine_reports(planted):
    """The same sections and the same kind of numbers: splits drawn on the cluster (so not the
    local engine's folds), scored here with the local fallback."""
    args = ["evaluate", planted / "train.csv", "--algo", "als", "-k", "3", "--no-bias",
            "--seeds", "2", "--folds", "2", "--format", "json", "-q"]  # fmt: skip
    spark = run(*args, "--engine", "spark", "--master", "local[2]")
    assert spark.exit_code == 0, spark.output
    local = run(*args)
    reports = {"spark": json.loads(spark.stdout), "local": json.loads(local.stdout)}
    assert set(reports["spark"]) == set(reports["local"])
    assert reports["spark"]["split"]["description"] == "2-fold drawn on Spark, split seed 0"
    runs = reports["spark"]["runs"]
    assert sorted((r["seed"], r["fold"]) for r in runs) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    mean = {k: np.mean([r["metrics"]["rmse"] for r in v["runs"]]) for k, v in reports.items()}
    assert abs(mean["spark"] - mean["local"]) < 0.03, mean
    agreement = reports["spark"]["nonuniqueness"][0]
    assert agreement["algo"] == "als" and set(agreement) == set(
        reports["local"]["nonuniqueness"][0]
    )


def test_without_java_spark_is_one_error_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    result = run("train", SAMPLE / "ratings.csv", "--engine", "spark", "--algo", "als",
                 "-m", tmp_path / "m")  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.startswith("error: Spark needs Java, and none is on this machine")
    assert "hint: install a Java runtime" in result.stderr


def test_an_sc_address_is_a_connect_server_and_a_missing_local_path_fails_before_spark(tmp_path):
    from recfactor.cluster import Cluster
    from recfactor.errors import DataError

    connect = Cluster(master="sc://example.org:15002")
    assert (connect.master, connect.remote) == (None, "sc://example.org:15002")
    for data in (tmp_path / "gone.csv", f"file://{tmp_path}/gone.csv"):
        with pytest.raises(DataError, match="no such file or folder"):
            Cluster(master="local[2]").check_local_path(str(data))
    Cluster(master="spark://host:7077").check_local_path(str(tmp_path / "gone.csv"))  # theirs
    connect.check_local_path(str(tmp_path / "gone.csv"))  # the server's path, not ours


def test_als_checkpoints_where_it_is_told(tmp_path):
    """`--checkpoint-dir`: the session's checkpoint folder (where ALS writes one every 10
    iterations), not a temporary folder on the driver; without it, on a local master, a
    temporary one; a Connect server sets its own; the local engine has none."""
    from recfactor import spark_engine

    folder = tmp_path / "checkpoints"
    spark = spark_engine.session("local[2]", checkpoint=str(folder))
    assert str(folder) in spark.sparkContext.getCheckpointDir()
    spark = spark_engine.session("local[2]")
    assert "recfactor-checkpoints-" in spark.sparkContext.getCheckpointDir()
    refused = run("train", SAMPLE / "ratings.csv", "--engine", "spark", "--master",
                  "sc://127.0.0.1:1", "--checkpoint-dir", folder)  # fmt: skip
    assert refused.exit_code == 2 and "spark.checkpoint.dir" in refused.output
    local = run("train", SAMPLE / "ratings.csv", "--checkpoint-dir", folder)
    assert local.exit_code == 2 and "apply to --engine spark" in local.output


def test_a_local_master_shuffles_into_a_few_partitions_a_core():
    """Spark's 200 shuffle partitions are a cluster's: a session recfactor makes on local[N]
    has 4 a thread (the run's session is one), a cluster's master or a Connect server keeps
    Spark's own (a Connect session was given this machine's count)."""
    from pyspark.sql import SparkSession

    from recfactor.running.workers import available_cores
    from recfactor.spark_engine import shuffle_partitions

    assert SparkSession.getActiveSession().conf.get("spark.sql.shuffle.partitions") == "8"
    masters = ["local", "local[4]", "local[*]", None, "local[3,2]", "spark://h:7077", "yarn"]
    cores = available_cores()
    assert [shuffle_partitions(m, None) for m in masters] == [4, 16, 4 * cores, 4 * cores, 12,
                                                              None, None]  # fmt: skip
    # A Connect server's sessions keep the server's setting (its master is not named here).
    assert shuffle_partitions(None, "sc://127.0.0.1:15002") is None


def test_json_lines_are_read_on_spark_as_here(tmp_path):
    """One JSON object a line, columns by name and in any order, an ID a number or text:
    Spark's reader gives the ratings the local reader gives."""
    from recfactor import spark_engine
    from recfactor.io.options import ReadOptions

    path = tmp_path / "reviews.json"
    path.write_text('{"stars": 4, "user_id": "u1", "business_id": 7, "text": "a, b"}\n'
                    '{"stars": 2.5, "user_id": "u2", "business_id": 7, "text": "{"}\n'
                    '{"stars": 5, "user_id": "u1", "business_id": 9}\n')  # fmt: skip
    spark = spark_engine.session("local[2]")
    rows = spark_engine.read(spark, str(path), ReadOptions()).collect()
    here = rf.read_ratings(path)
    assert sorted((r["user"], r["item"], r["rating"]) for r in rows) == sorted(
        zip(here.user_ids[here.users], here.item_ids[here.items], here.ratings.tolist())
    )


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        ("header.csv", "user,item,rating\n", r"header.csv: holds no ratings"),
        ("nested.json", '{"user": {"id": 1}, "item": 2, "rating": 5}\n',
         r"nested.json, column user: holds struct<id:bigint>, not one user ID a row"),
        ("blank.csv", "user,item,rating\nu1,i1,4\n,i2,3\n", r"a row has no user"),
        ("short.csv", "user,item,rating\nu1,i1,4\nu2,i2\n", r"a row has no rating"),
        ("twice.csv", "user,item,rating\nu1,i1,4\nu2,i1,3\nu1,i1,5\n",
         r"user 'u1' rated item 'i1' 2 times"),
        ("matrix.csv", ",a,b,c\nu1,1,2,3\nu2,4,5,1\n", r"line 1: looks like a matrix"),
    ],
)  # fmt: skip
def test_what_spark_cannot_fit_is_refused_as_here(tmp_path, name, text, said):
    """What the local reader refuses is refused with its kind of message, before MLlib sees
    it: a header alone and a row without its user were internal errors (the mean of no
    ratings, MLlib's indexer); a record was read as the text '{1}', a short row's rating
    named as None, and a pair rated twice and a matrix's columns were fitted silently."""
    from recfactor import spark_engine
    from recfactor.errors import DataError
    from recfactor.io.options import ReadOptions

    path = tmp_path / name
    path.write_text(text)
    spark = spark_engine.session("local[2]")
    with pytest.raises(DataError, match=said):
        spark_engine.read(spark, str(path), ReadOptions())


def test_als_cuts_small_data_into_fewer_blocks_whatever_the_cores():
    """MLlib's 10 x 10 blocks are for large data: 2 below 100,000 ratings, one more for each
    50,000 up to 10: the number follows the ratings alone, never the cores, so the model does
    not depend on where it ran (the recovery test compares a cluster's with local mode's)."""
    from recfactor import spark_engine

    spark = spark_engine.session("local[2]")
    counts = {n: spark_engine._blocks(spark.range(n))["numUserBlocks"]
              for n in (1, 80_000, 100_001, 260_000, 2_000_000)}  # fmt: skip
    assert counts == {1: 2, 80_000: 2, 100_001: 3, 260_000: 6, 2_000_000: 10}
    assert spark_engine._blocks(spark.range(5))["numItemBlocks"] == 2


def test_a_local_checkpoint_folder_goes_with_its_process(tmp_path):
    """Without --checkpoint-dir a local master checkpoints to one temporary folder a process,
    removed when the process ends (one per session, left behind, filled /tmp by MBs a run)."""
    import subprocess
    import sys

    script = (
        "from recfactor import spark_engine as s; a = s._local_checkpoints(); "
        "assert a == s._local_checkpoints(); open(a + '/part', 'w').write('x'); print(a)"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(tmp_path / "recfactor-checkpoints-"))
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def local_model(tmp_path_factory):
    """A model fitted by the local engine (svd): Spark scores any model, not only its own."""
    path = tmp_path_factory.mktemp("scored") / "svd.model"
    assert run("train", SAMPLE / "ratings.csv", "-m", path, "-q").exit_code == 0
    return path


def _parts(folder) -> pd.DataFrame:
    return pd.read_parquet(folder).reset_index(drop=True)


def test_scoring_on_spark_gives_the_engines_numbers(local_model, tmp_path):
    from recfactor.lists import neighbours, recommendations

    model, _ = persist.load(local_model)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("user,item,rating\nu1,m002,4\nu2,m010,3\nnobody,m001,5\nu3,nothing,1\n")
    spark = ("--engine", "spark", "--master", "local[2]", "-m", local_model, "-q")
    assert run("predict", pairs, *spark, "-o", tmp_path / "p.parquet").exit_code == 0
    got = _parts(tmp_path / "p.parquet").sort_values("user").reset_index(drop=True)
    want = model.predict(got.user.to_numpy(str), got.item.to_numpy(str))
    assert got.prediction.tolist() == want.values.tolist()
    assert dict(zip(got.user, got.cold)) == {
        "u1": "false",
        "u2": "false",
        "nobody": "baseline",
        "u3": "baseline",
    }
    # The true rating kept beside each prediction, as the local command keeps it.
    assert dict(zip(got.user, got.rating)) == {"u1": "4", "u2": "3", "nobody": "5", "u3": "1"}
    result = run("recommend", "--all-users", "-n", "4", *spark, "-o", tmp_path / "r.parquet")
    assert result.exit_code == 0, result.output
    lists = _parts(tmp_path / "r.parquet").sort_values(["user", "rank"])
    want = pd.DataFrame(recommendations(model, [str(u) for u in model.user_ids_], 4))
    want = want.sort_values(["user", "rank"])
    assert lists[["user", "item"]].values.tolist() == want[["user", "item"]].values.tolist()
    # The last bits of a score follow the summation order of the process's pair loop (numpy's
    # or the compiled one's, wherever numba is loaded already), not the engine.
    assert lists.score.tolist() == pytest.approx(want.score.tolist(), rel=1e-14)
    result = run("similar", "-n", "3", *spark, "-o", tmp_path / "s.parquet")
    assert result.exit_code == 0, result.output
    near = _parts(tmp_path / "s.parquet").sort_values(["item", "rank"])
    want = pd.DataFrame(neighbours(model, [str(i) for i in model.item_ids_], 3))
    want = want.sort_values(["item", "rank"])
    assert near[["item", "similar_item"]].values.tolist() == (
        want[["item", "similar_item"]].values.tolist()
    )
    assert near.score.tolist() == pytest.approx(want.score.tolist(), rel=1e-14)


def test_pairs_spark_cannot_score_are_refused_as_here(local_model, tmp_path):
    """A file of pairs with a header alone, or a row without its item, is refused as the
    local command refuses it; they were scored (0 pairs written, a blank item as unknown)."""
    spark = ("--engine", "spark", "--master", "local[2]", "-m", local_model, "-q")
    for text, said in (("user,item\n", "holds no user,item pairs"),
                       ("user,item\nu1,m002\nu2,\n", "a row has no item")):  # fmt: skip
        pairs = tmp_path / "pairs.csv"
        pairs.write_text(text)
        result = run("predict", pairs, *spark, "-o", tmp_path / "p.parquet")
        assert result.exit_code == 1 and said in result.stderr, result.output
        assert not (tmp_path / "p.parquet").exists()


def test_scoring_on_spark_refuses_what_it_cannot_do_before_spark_starts(local_model, tmp_path):
    spark = ("--engine", "spark", "--master", "local[2]", "-m", local_model)
    for args in [("predict", SAMPLE / "ratings.csv"),  # no -o folder
                 ("predict", "--user", "u1", "--item", "m002", "-o", tmp_path / "x.csv"),
                 ("recommend", "--user", "u1", "-o", tmp_path / "y.csv"),
                 ("recommend", "-o", tmp_path / "y.csv"),  # neither --all-users
                 ("similar", "--item", "m002", "-o", tmp_path / "z.csv")]:  # fmt: skip
        result = run(*args, *spark)
        assert result.exit_code == 2 and result.stderr.startswith("error: "), (args, result.output)


def test_movielens_lists_and_predictions_on_spark_are_the_local_commands(ml100k, tmp_path):
    model_path = tmp_path / "ml.model"
    assert run("train", ml100k / "u1.base", "-m", model_path, "-q").exit_code == 0
    spark = ("--engine", "spark", "--master", "local[2]", "-m", model_path, "-q")
    result = run("recommend", "--all-users", *spark, "-o", tmp_path / "top.parquet")
    assert result.exit_code == 0, result.output
    local = run("recommend", "--all-users", "-m", model_path, "-q", "-o", tmp_path / "l.csv")
    assert local.exit_code == 0, local.output
    got = _parts(tmp_path / "top.parquet").sort_values(["user", "rank"])
    want = pd.read_csv(tmp_path / "l.csv", dtype={"user": str, "item": str})
    want = want.sort_values(["user", "rank"])
    assert got[["user", "rank", "item"]].values.tolist() == (
        want[["user", "rank", "item"]].values.tolist()
    )
    assert got.score.to_numpy() == pytest.approx(want.score.to_numpy(), rel=5e-6)  # %.6g
    result = run("predict", ml100k / "u1.test", *spark, "-o", tmp_path / "p.parquet")
    assert result.exit_code == 0, result.output
    scored = _parts(tmp_path / "p.parquet")
    model, _ = persist.load(model_path)
    local = model.predict(scored.user.to_numpy(str), scored.item.to_numpy(str)).values
    assert len(scored) == 20_000 and np.abs(scored.prediction.to_numpy() - local).max() < 1e-6


def test_evaluate_fans_svd_and_bpmf_fits_out_as_tasks_and_reports_the_local_numbers(
    tmp_path, monkeypatch
):
    from recfactor import spark_progress
    from tests.conftest import random_ratings_csv

    data = tmp_path / "small.csv"
    data.write_text(random_ratings_csv(60, 40, 0.3, 1))
    common = ("evaluate", data, "--algo", "svd,bpmf", "--seeds", "3", "--folds", "3",
              "--epochs", "30", "--burn-in", "10")  # fmt: skip
    assert run(*common, "-q", "-o", tmp_path / "local.json").exit_code == 0
    monkeypatch.setattr(spark_progress, "EVERY", 0.1)
    result = run(*common, "--engine", "spark", "--master", "local[2]", "-o",
                 tmp_path / "spark.json")  # fmt: skip
    assert result.exit_code == 0, result.output
    # The fits come back together: meanwhile the stage's tasks are counted, one a fit (18 on
    # the folds, and 6 on the whole data for the factors' comparison across seeds).
    lines = [x for x in result.stderr.splitlines() if x.startswith("spark: stage ")]
    assert lines and all(x.endswith(" s)") and "/24 tasks" in x for x in lines), lines

    local = unclocked(tmp_path / "local.json", "runs", "fit_seconds")
    spark = unclocked(tmp_path / "spark.json", "runs", "fit_seconds")
    assert {r["algo"] for r in spark["runs"]} == {"svd", "bpmf"} and len(spark["runs"]) == 18
    assert spark == local


def test_tune_and_stability_fan_their_fits_out_with_the_local_results(tmp_path):
    from tests.conftest import random_ratings_csv

    data = tmp_path / "small.csv"
    data.write_text(random_ratings_csv(60, 40, 0.3, 2))
    spark = ("--engine", "spark", "--master", "local[2]")
    tune = ("tune", data, "--algo", "svd", "--trials", "2", "--seeds", "2", "--folds", "2", "-q")
    assert run(*tune, "-o", tmp_path / "local.json").exit_code == 0
    result = run(*tune, *spark, "-o", tmp_path / "spark.json")
    assert result.exit_code == 0, result.output

    assert unclocked(tmp_path / "spark.json", "trials", "seconds") == (
        unclocked(tmp_path / "local.json", "trials", "seconds")
    )
    sweep = ("stability", data, "--algo", "svd", "--ranks", "1..2", "--seeds", "2", "-q")
    local, spread = run(*sweep), run(*sweep, *spark)
    assert spread.exit_code == 0, spread.output
    assert spread.stdout == local.stdout and "svd,2," in spread.stdout


def test_a_fit_on_spark_says_which_stage_runs(planted, tmp_path, monkeypatch):
    from recfactor import spark_progress

    monkeypatch.setattr(spark_progress, "EVERY", 0.1)
    result = run("train", planted / "train.csv", "--engine", "spark", "--master", "local[2]",
                 "--algo", "als", "--no-bias", "-k", "3", "--epochs", "3", "-m",
                 tmp_path / "m.model")  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [x for x in result.stderr.splitlines() if x.startswith("spark: stage ")]
    assert lines and all("/" in x and " tasks" in x and x.endswith(" s)") for x in lines), lines
    assert not any("$anonfun" in x for x in lines), lines  # a closure's name says nothing
