"""`recfactor predict`: one pair, or a batch of pairs from a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from recfactor.cli.common import (
    DEFAULT_MODEL,
    History,
    ItemId,
    ItemNames,
    ModelPath,
    Quiet,
    UserAttrs,
    UserId,
    app,
    handle_errors,
    known_rows,
    load_model,
    read_titles,
    tell,
)
from recfactor.cli.groups import FEATURES, OUTPUT, READ, SPARK, with_groups
from recfactor.cli.helptext import Command


@app.command(cls=Command)
@handle_errors
@with_groups
def predict(
    pairs: Annotated[
        Optional[str],
        typer.Argument(
            metavar="PAIRS", help="File of user,item pairs (or -) for batch prediction."
        ),
    ] = None,
    user: UserId = None,
    item: ItemId = None,
    model: ModelPath = Path(DEFAULT_MODEL),
    strict: Annotated[
        bool, typer.Option("--strict", help="Unknown users or items are an error.")
    ] = False,
    items_file: ItemNames = None,
    interval: Annotated[
        Optional[float],
        typer.Option(
            "--interval",
            metavar="LEVEL",
            help="Add low,high: an interval holding "
            "this share of ratings, noise included (bpmf, bfm), e.g. 0.9.",
        ),
    ] = None,
    history: History = None,
    user_attrs: UserAttrs = None,
    features: Any = FEATURES,
    read: Any = READ.only("sep", "header", "user_col", "item_col"),
    out: Any = OUTPUT,
    cluster: Any = SPARK,
    quiet: Quiet = False,
) -> None:
    """Predict ratings: one pair with --user/--item, or a batch from PAIRS (csv on stdout),
    each row with the input's other columns (the true rating survives a pipeline)."""
    if cluster is not None:  # every pair scored by the cluster's executors
        return _on_spark(cluster, model, pairs, read, out, quiet, user, item, history,
                         user_attrs, interval, items_file, features or None)  # fmt: skip
    single = _one_pair(pairs, user, item)
    fitted, *paths, _ = known_rows(load_model(model, seen=False)[0], history, features, quiet,
                                   user_attrs, user)  # fmt: skip
    _check_interval(fitted, interval)  # refused before any pair is read
    names = read_titles(items_file)
    if single:
        return _predict_one(fitted, user, item, strict, names, out, quiet, paths, interval)
    from recfactor.cli.output import to_output
    from recfactor.coldstart import answers
    from recfactor.io.pairs import read_pair_table
    from recfactor.io.predictions import write_predictions

    u, i, others = read_pair_table(pairs, read)
    result = fitted.predict_coded(u.ids, u.codes, i.ids, i.codes, strict=strict)
    _at_their_days(fitted, u, i, others, result, pairs)
    _note_cold(fitted, result.cold, None, quiet)
    answered = answers(u.ids, u.codes, i.ids, i.codes, result.cold, *paths)
    bounds = _bounds(fitted, u, i, result.values, interval)
    with to_output(out.output, out.fmt, parquet=True) as kind:
        write_predictions(u, i, others, result.values, answered, names, kind, bounds)


def _check_interval(fitted: Any, interval: float | None) -> None:
    if interval is not None:
        from recfactor.intervals import check

        check(fitted, interval)


def _predict_one(fitted, user: str, item: str, strict: bool, names, out, quiet: bool,
                 paths, interval: float | None) -> None:  # fmt: skip
    import numpy as np

    from recfactor.coldstart import ANSWERS, answers
    from recfactor.report import write_records

    result = fitted.predict([user], [item], strict=strict)
    _note_cold(fitted, result.cold, user, quiet)
    one = np.zeros(1, dtype=np.int64)
    answered = answers(np.array([user]), one, np.array([item]), one, result.cold, *paths)
    u, i = fitted.user_index([user]), fitted.item_index([item])
    bounds = _bounds(fitted, u, i, result.values, interval)
    record = {"user": user, "item": item, "prediction": float(result.values[0]),
              **{name: float(b[0]) for name, b in bounds.items()},
              "cold": ANSWERS[int(answered[0])]}  # fmt: skip
    if names is not None:
        record["title"] = names.get(item, "")
    with out.open() as kind:
        write_records([record], list(record), kind)


def _bounds(fitted, u, i, values, level: float | None) -> dict:
    """``low`` and ``high`` of each pair's interval at ``level`` (none without one): ``u`` and
    ``i`` coded pairs (or indices), ``values`` their predictions."""
    if level is None:
        return {}
    from recfactor.intervals import intervals

    if hasattr(u, "codes"):
        u, i = fitted.user_index(u.ids)[u.codes], fitted.item_index(i.ids)[i.codes]
    low, high = intervals(fitted, u, i, values, level)
    return {"low": low, "high": high}


def _at_their_days(fitted, u, i, others, result, pairs) -> None:
    """A bfm model fitted with each rating's day predicts each pair at its own, where PAIRS
    has times (``result``'s values are moved in place)."""
    if getattr(fitted, "day_factors_", None) is None:
        return
    from recfactor.io.times import pair_times

    times = pair_times(others, pairs)
    if times is not None:
        users, items = fitted.user_index(u.ids)[u.codes], fitted.item_index(i.ids)[i.codes]
        result.values[:] = fitted.at_days(result.values, users, items, times)


def _one_pair(pairs: str | None, user: str | None, item: str | None) -> bool:
    """Whether --user/--item ask for one pair (else PAIRS, a file of them); refuses both,
    half a pair, or neither."""
    from recfactor.errors import ParameterError

    single = user is not None or item is not None
    if single and pairs is not None:
        raise ParameterError("give either --user/--item or a PAIRS file, not both")
    if single and (user is None or item is None):
        raise ParameterError("a single prediction needs both --user and --item")
    if not single and pairs is None:
        raise ParameterError(
            "nothing to predict", hint="give --user U --item I, or a PAIRS file (- for stdin)"
        )
    return single


def _note_cold(fitted: Any, cold: Any, user: str | None, quiet: bool) -> None:
    """Say on stderr which predictions came from the baseline (an unknown user or item; an
    unknown user: whatever the model answers for one)."""
    if user is not None and cold[0]:
        known = fitted.user_index([user])[0] >= 0
        side, answer = ("item", "the baseline") if known else ("user", fitted.unknown_user_answer)
        tell(f"note: unknown {side}; predicted from {answer}", quiet)
    elif cold.any():
        tell(
            f"note: {int(cold.sum())} pair(s) with an unknown user or item were "
            "predicted from the baseline (cold=baseline)",
            quiet,
        )


def _on_spark(cluster: Any, model: Path, pairs: Any, read: Any, out: Any, quiet: bool,
              *local_only: Any) -> None:  # fmt: skip
    """Every pair of PAIRS scored by the cluster's executors."""
    from recfactor import spark_scoring as on

    on.check_request(out.output, *local_only)
    count = on.predict(cluster, str(model), pairs, read, str(out.output),
                       out.fmt.value if out.fmt else None)  # fmt: skip
    tell(f"wrote {count} predictions to {out.output}", quiet)
