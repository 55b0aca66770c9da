"""One contract, every registered model, both kinds of feedback: shapes, the cold-start flag,
clipping, the same seed giving the same arrays, a save/load round trip, NotFittedError, and
each parameter changing the model where it applies."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from recfactor import persist
from recfactor.dataset import Dataset
from recfactor.errors import NotFittedError, ParameterError
from recfactor.models import ALGORITHMS, model_class

FEEDBACKS = ("explicit", "implicit")
ARRAYS = ("user_bias", "item_bias", "user_factors", "item_factors")
# Small enough for a truncated SVD of every rank used here, large enough to learn something.
# svd's dense_rows at 10: the rows here have 10-20 ratings (300 would leave every row alone).
SMALL = {"svd": {"factors": 3, "dense_rows": 10}, "nmf": {"factors": 3}, "als": {"factors": 3},
         "baseline": {}, "svdpp": {"factors": 3}, "bpmf": {"factors": 3, "epochs": 12, "burn_in": 4,
                                           "samples": 4},
         "bfm": {"factors": 3, "epochs": 12, "burn_in": 4, "samples": 4}}  # fmt: skip


@pytest.fixture(scope="module")
def datasets() -> dict[str, Dataset]:
    rng = np.random.default_rng(0)
    keys = rng.choice(40 * 25, size=500, replace=False)
    users, items = (keys // 25).astype(str), (keys % 25).astype(str)
    ratings = rng.integers(1, 6, len(keys)).astype(float)
    return {f: Dataset.from_arrays(users, items, ratings, feedback=f) for f in FEEDBACKS}


def fitted(algo: str, data: Dataset, **params):
    cls = model_class(algo)
    return cls(**{**SMALL[algo], **params}).fit(data)


def arrays(model) -> dict[str, np.ndarray | None]:
    return {name: getattr(model, name + "_") for name in ARRAYS}


CASES = [(algo, f) for algo in ALGORITHMS for f in FEEDBACKS if f in model_class(algo).feedbacks]


@pytest.mark.parametrize(("algo", "feedback"), CASES)
def test_shapes_cold_flag_and_clipping(datasets, algo, feedback):
    data = datasets[feedback]
    model = fitted(algo, data)
    if model.user_factors_ is not None:
        k = model.user_factors_.shape[1]
        assert model.user_factors_.shape == (data.n_users, k)
        assert model.item_factors_.shape == (data.n_items, k)
    result = model.predict(["0", "nobody", "1"], ["3", "4", "nothing"])
    assert result.values.shape == (3,) and result.cold.tolist() == [False, True, True]
    assert np.isfinite(result.values).all()
    if feedback == "explicit":
        users = np.repeat(np.arange(data.n_users), data.n_items)
        everything = model.predict_index(users, np.tile(np.arange(data.n_items), data.n_users))
        assert everything.min() >= 1.0 and everything.max() <= 5.0
    top = model.recommend("0", n=5)
    assert len(top) == 5 and len({item for item, _ in top}) == 5


@pytest.mark.parametrize(("algo", "feedback"), CASES)
def test_same_seed_same_arrays_and_a_save_load_round_trip(tmp_path, datasets, algo, feedback):
    data = datasets[feedback]
    first, second = fitted(algo, data, seed=7), fitted(algo, data, seed=7)
    for name, value in arrays(first).items():
        other = arrays(second)[name]
        assert (value is None) == (other is None)
        if value is not None:
            assert value.tobytes() == other.tobytes(), name
    loaded, _ = persist.load(persist.save(first, tmp_path / "m.model"))
    pairs = (data.user_ids[data.users[:50]], data.item_ids[data.items[:50]])
    np.testing.assert_array_equal(loaded.predict(*pairs).values, first.predict(*pairs).values)
    assert loaded.recommend("0", n=5) == first.recommend("0", n=5)


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_an_unfitted_model_says_so(tmp_path, algo):
    model = model_class(algo)(**SMALL[algo])
    for call in (lambda: model.predict(["0"], ["1"]), lambda: model.recommend("0"),
                 lambda: persist.save(model, tmp_path / "m.model")):  # fmt: skip
        with pytest.raises(NotFittedError):
            call()


def _other_value(spec: dataclasses.Field, value):
    """A valid value other than ``value`` for a parameter."""
    if spec.metadata.get("choices"):
        return next(c for c in spec.metadata["choices"] if c != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 2
    if isinstance(value, float):
        high = spec.metadata.get("max")
        other = value * 3 if value else 0.5
        return value / 2 if high is not None and other > high else other
    return None


# Parameters that do not change the model on this kind of feedback, at the SMALL settings:
# what the CLI refuses as "does not apply" (cli.UNUSED_WITH), and what only one solver reads.
UNUSED = {
    ("baseline", "implicit"): {"epochs", "reg_u", "reg_i", "seed"},  # popularity
    ("baseline", "explicit"): {"seed"},  # no random start
    # PureSVD: a truncated SVD, whichever solver is named; its seed is ARPACK's start vector.
    ("svd", "implicit"): {
        "epochs",
        "lr",
        "lr_decay",
        "standardize",
        "init_mean",
        "init_std",
        "bias",
        "solver",
        "dense_rows",
        "early_stop",
    },
    # early_stop acts on more than a million ratings (tests/test_early_stop.py).
    ("svd", "explicit"): {"early_stop"},
    # reg_bu and reg_bi regularise the biases of bias=True only.
    ("nmf", "explicit"): {
        "init",
        "l1_w",
        "l1_h",
        "l2_w",
        "l2_h",
        "tol",
        "reg_bu",
        "reg_bi",
        "solver",
    },  # solver="cd" is for implicit data
    ("nmf", "implicit"): {"bias", "reg_pu", "reg_qi", "reg_bu", "reg_bi", "init_low", "init_high"},
    # cg_steps counts the steps of solver="cg", which is for implicit data.
    ("als", "explicit"): {"alpha", "confidence", "cg_steps", "solver"},
    ("als", "implicit"): {"nonnegative", "cg_steps"},
    ("svdpp", "explicit"): set(),
    ("bpmf", "explicit"): set(),
    # time: each rating's day, where the data has times (these have none); ensemble: refused,
    # bfm averages its own posterior draws.
    ("bfm", "explicit"): {"time", "ensemble"},
}


@pytest.mark.parametrize(("algo", "feedback"), CASES)
def test_each_parameter_changes_the_model_where_it_applies(datasets, algo, feedback):
    data = datasets[feedback]
    base = fitted(algo, data)
    unchanged = set()
    declared = model_class(algo).params_class(**SMALL[algo])  # before the fit resolves it
    for spec in dataclasses.fields(declared):
        value = getattr(declared, spec.name)
        if value is None and spec.metadata.get("choices"):
            value = getattr(declared.resolved(feedback), spec.name)  # then another choice
        if spec.name == "factors":
            continue  # shapes change: tested above
        other = _other_value(spec, value)
        if other is None:
            continue  # None: decided by the data; its resolved value is tested elsewhere
        try:
            model = fitted(algo, data, **{spec.name: other})
        except ParameterError:
            unchanged.add(spec.name)  # refused for this feedback: applies elsewhere
            continue
        same = all(
            (a is None and b is None) or (a is not None and b is not None and
                                          a.tobytes() == b.tobytes())
            for a, b in zip(arrays(base).values(), arrays(model).values())
        )  # fmt: skip
        if same:
            unchanged.add(spec.name)
    assert unchanged == UNUSED[(algo, feedback)]


@pytest.mark.parametrize(
    ("algo", "feedback", "resolved"),
    [("als", "explicit", {"factors": 10, "reg": 0.1, "bias": True}),
     ("als", "implicit", {"factors": 64, "reg": 150.0, "bias": False}),
     ("nmf", "explicit", {"epochs": 50, "solver": "mu"}),
     ("nmf", "implicit", {"epochs": 200, "solver": "cd"})],
)  # fmt: skip
def test_a_fitted_model_records_the_values_it_used(tmp_path, datasets, algo, feedback, resolved):
    """Parameters "decided by the data" (None) are recorded as decided: inspect showed
    factors=None for ALS."""
    model = model_class(algo)().fit(datasets[feedback])
    _, manifest = persist.load(persist.save(model, tmp_path / "m.model"))
    assert {k: manifest["params"][k] for k in resolved} == resolved
