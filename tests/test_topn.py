"""Top-N metrics against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recfactor.evaluation import per_user_holdout
from recfactor.evaluation.metrics import parse_metrics, topn
from recfactor.io.ratings import Dataset

D2, D3 = 1 / math.log2(3), 1 / math.log2(4)


def test_hand_computed_lists():
    # user 0: list [5, 1, 2], relevant {1} plus one item that cannot be recommended (n = 2)
    # user 1: list [3] (shorter than k), relevant {3}
    # user 2: no relevant item: left out of every average but coverage
    lists = np.array([[5, 1, 2], [3, -1, -1], [0, 4, 6]])
    got = topn(lists, np.array([0, 1]), np.array([1, 3]), np.array([2, 1, 0]), 10, 3)
    assert got["precision"] == pytest.approx((1 / 3 + 1 / 3) / 2)
    assert got["recall"] == pytest.approx((1 / 2 + 1) / 2)
    assert got["ndcg"] == pytest.approx((D2 / (1 + D2) + 1) / 2)
    assert got["map"] == pytest.approx(((1 / 2) / 2 + 1) / 2)
    assert got["coverage"] == pytest.approx(7 / 10)


def test_cutoff_below_list_length_and_all_hits():
    lists = np.array([[0, 1, 2, 3]])
    got = topn(lists, np.array([0, 0, 0]), np.array([0, 1, 3]), np.array([3]), 4, 2)
    assert got["precision"] == 1.0
    assert got["recall"] == pytest.approx(2 / 3)
    assert got["ndcg"] == pytest.approx(1.0)  # two hits in the two best places
    assert got["map"] == pytest.approx(1.0)
    assert got["coverage"] == pytest.approx(2 / 4)


def test_tied_scores_rank_by_item_index():
    """Ties in the scores are broken by the lower item index, so a list is reproducible."""
    from recfactor.models.scoring import top_n

    scores = np.array([[0.5, 0.9, 0.5, 0.9, 0.1]])
    idx, vals = top_n(scores, 3)
    assert idx.tolist() == [[1, 3, 0]] and vals.tolist() == [[0.9, 0.9, 0.5]]
    scores[0, 4] = -np.inf  # excluded items never appear, even when k is larger
    idx, _ = top_n(scores, 5)
    assert idx.tolist() == [[1, 3, 0, 2, -1]]


def test_no_relevant_items_at_all_gives_nan_not_zero():
    got = topn(np.array([[0, 1]]), np.array([], dtype=int), np.array([], dtype=int),
               np.array([0]), 5, 2)  # fmt: skip
    assert math.isnan(got["ndcg"]) and got["coverage"] == pytest.approx(2 / 5)


def test_metric_names():
    assert parse_metrics("NDCG, precision@5,rmse") == ["ndcg@10", "precision@5", "rmse"]
    with pytest.raises(Exception, match="unknown metric"):
        parse_metrics("ndcg@0")
    with pytest.raises(Exception, match="unknown metric"):
        parse_metrics("rmse@3")


def test_per_user_holdout_fraction_and_count():
    users = np.repeat(np.arange(4), [10, 5, 2, 1])
    items = np.arange(len(users))
    data = Dataset.from_arrays(users, items, feedback="implicit")
    (split,) = per_user_holdout(data, 0.2, seed=3)
    test_users = np.bincount(data.users[split.test], minlength=4)
    assert test_users.tolist() == [2, 1, 0, 0]  # 20% rounded; a user keeps one training item
    assert sorted(np.r_[split.train, split.test].tolist()) == list(range(len(users)))
    (split,) = per_user_holdout(data, 3, seed=3)
    assert np.bincount(data.users[split.test], minlength=4).tolist() == [3, 3, 1, 0]
    again = per_user_holdout(data, 3, seed=3)[0]
    assert again.test.tolist() == split.test.tolist()


def test_lists_narrower_than_k_are_padded():
    """A catalogue of three items cannot fill a top-10 list: precision still divides by 10."""
    got = topn(np.array([[2, 0, 1]]), np.array([0]), np.array([0]), np.array([1]), 3, 10)
    assert got["precision"] == pytest.approx(0.1)
    assert got["recall"] == 1.0 and got["ndcg"] == pytest.approx(D2)
    assert got["map"] == pytest.approx(1 / 2)


def test_a_threshold_no_rating_reaches_is_an_error_before_any_fit():
    from recfactor.errors import DataError
    from recfactor.evaluation import AlgoSpec, cross_validate, kfold

    data = Dataset.from_arrays(["a", "a", "b", "b"], ["x", "y", "x", "y"], [1, 2, 3, 5])
    with pytest.raises(DataError, match="no rating is 6 or more") as err:
        cross_validate(data, [AlgoSpec("baseline")], [0], ["ndcg@2"], splits=kfold(4, 2, 0),
                 relevant_threshold=6.0)  # fmt: skip
    assert "ratings run 1 to 5" in err.value.hint


def test_recommend_and_similar_leave_out_rarely_rated_items_by_default(tmp_path):
    """The default floor is 5% of the mean ratings per item: here 2, so the item rated once
    is left out (and that is said); --min-ratings 0 keeps it."""
    from tests.cli import rows, run

    lines = ["user,item,rating"]
    lines += [f"u{u},i{i},{1 + (u * i) % 5}" for u in range(60) for i in range(8)]
    lines += ["u0,rare,5"]  # 8 items of 60 ratings and one of 1: mean 53.4, floor 3
    data = tmp_path / "d.csv"
    data.write_text("\n".join(lines) + "\n")
    model = tmp_path / "m.model"
    assert run("train", data, "--algo", "als", "-k", "2", "-m", model, "-q").exit_code == 0
    result = run("recommend", "--user", "u1", "-n", "9", "-m", model)
    assert "rare" not in {r["item"] for r in rows(result.stdout)}
    assert "left out 1 item(s) with fewer than 3 training ratings" in result.stderr
    kept = run("recommend", "--user", "u1", "-n", "9", "-m", model, "--min-ratings", "0")
    assert "rare" in {r["item"] for r in rows(kept.stdout)} and "left out" not in kept.stderr
    similar = run("similar", "--item", "i1", "-n", "8", "-m", model, "-q")
    assert "rare" not in {r["similar_item"] for r in rows(similar.stdout)}
