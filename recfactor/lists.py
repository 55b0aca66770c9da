"""The lists `recommend` and `similar` give: each user's top-N items, each item's nearest
items, with the items below the floor of training ratings left out
(:mod:`recfactor.popularity`) and unknown users or items skipped, said through ``note``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recfactor.errors import ColdStartError, DataError

Note = Callable[[str], None]


def _silent(_: str) -> None:
    pass


def allowed_items(model: Any, min_ratings: int | None, note: Note = _silent) -> Any:
    """Which items have at least ``min_ratings`` training ratings (None: all may be shown);
    with ``min_ratings`` None, the data's own floor, said when it leaves items out."""
    from recfactor import popularity

    if min_ratings == 0:
        return None
    counts = popularity.item_counts(model)
    if counts is None:
        if min_ratings is None:
            return None
        raise DataError("the model does not record its training ratings per item",
                        hint="train it again to use `min_ratings`")  # fmt: skip
    floor = popularity.default_floor(counts) if min_ratings is None else min_ratings
    allowed = counts >= floor
    if not allowed.any():
        note(f"note: no item has {floor} or more training ratings (the most has "
             f"{int(counts.max(initial=0))}): nothing to list (`min_ratings` 0 keeps every "
             "item)")  # fmt: skip
    elif min_ratings is None and not allowed.all():
        note(f"note: left out {int((~allowed).sum())} item(s) with fewer than {floor} "
             "training ratings (`min_ratings` 0 keeps them)")  # fmt: skip
    return allowed


def _known(index: np.ndarray, ids: Sequence[str], what: str, single: bool, note: Note):
    """The known of ``ids`` (an unknown one alone is an error; among many, skipped)."""
    unknown = index < 0
    if unknown.any():
        if single:
            raise ColdStartError(f"unknown {what} {ids[0]!r}: not in the training data")
        note(f"note: skipped {int(unknown.sum())} unknown {what}(s)")
    return index[~unknown], [x for x, bad in zip(ids, unknown) if not bad]


@dataclass(frozen=True)
class Lists:
    """Lists as arrays, no object per entry: the keys' ``key`` column (``keys[r]``, the user
    or item the list is for) and their entries ``top[r]`` (item indices into ``ids``, -1 past
    the end), with ``scores[r]`` and, where asked, ``held[r]``."""

    key: str
    other: str
    keys: list[str]
    top: np.ndarray
    scores: np.ndarray
    ids: np.ndarray
    held: np.ndarray | None = None

    def records(self) -> list[dict[str, Any]]:
        """One record a listed item; with ``held`` (the share of fits whose own list holds
        each item), its ``stability`` too."""
        rows = [
            {self.key: k, "rank": r + 1, self.other: str(self.ids[j]), "score": float(s)}
            for k, row, srow in zip(self.keys, self.top, self.scores)
            for r, (j, s) in enumerate(zip(row, srow))
            if j >= 0
        ]
        if self.held is not None:
            for row, share in zip(rows, self.held[self.top >= 0]):
                row["stability"] = float(share)
        return rows


def recommendations(model: Any, users: Sequence[str], n: int = 10, **options: Any
                    ) -> list[dict[str, Any]]:  # fmt: skip
    """Each user's top ``n`` items (user, rank, item, score): :func:`recommendation_lists`
    (which takes the ``options``) as records."""
    return [row for part in recommendation_lists(model, users, n, **options)
            for row in part.records()]  # fmt: skip


def recommendation_lists(
    model: Any,
    users: Sequence[str],
    n: int = 10,
    *,
    include_seen: bool = False,
    min_ratings: int | None = None,
    single: bool = False,
    stability: bool = False,
    note: Note = _silent,
    on_block: Callable[[int, int], None] | None = None,
) -> list[Lists]:
    """Each user's top ``n`` items, on predict's scale for ratings: the known users' lists,
    then the unknown ones'. A user the model does not know gets the most popular items
    (their share of the training ratings as the score), and ``note`` says so; ``single``:
    the one user asked for by name; ``stability``: each item's share of the model's fits
    (ensemble members, posterior draws) whose own list holds it; ``on_block``: as
    ``recommend_index``'s, the lists' progress."""
    allowed = allowed_items(model, min_ratings, note)
    ids = list(users)
    index = model.user_index(ids)
    unknown = index < 0
    known = [x for x, bad in zip(ids, unknown) if not bad]
    top, scores = model.recommend_index(index[~unknown], n, exclude_seen=not include_seen,
                                        allowed=allowed, on_block=on_block)  # fmt: skip
    held = None
    if stability:
        from recfactor.models.ensemble import list_support

        held = list_support(model, index[~unknown], top, not include_seen, allowed)
    if model.feedback_ == "explicit" and model.rating_scale_ is not None:
        # On predict's scale (the predicted rating, clipped to the ratings' range), ranked by
        # the unclipped score, which for some new users also weighs popularity.
        listed = top >= 0
        rows = np.repeat(index[~unknown], top.shape[1]).reshape(top.shape)
        scores = np.where(listed, 0.0, scores)
        scores[listed] = model.predict_index(rows[listed], top[listed])
    exhausted = sum(not (row >= 0).any() for row in top)
    if exhausted and (allowed is None or allowed.any()):  # else allowed_items said why
        whom = f"user {known[0]!r}" if single else f"{exhausted} user(s)"
        every = "every item in training" if allowed is None or allowed.all() else (
            "every item `min_ratings` leaves")  # fmt: skip
        note(f"note: {whom} rated {every}: nothing left to recommend (`include_seen` ranks "
             "them all)")  # fmt: skip
    lists = [Lists("user", "item", known, top, scores, model.item_ids_, held)]
    if unknown.any():
        whom = f"unknown user {ids[int(np.argmax(unknown))]!r}" if single else (
            f"{int(unknown.sum())} unknown user(s)")  # fmt: skip
        note(f"note: {whom}: the most popular items (`history` or attributes place a new "
             "user by what is known of it)")  # fmt: skip
        lists.append(_popular(model, [x for x, bad in zip(ids, unknown) if bad], n, allowed))
    return lists


def _popular(model: Any, users: list[str], n: int, allowed: Any) -> Lists:
    """The ``n`` items with the most training ratings (their share as the score), for each of
    ``users``."""
    from recfactor import popularity

    counts = popularity.item_counts(model)
    if counts is None:
        raise ColdStartError(
            f"unknown user {users[0]!r}: not in the training data",
            hint="the model does not keep its items' ratings; train it again",
        )
    counts = counts.astype(np.float64)
    if allowed is not None:
        counts[~allowed] = -1.0
    top = np.argsort(-counts, kind="stable")[:n]
    top = top[counts[top] >= 0]
    share = counts[top] / max(float(counts[counts > 0].sum()), 1.0)
    return Lists("user", "item", users, np.tile(top, (len(users), 1)),
                 np.tile(share, (len(users), 1)), model.item_ids_)  # fmt: skip


def neighbours(model: Any, items: Sequence[str], n: int = 10, **options: Any
               ) -> list[dict[str, Any]]:  # fmt: skip
    """:func:`neighbour_lists` as records (item, rank, similar_item, score)."""
    return neighbour_lists(model, items, n, **options).records()


def neighbour_lists(
    model: Any,
    items: Sequence[str],
    n: int = 10,
    *,
    min_ratings: int | None = None,
    single: bool = False,
    stability: bool = False,
    note: Note = _silent,
    on_block: Callable[[int, int], None] | None = None,
) -> Lists:
    """Each known item's ``n`` nearest items in factor space; ``single``: one item asked for
    by name, whom not knowing is an error; ``stability`` and ``on_block`` as
    :func:`recommendation_lists`'."""
    allowed = allowed_items(model, min_ratings, note)
    index, kept = _known(model.item_index(list(items)), list(items), "item", single, note)
    top, scores = model.similar_index(index, n, allowed=allowed, on_block=on_block)
    if len(model.item_ids_) == 1:
        note("note: the model knows no other item to compare with")
    held = None
    if stability:
        from recfactor.models.ensemble import neighbour_support

        held = neighbour_support(model, index, top, allowed)
    return Lists("item", "similar_item", kept, top, scores, model.item_ids_, held)
