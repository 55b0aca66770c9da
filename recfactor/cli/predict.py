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
    app,
    fold_history,
    handle_errors,
    load_model,
    read_titles,
    tell,
)
from recfactor.cli.helptext import Command
from recfactor.cli.output import OutputOpt


@app.command(cls=Command)
@handle_errors
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
    output: OutputOpt = None,
    quiet: Quiet = False,
) -> None:
    """Predict ratings: one pair with --user/--item, or a batch from PAIRS (csv on stdout),
    each row with the input's other columns (the true rating survives a pipeline)."""
    from recfactor.cli.output import refuse_early, to_output
    from recfactor.report import write_records

    single = _one_pair(pairs, user, item)
    refuse_early(output, fmt)
    fitted, _ = fold_history(load_model(model, seen=False)[0], history, quiet)
    names = read_titles(items_file)
    if single:
        result = fitted.predict([user], [item], strict=strict)
        _note_cold(fitted, result.cold, user, quiet)
        record = {"user": user, "item": item, "prediction": float(result.values[0]),
                  "cold": bool(result.cold[0])}  # fmt: skip
        if names is not None:
            record["title"] = names.get(item, "")
        with to_output(output, fmt) as kind:
            write_records([record], list(record), kind)
        return
    from recfactor.data import ReadOptions, read_pair_table

    options = ReadOptions(sep=sep, header=header, user_col=user_col, item_col=item_col)
    user_codes, item_codes, others = read_pair_table(pairs, options)
    result = fitted.predict_coded(
        user_codes.ids, user_codes.codes, item_codes.ids, item_codes.codes, strict=strict
    )
    _note_cold(fitted, result.cold, None, quiet)
    with to_output(output, fmt, parquet=True) as kind:
        _write_batch(user_codes, item_codes, others, result, names, kind)


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
        tell(f"note: unknown {side}; predicted from the baseline", quiet)
    elif cold.any():
        tell(
            f"note: {int(cold.sum())} pair(s) with an unknown user or item were "
            "predicted from the baseline (cold=true)",
            quiet,
        )


def _typed(values):
    """A text column as whole numbers, or numbers, where every value is one (JSON and Parquet
    get 5, not "5"); as it was otherwise, and where a value has a leading zero ("007", a
    code, not a number)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_string(values.type):
        return values
    if pc.any(pc.match_substring_regex(values, r"^\s*[-+]?0\d")).as_py():
        return values
    for kind in (pa.int64(), pa.float64()):
        try:
            return values.cast(kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return values


def _write_batch(user_codes, item_codes, others, result, names, kind: str) -> None:
    """The pairs, the input's other columns, the predictions and whether each was cold (and
    the item's title, given names)."""
    import numpy as np
    import pyarrow as pa

    from recfactor import csvout
    from recfactor.report import write_records

    columns = {"user": csvout.coded(user_codes.codes, user_codes.ids),
               "item": csvout.coded(item_codes.codes, item_codes.ids)}  # fmt: skip
    for name, values in others.items():
        taken = name in ("user", "item", "prediction", "cold", "title")
        columns[f"input_{name}" if taken else name] = values if kind == "csv" else _typed(values)
    if kind == "csv":
        columns["prediction"] = csvout.format_g6(result.values)
        cold = pa.array(result.cold.astype("int8"))
        columns["cold"] = pa.DictionaryArray.from_arrays(cold, pa.array(["false", "true"]))
    else:
        columns["prediction"] = pa.array(result.values, pa.float64())
        columns["cold"] = pa.array(result.cold)
    if names is not None:
        titles = np.array([names.get(i, "") for i in item_codes.ids.tolist()], dtype=object)
        columns["title"] = pa.DictionaryArray.from_arrays(
            pa.array(item_codes.codes, pa.int32()), pa.array(titles, pa.string())
        )
    if kind == "csv" and csvout.plain_columns(columns):
        sys.stdout.flush()
        csvout.write_csv(sys.stdout.buffer, columns)
        return
    if kind == "parquet":  # the columns' own types: IDs stay text, "007" stays "007"
        import pyarrow.parquet as pq

        pq.write_table(pa.table(columns), sys.stdout.buffer)
        return
    frame = pa.table(columns).to_pandas()
    if kind == "csv":  # values that need quotes: pandas quotes them as the csv module would
        frame.to_csv(sys.stdout, index=False, lineterminator="\n")
        return
    write_records(frame.to_dict("records"), list(columns), kind)
