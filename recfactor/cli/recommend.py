"""`recfactor recommend` and `recfactor similar`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from recfactor.cli.common import (
    DEFAULT_MODEL,
    FormatOpt,
    History,
    ItemNames,
    MinRatings,
    ModelPath,
    Quiet,
    app,
    fold_history,
    handle_errors,
    load_model,
    read_titles,
    tell,
)
from recfactor.cli.helptext import Command
from recfactor.cli.output import OutputOpt, refuse_early, to_output


def _read_ids(source: str, what: str) -> list[str]:
    from recfactor.data import read_id_list

    return read_id_list(source, what)


def _allowed(fitted, min_ratings: int | None, quiet: bool):
    """Which items have at least ``min_ratings`` training ratings (None: all may be shown);
    without it, the data's own floor (recfactor.popularity), said when it leaves items out."""
    from recfactor import popularity

    if min_ratings == 0:
        return None
    counts = popularity.item_counts(fitted)
    if counts is None:
        if min_ratings is None:
            return None
        from recfactor.errors import DataError

        raise DataError("the model does not record its training ratings per item",
                        hint="train it again to use --min-ratings")  # fmt: skip
    floor = popularity.default_floor(counts) if min_ratings is None else min_ratings
    allowed = counts >= floor
    if min_ratings is None and not allowed.all():
        tell(f"note: left out {int((~allowed).sum())} item(s) with fewer than {floor} "
              "training ratings (--min-ratings 0 keeps them)", quiet)  # fmt: skip
    return allowed


def _widen(n: int, allowed) -> int:
    """How many to ask for so that ``n`` remain once the items not ``allowed`` are left out."""
    return n if allowed is None else n + int((~allowed).sum())


def _keep(top, scores, allowed, n: int):
    """Each row's first ``n`` items that are ``allowed`` (-1 padded), and their scores."""
    import numpy as np

    if allowed is None:
        return top, scores
    ok = (top >= 0) & allowed[np.maximum(top, 0)]
    # Each row's allowed items first, in their order: a stable sort on "not allowed".
    order = np.argsort(~ok, axis=1, kind="stable")[:, :n]
    kept = np.take_along_axis(ok, order, axis=1)
    out = np.where(kept, np.take_along_axis(top, order, axis=1), -1)
    return out, np.where(kept, np.take_along_axis(scores, order, axis=1), 0.0)


def _with_titles(records: list[dict], key: str, names, columns: list[str]) -> list[str]:
    """Add the ``title`` of each record's ``key`` item (empty where the file has none)."""
    if names is None:
        return columns
    for record in records:
        record["title"] = names.get(record[key], "")
    return [*columns, "title"]


@app.command(cls=Command)
@handle_errors
def recommend(
    users: Annotated[
        Optional[str], typer.Argument(metavar="USERS", help="File of user IDs, one a line (or -).")
    ] = None,
    user: Annotated[Optional[str], typer.Option("--user", "-u", help="User ID.")] = None,
    n: Annotated[int, typer.Option("-n", "--n", min=1, help="How many items.")] = 10,
    all_users: Annotated[bool, typer.Option("--all-users", help="Every user.")] = False,
    include_seen: Annotated[
        bool, typer.Option("--include-seen", help="Keep items the user rated in training.")
    ] = False,
    min_ratings: MinRatings = None,
    items: ItemNames = None,
    history: History = None,
    model: ModelPath = Path(DEFAULT_MODEL),
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: Quiet = False,
) -> None:
    """Top-N items for users, excluding what each already rated in training."""
    from recfactor.errors import ColdStartError, ParameterError

    chosen = sum(x for x in (user is not None, users is not None, all_users))
    if chosen != 1 and not (history is not None and chosen == 0):
        raise ParameterError("give exactly one of --user U, a USERS file (or -), --all-users")
    refuse_early(output, fmt)
    fitted, folded_users = fold_history(load_model(model)[0], history, quiet)
    names, allowed = read_titles(items), _allowed(fitted, min_ratings, quiet)
    if history is not None and chosen == 0:
        ids = folded_users  # the users of the history, recommended for from their ratings
    elif all_users:
        ids = [str(x) for x in fitted.user_ids_]
    elif user is not None:
        ids = [user]
    else:
        ids = _read_ids(users, "user")
    index = fitted.user_index(ids)
    unknown = index < 0
    if unknown.any():
        if user is not None:
            raise ColdStartError(f"unknown user {user!r}: not in the training data")
        tell(f"note: skipped {int(unknown.sum())} unknown user(s)", quiet)
    top, scores = fitted.recommend_index(index[~unknown], _widen(n, allowed),
                                         exclude_seen=not include_seen)  # fmt: skip
    top, scores = _keep(top, scores, allowed, n)
    if fitted.feedback_ == "explicit" and fitted.rating_scale_ is not None:
        import numpy as np

        # On predict's scale: clipped to the ratings' range, ranked by the unclipped score.
        scores = np.clip(scores, *fitted.rating_scale_)
    kept = [u for u, bad in zip(ids, unknown) if not bad]
    records = [
        {"user": u, "rank": r + 1, "item": str(fitted.item_ids_[j]), "score": float(s)}
        for u, row, srow in zip(kept, top, scores)
        for r, (j, s) in enumerate(zip(row, srow))
        if j >= 0
    ]
    exhausted = sum(not (row >= 0).any() for row in top)
    if exhausted:
        whom = f"user {kept[0]!r}" if user is not None else f"{exhausted} user(s)"
        tell(f"note: {whom} rated every item in training: nothing left to recommend "
              "(--include-seen ranks them all)", quiet)  # fmt: skip
    columns = _with_titles(records, "item", names, ["user", "rank", "item", "score"])
    _write(records, columns, output, fmt)


@app.command(cls=Command)
@handle_errors
def similar(
    items: Annotated[
        Optional[str], typer.Argument(metavar="ITEMS", help="File of item IDs, one a line (or -).")
    ] = None,
    item: Annotated[Optional[str], typer.Option("--item", "-i", help="Item ID.")] = None,
    n: Annotated[int, typer.Option("-n", "--n", min=1, help="How many items.")] = 10,
    min_ratings: MinRatings = None,
    names_file: ItemNames = None,
    model: ModelPath = Path(DEFAULT_MODEL),
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: Quiet = False,
) -> None:
    """Items closest to an item in factor space (cosine similarity)."""
    from recfactor.errors import ColdStartError, ParameterError

    if (item is None) == (items is None):
        raise ParameterError("give exactly one of --item I or an ITEMS file (or -)")
    refuse_early(output, fmt)
    fitted, manifest = load_model(model)
    _note_unstable(manifest, quiet)
    names, allowed = read_titles(names_file), _allowed(fitted, min_ratings, quiet)
    ids = [item] if item is not None else _read_ids(items, "item")
    index = fitted.item_index(ids)
    unknown = index < 0
    if unknown.any():
        if item is not None:
            raise ColdStartError(f"unknown item {item!r}: not in the training data")
        tell(f"note: skipped {int(unknown.sum())} unknown item(s)", quiet)
    top, scores = fitted.similar_index(index[~unknown], _widen(n, allowed))
    top, scores = _keep(top, scores, allowed, n)
    kept = [i for i, bad in zip(ids, unknown) if not bad]
    records = [
        {"item": i, "rank": r + 1, "similar_item": str(fitted.item_ids_[j]), "score": float(s)}
        for i, row, srow in zip(kept, top, scores)
        for r, (j, s) in enumerate(zip(row, srow))
        if j >= 0
    ]
    if len(fitted.item_ids_) == 1:
        tell("note: the model knows no other item to compare with", quiet)
    columns = ["item", "rank", "similar_item", "score"]
    _write(records, _with_titles(records, "similar_item", names, columns), output, fmt)


def _note_unstable(manifest, quiet: bool) -> None:
    from recfactor.neighbours import unstable_note

    note = unstable_note(manifest.get("neighbours"))
    if note is not None:
        tell(note, quiet)


def _write(records, columns, output, fmt) -> None:
    from recfactor.report import write_records

    with to_output(output, fmt) as kind:
        write_records(records, columns, kind)
