"""A parameter declared on a model is a command-line flag, with its help, its default and
its refusals, and nothing else needs editing: shown with a model that exists only here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from recfactor.cli import common as cli
from recfactor.errors import ParameterError
from recfactor.models import _REGISTRY
from recfactor.models.base import Model, Params, declare
from recfactor.models.flags import model_params


@dataclass(frozen=True)
class ShrunkParams(Params):
    shrinkage: float = declare(0.5, low=0.0, help="Shrink the item means toward the global mean",
                               feedback="explicit")  # fmt: skip


class Shrunk(Model):
    """Item means shrunk toward the global mean: a model of one parameter."""

    name = "shrunk"
    params_class = ShrunkParams

    def _fit(self, dataset, rng) -> None:
        self.global_mean_ = float(dataset.ratings.mean())
        sums = np.bincount(dataset.items, dataset.ratings, minlength=dataset.n_items)
        counts = np.bincount(dataset.items, minlength=dataset.n_items)
        self.item_bias_ = (sums - counts * self.global_mean_) / (counts + self.params.shrinkage)


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(_REGISTRY, "shrunk", (__name__, "Shrunk"))
    monkeypatch.setattr("recfactor.models.ALGORITHMS", (*_REGISTRY,))


def test_a_declared_parameter_becomes_a_flag_with_its_rules(registered):
    from recfactor.models.flags import model_flags

    flag = model_flags()["shrinkage"]
    assert flag.option == "--shrinkage" and flag.kind is float
    assert flag.targets == {"shrunk": ("shrinkage",)}
    assert "Shrink the item means" in flag.help and "shrunk (explicit) 0.5" in flag.help
    assert model_params("shrunk", {"shrinkage": 2.0}, "explicit") == {"shrinkage": 2.0}
    with pytest.raises(ParameterError, match="--shrinkage does not apply to --algo shrunk "
                                             "with --feedback implicit"):  # fmt: skip
        model_params("shrunk", {"shrinkage": 2.0}, "implicit")
    with pytest.raises(ParameterError, match="--shrinkage does not apply to --algo svd"):
        model_params("svd", {"shrinkage": 2.0}, "explicit")

    # A command that takes the model flags shows it, and passes it on.
    app = typer.Typer()
    seen = {}

    @app.command()
    @cli.with_model_flags()
    def fit(name: str, **model_flags) -> None:
        seen.update(model_flags)

    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert "--shrinkage" in result.stdout
    assert CliRunner().invoke(app, ["x", "--shrinkage", "3"]).exit_code == 0
    assert seen["shrinkage"] == 3.0


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["predict", "-u", "1", "--user", "2", "--item", "3"], "-u is given twice (as --user)"),
        (["train", "d.csv", "--algo", "svd", "--algo", "als"], "--algo is given twice"),
        (["tune", "d.csv", "--halving", "--no-halving"], "--halving is given twice"),
        (["recommend", "--user=-1", "--user", "2"], "--user is given twice"),
        (["train", "d.csv", "-k5", "-k", "6"], "-k is given twice"),
    ],
)
def test_a_single_valued_option_given_twice_is_a_usage_error(args, said):
    """Click keeps the last of a repeated option without a word; the user meant one of them.
    Repeatable options (evaluate's --algo, --space) stay repeatable."""
    from tests.test_corpus import invoke

    code, out, err = invoke(args)
    assert code == 2 and said in err and out == "", err


def test_a_value_that_looks_like_an_option_is_not_counted_as_one():
    import typer.main

    from recfactor.cli.common import app
    from recfactor.cli.helptext import _repeated_option

    params = typer.main.get_command(app).commands["predict"].params
    # --user takes "--item" as its value; one --item follows.
    assert _repeated_option(params, ["--user", "--item", "--item", "x"]) is None
    assert _repeated_option(params, ["--", "--user", "--user"]) is None
    assert _repeated_option(params, ["--user", "a", "--user", "b"]) == "--user is given twice"


@pytest.mark.parametrize(
    ("args", "error", "hint"),
    [
        (["-k", "0"], "--factors must be at least 1 (got 0)", "give --factors 1 or more"),
        (["--lr", "0"], "--lr must be above 0.0 (got 0)", "give --lr a value above 0.0"),
        (["--epochs", "200000"], "--epochs must be at most 100000 (got 200000)",
         "give --epochs 100000 or less"),
        (["--algo", "als", "--solver", "lu"], "--solver must be one of cholesky, cg",
         "choose --solver from cholesky, cg"),
    ],
)  # fmt: skip
def test_a_value_out_of_range_names_its_flag_the_value_and_what_to_give(
    args, error, hint, tmp_path
):
    """The engine declares each parameter's range once; the command line reads its refusal
    with the flag's name, the value given, and a hint, and exits 2 (a usage error)."""
    from tests.test_corpus import invoke

    data = tmp_path / "d.csv"
    data.write_text("u,i,r\na,x,3\nb,y,4\n")
    code, out, err = invoke(["train", str(data), "-m", str(tmp_path / "m"), *args])
    assert code == 2 and out == "", err
    assert err.splitlines() == [f"error: {error}", f"hint: {hint}"]
    assert not (tmp_path / "m").exists()
