"""`recfactor predict`: one pair, or a batch of pairs from a file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from recfactor.cli.common import (
    DEFAULT_MODEL,
    FormatOpt,
    Header,
    History,
    ItemCol,
    ItemNames,
    ModelPath,
    Quiet,
    Sep,
    UserCol,
    _fmt,
    _folded,
    _handle_errors,
    _load,
    _note,
    _titles,
    app,
)


@app.command()
@_handle_errors
def predict(
    pairs: Annotated[
        Optional[str],
        typer.Argument(
            metavar="PAIRS", help="File of user,item pairs (or -) for batch prediction."
        ),
    ] = None,
    user: Annotated[Optional[str], typer.Option("--user", "-u", help="User ID.")] = None,
    item: Annotated[Optional[str], typer.Option("--item", "-i", help="Item ID.")] = None,
    model: ModelPath = Path(DEFAULT_MODEL),
    strict: Annotated[
        bool, typer.Option("--strict", help="Unknown users or items are an error.")
    ] = False,
    sep: Sep = None,
    header: Header = None,
    user_col: UserCol = None,
    item_col: ItemCol = None,
    items_file: ItemNames = None,
    history: History = None,
    fmt: FormatOpt = None,
    quiet: Quiet = False,
) -> None:
    """Predict ratings: one pair with --user/--item, or a batch from PAIRS (csv on stdout)."""
    from recfactor.report import write_records

    single = _one_pair(pairs, user, item)
    fitted, _ = _folded(_load(model, seen=False)[0], history, quiet)
    names = _titles(items_file)
    if single:
        users, items = [user], [item]
        result = fitted.predict(users, items, strict=strict)
    else:
        from recfactor.data import ReadOptions, read_pair_codes

        user_codes, item_codes = read_pair_codes(
            pairs, ReadOptions(sep=sep, header=header, user_col=user_col, item_col=item_col)
        )
        result = fitted.predict_coded(
            user_codes.ids, user_codes.codes, item_codes.ids, item_codes.codes, strict=strict
        )
    _note_cold(fitted, result.cold, user if single else None, quiet)
    output = _fmt(fmt)
    if output == "csv" and not single and names is None:
        _write_predictions_csv(user_codes, item_codes, result.values, result.cold)
        return
    if not single:
        users = user_codes.ids[user_codes.codes]
        items = item_codes.ids[item_codes.codes]
    records = [
        {"user": u, "item": i, "prediction": float(v), "cold": bool(c)}
        for u, i, v, c in zip(users, items, result.values, result.cold)
    ]
    columns = ["user", "item", "prediction", "cold"]
    if names is not None:
        for record in records:
            record["title"] = names.get(record["item"], "")
        columns.append("title")
    write_records(records, columns, output)


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
    """Say on stderr which predictions came from the baseline (an unknown user or item)."""
    if user is not None and cold[0]:
        side = "user" if fitted.user_index([user])[0] < 0 else "item"
        _note(f"note: unknown {side}; predicted from the baseline", quiet)
    elif cold.any():
        _note(
            f"note: {int(cold.sum())} pair(s) with an unknown user or item were "
            "predicted from the baseline (cold=true)",
            quiet,
        )


def _write_predictions_csv(user_codes, item_codes, values, cold) -> None:
    import pyarrow as pa

    from recfactor import csvout

    if csvout.plain_ids(user_codes.ids) and csvout.plain_ids(item_codes.ids):
        sys.stdout.flush()
        csvout.write_csv(
            sys.stdout.buffer,
            {
                "user": csvout.coded(user_codes.codes, user_codes.ids),
                "item": csvout.coded(item_codes.codes, item_codes.ids),
                "prediction": csvout.format_g6(values),
                "cold": pa.DictionaryArray.from_arrays(
                    pa.array(cold.astype("int8")), pa.array(["false", "true"])
                ),
            },
        )
        return
    import pandas as pd  # IDs that need quotes: pandas quotes them as the csv module would

    users = user_codes.ids[user_codes.codes]
    items = item_codes.ids[item_codes.codes]
    frame = pd.DataFrame(
        {
            "user": users,
            "item": items,
            "prediction": values,
            "cold": pd.Series(cold).map({True: "true", False: "false"}),
        }
    )
    frame.to_csv(sys.stdout, index=False, float_format="%.6g", lineterminator="\n")
