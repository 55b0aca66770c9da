"""Which columns of a table hold the user, the item and the rating: by name (a header that
says ``userId``, ``movie_id``, ``stars``, ...), by position, or as given. Shared by the file
readers and ``Dataset.from_frame``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from recfactor.errors import DataError


class ColumnChoice(Protocol):
    """What the caller says about the columns (``ReadOptions`` has these fields)."""

    user_col: str | None
    item_col: str | None
    rating_col: str | None
    feedback: str


USER_NAMES = {
    "user", "users", "user_id", "userid", "uid", "u", "customer", "customer_id",
    "customerid", "member", "member_id", "client", "client_id", "visitor", "visitor_id",
    "reviewer", "reviewerid", "reviewer_id", "account", "account_id",
}  # fmt: skip


ITEM_NAMES = {
    "item", "items", "item_id", "itemid", "iid", "i", "movie", "movieid", "movie_id",
    "product", "product_id", "productid", "track", "track_id", "song", "song_id",
    "artist", "artist_id", "book", "book_id", "isbn", "asin", "article", "article_id",
    "sku", "title", "game", "anime_id", "business", "business_id", "businessid",
}  # fmt: skip


RATING_NAMES = {
    "rating", "ratings", "score", "scores", "count", "counts", "value", "r", "stars",
    "weight", "plays", "playcount", "play_count", "clicks", "quantity", "qty", "preference",
    "interaction", "purchases", "overall", "book_rating", "book-rating",
}  # fmt: skip


TIMESTAMP_NAMES = {"timestamp", "time", "ts", "date", "datetime", "unix_timestamp"}


@dataclass(frozen=True)
class Columns:
    user: int
    item: int
    rating: int | None
    names: list[str]


def choose_columns(names: list[str], header: bool, opt: ColumnChoice, source: str) -> Columns:
    width = len(names)
    lowered = [n.lower() for n in names]

    def pick(given: str | None, known: set[str], default: int | None, role: str) -> int | None:
        if given is not None:
            if given.lower() in lowered:
                return lowered.index(given.lower())
            if given.isdigit() and 1 <= int(given) <= width:
                return int(given) - 1
            raise DataError(
                f"{source}, line 1: no column {given!r} for the {role}",
                hint="columns are: " + ", ".join(names) + " (or give a 1-based position)",
            )
        if header:
            for k, n in enumerate(lowered):
                if n in known:
                    refuse_repeated(k, role)
                    return k
        return default if default is not None and default < width else None

    def refuse_repeated(k: int, role: str) -> None:
        # Two columns of one name (a join's or a hand edit's): the first would be read and
        # the other taken by position or left out, silently ("user,user,rating" read the
        # second user column as the items).
        again = lowered.index(lowered[k], k + 1) if lowered.count(lowered[k]) > 1 else None
        if again is not None:
            raise DataError(
                f"{source}, line 1: columns {k + 1} and {again + 1} are both named "
                f"{names[k]!r}, so which holds the {role} is unclear",
                hint="rename one in the header, or choose the columns by position "
                "(`user_col`, `item_col`, `rating_col`: 1-based)",
            )

    user = pick(opt.user_col, USER_NAMES, 0, "user")
    item = pick(opt.item_col, ITEM_NAMES, 1, "item")
    if user is None or item is None:
        raise DataError(
            f"{source}, line 1: found {width} column(s); need at least user and item",
            hint="set the delimiter with `sep`",
        )
    default_rating = next((k for k in range(width) if k not in (user, item)), None)
    rating = pick(opt.rating_col, RATING_NAMES, default_rating, "rating")
    if header and opt.rating_col is None and rating is not None:
        if lowered[rating] in TIMESTAMP_NAMES:
            rating = None
    if rating is None and opt.feedback == "explicit":
        raise DataError(
            f"{source}, line 1: found no rating column ({width} columns: {', '.join(names)})",
            hint="explicit feedback needs ratings; use `feedback` implicit for interactions, "
            "or `rating_col`",
        )
    picked = {"user": (user, USER_NAMES), "item": (item, ITEM_NAMES),
              "rating": (rating, RATING_NAMES)}  # fmt: skip
    if len({user, item, rating} - {None}) < (3 if rating is not None else 2):
        # A role placed by position on a column the header names for another ("item,rating":
        # a user's own ratings, without the user): that role's column is missing.
        unnamed = [role for role, (k, known) in picked.items()
                   if header and k is not None and lowered[k] not in known]  # fmt: skip
        if unnamed and not (opt.user_col or opt.item_col or opt.rating_col):
            raise DataError(
                f"{source}, line 1: found no {unnamed[0]} column ({width} columns: "
                f"{', '.join(names)})",
                hint="each row needs a user, an item and a rating: add the missing column, or "
                "choose the columns (`user_col`, `item_col`, `rating_col`)",
            )
        raise DataError(
            f"{source}, line 1: user, item and rating must be different columns",
            hint="check `user_col`, `item_col` and `rating_col`",
        )
    return Columns(user, item, rating, names)
