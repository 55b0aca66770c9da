"""`recfactor tune`: spaces read from the parameter declarations, deterministic trials,
successive halving, the best setting refitted and saved."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recfactor import persist
from recfactor.dataset import Dataset
from recfactor.errors import ParameterError
from recfactor.evaluation import tuning
from tests.cli import run


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Rank 3 plus noise 0.1 on a 1-5 scale: 300 users, 120 items, 30% observed."""
    rng = np.random.default_rng(11)
    p, q = rng.normal(0, 0.6, (300, 3)), rng.normal(0, 0.6, (120, 3))
    value = 3.0 + p @ q.T
    u, i = np.nonzero(rng.random(value.shape) < 0.3)
    rating = value[u, i] + rng.normal(0, 0.1, len(u))
    path = tmp_path_factory.mktemp("tune") / "planted.csv"
    pd.DataFrame({"user": u, "item": i, "rating": rating}).to_csv(path, index=False)
    return path


def test_a_space_is_read_from_the_declarations():
    dims = tuning.parse_space(["k=16..256:log2", "reg=1e-3..1:log", "epochs=10..200",
                               "solver=sgd,lanczos"], "svd")  # fmt: skip
    by_name = {d.name: d for d in dims}
    assert by_name["factors"].grid() == [16, 32, 64, 128, 256]
    assert by_name["reg"].scale == "log" and by_name["reg"].kind is float
    assert by_name["epochs"].kind is int and by_name["solver"].choices == ("sgd", "lanczos")
    rng = np.random.default_rng(0)
    draws = [by_name["reg"].draw(rng) for _ in range(2000)]
    # Log-uniform: as many draws below 0.0316 (the middle of the log range) as above.
    assert 0.45 < np.mean(np.array(draws) < 10**-1.5) < 0.55
    assert all(1e-3 <= d <= 1 for d in draws)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("k=0..8", "factors must be at least 1"),
        ("colour=1..2", "svd has no parameter 'colour'"),
        ("reg=1..0.1", "LOW must be below HIGH"),
        ("reg=0..1:log", "a log scale needs LOW above 0"),
        ("reg=0.1..1:cubic", "scale 'cubic'"),
        ("solver=sgd,newton", "solver is one of"),
        ("k=2.5,4", "factors takes int values, not '2.5'"),
        ("reg", "write NAME=LOW..HIGH"),
    ],
)
def test_a_bad_space_is_refused_with_its_reason(text, said):
    with pytest.raises(ParameterError, match=said.replace("(", r"\(")):
        tuning.parse_space([text], "svd")


def test_random_trials_follow_the_seed_and_a_grid_covers_its_points():
    dims = tuning.parse_space(["k=2..16:log2", "reg=0.01..1:log"], "svd")
    first = tuning.settings(dims, 10, "random", seed=3)
    assert first == tuning.settings(dims, 10, "random", seed=3)
    assert first != tuning.settings(dims, 10, "random", seed=4)
    grid = tuning.settings(dims, 0, "grid", seed=0)
    assert len(grid) == 4 * tuning.GRID_POINTS
    assert {g["factors"] for g in grid} == {2, 4, 8, 16}


def test_successive_halving_gives_the_best_settings_more_epochs(planted):
    data = Dataset.from_frame(pd.read_csv(planted, dtype={"user": str, "item": str}))
    dims = tuning.parse_space(["k=1..8", "reg=0.005..0.2:log"], "als")
    found = tuning.search(data, "als", dims, trials=9, seed=0, fixed={"epochs": 27,
                          "bias": True}, split={"folds": 3})  # fmt: skip
    per_rung = [[row for row in found.trials if row["rung"] == r] for r in range(3)]
    assert [rows[0]["epochs"] for rows in per_rung] == [3, 9, 27]
    # The settings promoted are the best of the rung below, and the defaults (trial 0), which
    # are compared at every budget.
    best_first = sorted(per_rung[0], key=lambda row: row["rmse"])[:3]
    promoted = {row["trial"] for row in best_first} | {0}
    assert {row["trial"] for row in per_rung[1]} == promoted
    assert len(per_rung[0]) == 9 and len(per_rung[1]) == len(promoted)
    assert 0 in {row["trial"] for row in per_rung[2]}
    # The best is the best score seen, at the budget it was seen at.
    best = min(found.trials, key=lambda row: row["rmse"])
    assert found.best_score == best["rmse"] and found.best["epochs"] == best["epochs"]
    # The planted rank is 3: the winner has at least 3 factors and an error near the noise.
    assert found.best["factors"] >= 3 and found.best_score < 0.2


def test_tune_twice_gives_the_same_trials_and_model(planted, tmp_path):
    models = []
    outputs = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.model"
        result = run("tune", planted, "--algo", "svd", "--space", "k=1..6", "--space",
                     "reg=0.005..0.2:log", "--trials", "6", "--folds", "3", "--format", "json",
                     "-m", path, "-q")  # fmt: skip
        assert result.exit_code == 0, result.output
        outputs.append(json.loads(result.stdout))
        models.append(persist.load(path))
    for out in outputs:
        for row in out["trials"]:
            row.pop("seconds")
    assert outputs[0] == outputs[1]
    (a, manifest), (b, _) = models
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    best = outputs[0]["best"]
    assert a.params.factors == best["factors"] and a.params.reg == best["reg"]
    assert manifest["tuning"]["best_score"] == outputs[0]["best_score"]
    assert manifest["tuning"]["space"] == ["k=1..6", "reg=0.005..0.2:log"]


def test_the_tuned_model_evaluates_across_seeds_and_tune_reruns_the_best(planted, tmp_path):
    path = tmp_path / "tuned.model"
    result = run("tune", planted, "--algo", "als", "--bias", "--space", "k=2,3,4", "--trials", "3",
                 "--no-halving", "--seeds", "3", "--folds", "3", "--format", "json", "-m", path,
                 "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert len(out["trials"]) == 3 and {row["rung"] for row in out["trials"]} == {0}
    assert [r["rank"] for r in out["across_seeds"]] == [1, 2, 3]
    assert all(r["min"] <= r["mean"] <= r["max"] and r["std"] >= 0 for r in out["across_seeds"])
    report = run("evaluate", "-m", path, "--seeds", "5", "--folds", "3", "--format", "json", "-q")
    assert report.exit_code == 0, report.output
    summary = json.loads(report.stdout)["summary"]
    rmse = next(s for s in summary if s["metric"] == "rmse")
    assert rmse["std"] > 0 and rmse["mean"] < 0.3


def test_tune_refuses_a_parameter_both_searched_and_fixed(planted):
    result = run("tune", planted, "--algo", "svd", "--space", "k=1..4", "-k", "3")
    assert result.exit_code == 2 and "factors: both searched and fixed" in result.stderr
    missing = run("tune", planted, "--algo", "svd", "--space-file", planted.parent / "no.toml")
    assert missing.exit_code == 1 and "no.toml: no such file" in missing.stderr
    # No trial at all: refused before the note of which space it would search.
    none = run("tune", planted, "--algo", "svd", "--trials", "0")
    assert none.exit_code == 2 and "--trials must be at least 1" in none.stderr
    assert "searching" not in none.stderr, none.stderr


def test_the_defaults_are_trial_0_and_halving_stops_at_two_rungs(planted):
    """A search cannot score worse than the model's defaults on its own folds, and the first
    rung is never under a ninth of the epochs (a 1/27 rung ranked by how fast a setting
    starts)."""
    data = Dataset.from_frame(pd.read_csv(planted, dtype={"user": str, "item": str}))
    dims = tuning.parse_space(["k=1..8", "reg=0.005..0.2:log", "epochs=9..27"], "svd")
    found = tuning.search(data, "svd", dims, trials=30, seed=1, split={"folds": 2})
    first = next(row for row in found.trials if row["trial"] == 0 and row["rung"] == 0)
    # svd's declared defaults: k 100, and no reg (each fit chooses its own on a holdout)
    assert first["factors"] == 100 and "reg" not in first
    assert first["epochs"] == round(20 / 9)
    rungs = [row["rung"] for row in found.trials]
    assert max(rungs) == 2 and rungs.count(0) == 30 and rungs.count(1) in (10, 11)
    # The defaults reach the last rung whatever their first score: fitted in full.
    last = [row for row in found.trials if row["trial"] == 0 and row["rung"] == 2]
    assert last and last[0]["epochs"] == 20


def test_without_a_space_tune_searches_the_declared_one(planted):
    """`recfactor tune DATA --algo svd --trials N` needs no --space: each parameter declares
    the range worth searching; a flag fixes its parameter out of the space."""
    result = run("tune", planted, "--algo", "svd", "--trials", "3", "--folds", "2",
                 "--format", "json", "--reg", "0.05")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "searching svd's default space: factors=16..256:log2 epochs=10..100" in result.stderr
    out = json.loads(result.stdout)
    assert out["space"] == tuning.default_space("svd", "explicit", ["reg"])
    assert {row["reg"] for row in out["trials"]} == {0.05}
    assert all(16 <= row["factors"] <= 256 for row in out["trials"][1:])


def test_svd_trials_leave_the_penalty_to_the_data_as_its_default_does(planted, tmp_path):
    """svd's space holds no penalty: each trial's fit chooses its own on a held-out tenth, as
    the default fit does, and the tuned model keeps the one it chose."""
    path = tmp_path / "t.model"
    result = run("tune", planted, "--algo", "svd", "--trials", "4", "--folds", "2",
                 "--format", "json", "-m", str(path))  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert not any(text.startswith("reg=") for text in out["space"])
    assert all("reg" not in row for row in out["trials"])
    reg = persist.load(path)[0].params.reg
    assert isinstance(reg, float) and 0.0 < reg < 1.0


def test_a_small_space_gives_each_setting_once_however_many_trials():
    """k=2..4 by reg in {0.01, 0.02} holds 6 settings: asking for a million trials gives those
    6 (the defaults first, where they are one), at once, instead of drawing forever."""
    dims = tuning.parse_space(["k=2..4", "reg=0.01,0.02"], "svd")
    drawn = tuning.settings(dims, 1_000_000, "random", 0, {"factors": 3, "reg": 0.02})
    assert drawn[0] == {"factors": 3, "reg": 0.02}
    assert sorted((s["factors"], s["reg"]) for s in drawn) == sorted(
        (k, r) for k in (2, 3, 4) for r in (0.01, 0.02)
    )
    assert tuning.settings(dims, 6, "random", 0) == tuning.settings(dims, 6, "random", 0)
    with pytest.raises(ParameterError, match="trials"):
        tuning.settings(tuning.parse_space(["reg=0.01..0.1"], "svd"), 10**9, "random", 0)


@pytest.mark.parametrize(
    ("space", "match"),
    [("reg=0.01..inf", "finite"), ("reg=nan,0.1", "finite"), ("reg=1e-3..1e400", "finite"),
     ("k=1..1e300", "beyond"), ("lr=-1e308..1.7e308", "wider")],
)  # fmt: skip
def test_a_space_with_bounds_no_draw_can_use_is_refused(space, match):
    with pytest.raises(ParameterError, match=match):
        tuning.parse_space([space], "svd")


def test_seeds_beyond_int64_are_refused_before_any_fit(planted):
    for args, said in ((["--seed", str(2**63)], "--seed must be"),
                       (["--seeds", str(10**30)], "--seeds"),
                       (["--search-seed", str(2**63)], "--search-seed must be")):  # fmt: skip
        result = run("tune", planted, "--algo", "baseline", "--trials", "2", "-q", *args)
        assert result.exit_code == 2 and said in result.stderr, result.stderr
        assert "internal error" not in result.stderr


def test_the_time_budget_stops_the_trial_running_at_the_deadline(monkeypatch):
    """A fake clock that moves one second per fold's fit: with 5 folds a trial, a budget of
    7.5 s finishes trial 0 (t = 5), starts trial 1 and drops it after its third fit (t = 8,
    within the budget plus one fit), instead of finishing it at t = 10."""
    import time

    from recfactor.evaluation import runner as ev

    clock = [0.0]
    fits = []
    real_run_one = ev._run_one

    def run_one(*args):
        out = real_run_one(*args)
        clock[0] += 1.0
        fits.append(clock[0])
        return out

    monkeypatch.setattr(ev, "_run_one", run_one)
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    rng = np.random.default_rng(0)
    users = rng.integers(0, 30, 600)
    items = rng.integers(0, 20, 600)
    data = Dataset.from_arrays(users, items, rng.integers(1, 6, 600).astype(float),
                               duplicates="last")  # fmt: skip
    dims = tuning.parse_space(["reg_u=1..20", "reg_i=1..20"], "baseline")
    found = tuning.search(data, "baseline", dims, trials=5, halving=False, time_budget=7.5,
                          split={"folds": 5}, jobs=1)  # fmt: skip
    assert fits == [1, 2, 3, 4, 5, 6, 7, 8] and found.stopped_early
    assert [row["trial"] for row in found.trials] == [0]
    with pytest.raises(ParameterError, match="no trial finished within"):
        clock[0] = 0.0
        tuning.search(data, "baseline", dims, trials=5, halving=False, time_budget=2.5,
                      split={"folds": 5}, jobs=1)  # fmt: skip


def test_one_trial_is_the_defaults_alone():
    dims = tuning.parse_space(["k=8..128:log2", "reg=0.02..0.5:log"], "als")
    defaults = {"reg": 0.1}
    assert tuning.settings(dims, 1, "random", 0, defaults) == [defaults]
    assert len(tuning.settings(dims, 2, "random", 0, defaults)) == 2


def test_search_seed_draws_the_settings_and_seed_seeds_the_models(planted):
    """One vocabulary: --seed is the model's seed in tune as in train; --search-seed draws."""

    def trials(*args):
        result = run("tune", planted, "--algo", "svd", "--space", "k=2..8", "--space",
                     "reg=0.01..0.1:log", "--trials", "3", "--no-halving", "--folds", "2",
                     "--epochs", "5", "--format", "json", "-q", *args)  # fmt: skip
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["trials"]

    base = trials()
    drawn = trials("--search-seed", "1")
    assert [r.get("factors") for r in drawn] != [r.get("factors") for r in base]
    seeded = trials("--seed", "1")
    assert [r.get("factors") for r in seeded] == [r.get("factors") for r in base]
    assert [r["rmse"] for r in seeded] != [r["rmse"] for r in base]


def test_trials_that_all_score_undefined_are_a_data_error_not_a_time_budget(tmp_path):
    """Three interactions leave no user to rank in any fold: precision is undefined for every
    trial. It read "no trial finished; hint: raise --time-budget", exit 2."""
    data = tmp_path / "edges.txt"
    data.write_text("# Directed graph\n1\t2\n2\t3\n3\t1\n")
    result = run("tune", data, "--algo", "als", "--trials", "2", "--folds", "2", "--feedback",
                 "implicit", "-m", tmp_path / "t.model", "-q")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "every trial's precision@10 was undefined" in result.stderr.splitlines()[0]
    assert not (tmp_path / "t.model").exists()
