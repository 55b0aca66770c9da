"""`recfactor recommend` and `recfactor similar`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from recfactor.cli.common import (
    DEFAULT_MODEL,
    History,
    ItemId,
    ItemNames,
    MinRatings,
    ModelPath,
    Quiet,
    UserAttrs,
    UserId,
    app,
    engine_note,
    handle_errors,
    known_rows,
    load_model,
    read_titles,
    tell,
)
from recfactor.cli.groups import FEATURES, OUTPUT, SPARK, with_groups
from recfactor.cli.helptext import Command

Stability = Annotated[
    bool,
    typer.Option(
        "--stability",
        help="Add each item's share of the model's fits (--ensemble members, bpmf's draws) "
        "whose own list holds it.",
    ),
]


@app.command(cls=Command)
@handle_errors
@with_groups
def recommend(
    users: Annotated[
        Optional[str], typer.Argument(metavar="USERS", help="File of user IDs, one a line (or -).")
    ] = None,
    user: UserId = None,
    n: Annotated[int, typer.Option("-n", "--n", min=1, help="How many items.")] = 10,
    all_users: Annotated[bool, typer.Option("--all-users", help="Every user.")] = False,
    include_seen: Annotated[
        bool, typer.Option("--include-seen", help="Keep items the user rated in training.")
    ] = False,
    min_ratings: MinRatings = None,
    stability: Stability = False,
    items: ItemNames = None,
    history: History = None,
    user_attrs: UserAttrs = None,
    features: Any = FEATURES,
    model: ModelPath = Path(DEFAULT_MODEL),
    out: Any = OUTPUT,
    cluster: Any = SPARK,
    quiet: Quiet = False,
) -> None:
    """Top-N items for users, excluding what each already rated in training; a user the model
    has not seen is placed by its --history or attributes (bfm), else gets the most popular
    items."""
    from recfactor.errors import ParameterError
    from recfactor.lists import recommendation_lists
    from recfactor.report import progress

    if cluster is not None:  # every user's list, on the cluster
        return _on_spark(cluster, model, out, quiet, "recommend", (n, include_seen, min_ratings),
                         users, user, history, user_attrs, stability or None, items,
                         features or None, None if all_users else "--all-users")  # fmt: skip

    chosen = sum(x for x in (user is not None, users is not None, all_users))
    if chosen != 1 and not (history is not None and chosen == 0):
        raise ParameterError("give exactly one of --user U, a USERS file (or -), --all-users")
    fitted, _, _, folded = known_rows(load_model(model)[0], history, features, quiet,
                                      user_attrs, user)  # fmt: skip
    ids = _user_ids(fitted, folded if history is not None and chosen == 0 else None,
                    all_users, user, users)  # fmt: skip
    with progress(None, "recommending", enabled=not quiet) as step:
        lists = recommendation_lists(fitted, ids, n, include_seen=include_seen,
                                     min_ratings=min_ratings, single=user is not None,
                                     stability=stability, on_block=step,
                                     note=lambda t: engine_note(t, quiet))  # fmt: skip
    _write(lists, ["user", "rank", "item", "score"], "item", read_titles(items), out, stability)


@app.command(cls=Command)
@handle_errors
@with_groups
def similar(
    items: Annotated[
        Optional[str], typer.Argument(metavar="ITEMS", help="File of item IDs, one a line (or -).")
    ] = None,
    item: ItemId = None,
    n: Annotated[int, typer.Option("-n", "--n", min=1, help="How many items.")] = 10,
    min_ratings: MinRatings = None,
    stability: Stability = False,
    names_file: ItemNames = None,
    model: ModelPath = Path(DEFAULT_MODEL),
    out: Any = OUTPUT,
    cluster: Any = SPARK,
    quiet: Quiet = False,
) -> None:
    """Items closest to an item in factor space (cosine similarity); on Spark, every item's."""
    from recfactor.errors import ParameterError
    from recfactor.lists import neighbour_lists
    from recfactor.neighbours import unstable_note
    from recfactor.report import progress

    if cluster is not None:  # every item's neighbours, on the cluster
        return _on_spark(cluster, model, out, quiet, "similar", (n, min_ratings), items, item,
                         stability or None, names_file)  # fmt: skip

    if (item is None) == (items is None):
        raise ParameterError("give exactly one of --item I or an ITEMS file (or -)")
    fitted, manifest = load_model(model)
    note = unstable_note(manifest.get("neighbours"))
    if note is not None:
        tell(note, quiet)
    ids = [item] if item is not None else _read_ids(items, "item")
    with progress(None, "finding neighbours", enabled=not quiet) as step:
        lists = neighbour_lists(fitted, ids, n, min_ratings=min_ratings, single=item is not None,
                                stability=stability, on_block=step,
                                note=lambda t: engine_note(t, quiet))  # fmt: skip
    columns = ["item", "rank", "similar_item", "score"]
    _write([lists], columns, "similar_item", read_titles(names_file), out, stability)


def _on_spark(cluster: Any, model: Path, out: Any, quiet: bool, kind: str, settings: tuple,
              *local_only: Any) -> None:  # fmt: skip
    """Every user's list (or item's neighbours) written by the cluster's executors."""
    from recfactor import spark_scoring as on

    on.check_request(out.output, *local_only)
    score = on.recommend if kind == "recommend" else on.similar
    count = score(cluster, str(model), *settings, str(out.output),
                  out.fmt.value if out.fmt else None)  # fmt: skip
    tell(f"wrote {count} rows to {out.output}", quiet)


def _user_ids(fitted: Any, folded: Any, all_users: bool, user: Any, users: Any) -> list[str]:
    """The users asked for: those of a history (``folded``, recommended for from their
    ratings), every user, one, or a file's."""
    if folded is not None:
        return folded
    if all_users:
        return [str(x) for x in fitted.user_ids_]
    return [user] if user is not None else _read_ids(users, "user")


def _read_ids(source: str, what: str) -> list[str]:
    from recfactor.io.pairs import read_id_list

    return read_id_list(source, what)


def _write(
    found: list[Any], columns: list[str], key: str, names: Any, out: Any, stability: bool
) -> None:
    from recfactor.io.listsout import write_lists

    with out.open() as kind:
        write_lists(found, columns, key, names, kind, stability)
