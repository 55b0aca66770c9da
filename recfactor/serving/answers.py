"""What the server answers, as JSON-ready dicts: the engine calls behind `predict`, `recommend`
and `similar`, on a model loaded once (:class:`Served`) with what every request would otherwise
recompute kept beside it (its ID lookups, its items' training counts, a copy that knows no
user for folding one in)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from recfactor.errors import ParameterError, RecfactorError

# At most this many ratings in one posted history (a user's whole history rarely passes a
# few thousand; the body's size is bounded before this too).
MAX_HISTORY = 10_000


class RequestError(Exception):
    """A request the server refuses: its HTTP status, the message, the parameter at fault."""

    def __init__(self, status: int, message: str, parameter: str | None = None,
                 hint: str | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.status = status
        self.message = message
        self.parameter = parameter
        self.hint = hint

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message}
        if self.parameter is not None:
            out["parameter"] = self.parameter
        if self.hint is not None:
            out["hint"] = self.hint
        return out


@dataclass
class Served:
    """One loaded model file and what its answers reuse."""

    model: Any
    manifest: dict[str, Any]
    path: str
    signature: tuple
    titles: dict[str, str] | None
    loaded_at: float = field(default_factory=time.time)
    newcomers: Any = None  # the model with no user: new users are folded into it
    fits: int = 1

    def describe(self) -> dict[str, Any]:
        model = self.model
        return {
            "path": self.path,
            "algorithm": model.name,
            "users": len(model.user_ids_),
            "items": len(model.item_ids_),
            "factors": None if model.item_factors_ is None else int(model.item_factors_.shape[1]),
            "feedback": model.feedback_,
            "fits": self.fits,
            "titles": self.titles is not None,
            "user_attributes": _user_encoding(model) is not None,
            "loaded_at": self.loaded_at,
        }


def signature(path: str) -> tuple:
    """What tells that a file was replaced or rewritten."""
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def load(path: str, titles: dict[str, str] | None) -> Served:
    """The model file at ``path``, ready to answer (raises as `recfactor.persist.load`)."""
    from recfactor import persist, popularity
    from recfactor.models.ensemble import fits
    from recfactor.models.grow import without_users

    before = signature(path)
    model, manifest = persist.load(path)
    model.keep_ready()
    popularity.item_counts(model)  # counted once, here
    return Served(model, manifest, str(path), before, titles, newcomers=without_users(model),
                  fits=fits(model))  # fmt: skip


def predict(served: Served, user: str, item: str) -> dict[str, Any]:
    """`predict --user U --item I`: the rating, and which path answered (``cold``)."""
    import numpy as np

    from recfactor.coldstart import ANSWERS, answers

    model = served.model
    result = model.predict([user], [item])
    one = np.zeros(1, dtype=np.int64)
    answered = answers(np.array([user]), one, np.array([item]), one, result.cold, {}, {})
    out = {"user": user, "item": item, "prediction": _number(result.values[0]),
           "cold": ANSWERS[int(answered[0])]}  # fmt: skip
    if served.titles is not None:
        out["title"] = served.titles.get(item, "")
    return out


def recommend(served: Served, user: str, n: int, include_seen: bool, min_ratings: int | None,
              stability: bool) -> dict[str, Any]:  # fmt: skip
    """`recommend --user U -n N`: a known user's list; an unknown one's, the most popular
    items (``cold`` says ``popularity``)."""
    model = served.model
    known = bool(model.user_index([user])[0] >= 0)
    notes: list[str] = []
    rows = _listed(served, model, user, n, include_seen, min_ratings, stability, notes)
    return {"user": user, "cold": "false" if known else "popularity",
            "items": _items(served, rows, "item"), "notes": notes}  # fmt: skip


def recommend_new(served: Served, body: Any) -> dict[str, Any]:
    """`recommend --history` for one new user posted as JSON: ``{"ratings": [{"item": I,
    "rating": R}, ...] (or [[I, R], ...]), "attributes": {NAME: VALUE}, "n": 10,
    "exclude_seen": true, "min_ratings": null, "stability": false, "user": LABEL}``. The
    history is the user's whole history; the user is folded in (or placed by bfm) for this
    request alone."""
    if not isinstance(body, dict):
        raise RequestError(400, "the body must be a JSON object")
    allowed = {"user", "ratings", "attributes", "n", "exclude_seen", "min_ratings", "stability"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise RequestError(400, f"unknown field {unknown[0]!r}", unknown[0],
                           hint="fields: " + ", ".join(sorted(allowed)))  # fmt: skip
    label = body.get("user", "new")
    if not isinstance(label, (str, int)) or isinstance(label, bool):
        raise RequestError(400, "'user' must be a string", "user")
    label = str(label)
    n = _whole(body.get("n", 10), "n", 1)
    min_ratings = body.get("min_ratings")
    min_ratings = None if min_ratings is None else _whole(min_ratings, "min_ratings", 0)
    include_seen = not _flag(body.get("exclude_seen", True), "exclude_seen")
    stability = _flag(body.get("stability", False), "stability")
    model = served.model
    items, ratings = _history(body.get("ratings", []), model.feedback_ == "implicit")
    attributes = body.get("attributes")
    if not items and attributes is None:
        raise RequestError(400, "give 'ratings' (a list of {item, rating}) or 'attributes'",
                           "ratings")  # fmt: skip
    notes: list[str] = []
    placed, path = _placed(served, label, items, ratings, attributes, notes)
    rows = _listed(served, placed, label, n, include_seen, min_ratings, stability, notes)
    return {"user": label, "cold": path, "items": _items(served, rows, "item"), "notes": notes}


def similar(served: Served, item: str, n: int, min_ratings: int | None,
            stability: bool) -> dict[str, Any]:  # fmt: skip
    """`similar --item I -n N`."""
    from recfactor.lists import neighbours
    from recfactor.neighbours import unstable_note

    notes: list[str] = []
    note = unstable_note(served.manifest.get("neighbours"))
    if note is not None:
        notes.append(note)
    _check_stability(served, stability)
    try:
        rows = neighbours(served.model, [item], n, min_ratings=min_ratings, single=True,
                          stability=stability, note=notes.append)  # fmt: skip
    except RecfactorError as exc:
        raise _refused(exc, "item") from None
    return {"item": item, "title": _title(served, item),
            "items": _items(served, rows, "similar_item"), "notes": notes}  # fmt: skip


# ---------------------------------------------------------------------------------------------


def _listed(served: Served, model: Any, user: str, n: int, include_seen: bool,
            min_ratings: int | None, stability: bool, notes: list[str]) -> list[dict]:  # fmt: skip
    from recfactor.lists import recommendations

    _check_stability(served, stability)
    try:
        return recommendations(model, [user], n, include_seen=include_seen,
                               min_ratings=min_ratings, single=True, stability=stability,
                               note=notes.append)  # fmt: skip
    except RecfactorError as exc:
        raise _refused(exc, None) from None


def _placed(served: Served, label: str, items: list[str], ratings: list[float],
            attributes: Any, notes: list[str]) -> tuple[Any, str]:  # fmt: skip
    """The model that knows the posted user, and the path that placed it."""
    from recfactor import coldstart

    model = served.model
    history = None
    if items:
        history = _one_user(label, items, ratings, model.feedback_ or "explicit")
        unknown = int((model.item_index(history.item_ids)[history.items] < 0).sum())
        if unknown:
            notes.append(f"note: {unknown} rating(s) name items the model does not know; "
                         "left out")  # fmt: skip
    named = {}
    if attributes is not None:
        named[label] = _attributes(model, attributes)
    base = served.newcomers if served.newcomers is not None and not named else model
    try:
        placed, users, _ = coldstart.prepare(base, history=history, attributes=named)
    except RecfactorError as exc:
        raise _refused(exc, "ratings") from None
    return placed, users.get(label, "popularity")


def _one_user(label: str, items: list[str], ratings: list[float], feedback: str) -> Any:
    """The posted ratings as a Dataset of one user: a repeated item's last rating kept, or
    for implicit feedback its values added up, as a file's repeats are by default (built
    here: pandas' path through `Dataset.from_arrays` took a third of a request)."""
    import numpy as np

    from recfactor.dataset import build_dataset, check_values, id_array

    last: dict[str, float] = {}
    for item, value in zip(items, ratings):
        last[item] = last.get(item, 0.0) + value if feedback == "implicit" else value
    values = np.fromiter(last.values(), dtype=np.float64, count=len(last))
    try:
        check_values(values, None, 1, "rating", "ratings", "rating")
    except RecfactorError as exc:
        raise _refused(exc, "ratings") from None
    n = len(last)
    return build_dataset(id_array([label]), id_array(list(last)), np.zeros(n, dtype=np.int32),
                         np.arange(n, dtype=np.int32), values, None, feedback, "ratings",
                         "rating")  # fmt: skip


def _attributes(model: Any, attributes: Any) -> Any:
    from recfactor.io.features import Encoding, encode_attributes

    encoding = _user_encoding(model)
    if encoding is None:
        raise RequestError(422, "this model was trained without user features", "attributes",
                           hint="train --algo bfm --user-features FILE")  # fmt: skip
    if not isinstance(attributes, dict) or not all(
        isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in attributes.values()
    ):
        raise RequestError(400, "'attributes' must be an object of NAME: VALUE (strings or "
                           "numbers)", "attributes")  # fmt: skip
    try:
        return encode_attributes({str(k): str(v) for k, v in attributes.items()},
                                 Encoding.from_dict(encoding))  # fmt: skip
    except RecfactorError as exc:
        raise _refused(exc, "attributes") from None


def _user_encoding(model: Any) -> Any:
    return (getattr(model, "encodings_", None) or {}).get("user")


def _history(rows: Any, implicit: bool) -> tuple[list[str], list[float]]:
    """The posted ratings as items and values; each a {item, rating} object or an [item,
    rating] pair (an implicit model's rating may be left out: 1), or all of them one object
    of item: rating."""
    if isinstance(rows, dict):  # {"50": 5, "181": 4}: how a history is often kept in JSON
        rows = [[item, value] for item, value in rows.items()]
    if not isinstance(rows, list):
        raise RequestError(400, "'ratings' must be a list of {item, rating} or an object of "
                           "item: rating", "ratings")  # fmt: skip
    if len(rows) > MAX_HISTORY:
        raise RequestError(413, f"'ratings' holds {len(rows)} ratings; at most {MAX_HISTORY}",
                           "ratings")  # fmt: skip
    items, values = [], []
    for k, row in enumerate(rows):
        if isinstance(row, dict):
            item, value = row.get("item"), row.get("rating", 1.0 if implicit else None)
            extra = set(row) - {"item", "rating"}
        elif isinstance(row, list) and len(row) in (1, 2):
            item, value = row[0], (row[1] if len(row) == 2 else (1.0 if implicit else None))
            extra = set()
        else:
            item, value, extra = None, None, set()
        if extra or not isinstance(item, (str, int)) or isinstance(item, bool):
            raise RequestError(400, f"ratings[{k}] is not {{item, rating}}", "ratings")
        if not _is_number(value) or not math.isfinite(value):
            raise RequestError(400, f"ratings[{k}]: the rating must be a finite number",
                               "ratings")  # fmt: skip
        items.append(str(item))
        values.append(float(value))
    return items, values


def _check_stability(served: Served, stability: bool) -> None:
    if stability and served.fits == 1:
        raise RequestError(422, f"the {served.model.name} model is one fit: there is no other "
                           "seed or draw to compare its lists with", "stability",
                           hint="train it with --ensemble 5, or use bpmf")  # fmt: skip


def _refused(exc: RecfactorError, parameter: str | None) -> RequestError:
    """An engine's refusal as a request's: an unknown name 404, the rest 422."""
    from recfactor.errors import ColdStartError

    status = 404 if isinstance(exc, ColdStartError) else 422
    if isinstance(exc, ParameterError):
        parameter = None
    return RequestError(status, exc.message, parameter, exc.hint)


def _items(served: Served, rows: Sequence[dict], key: str) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        entry = {"rank": row["rank"], "item": row[key], "score": _number(row["score"])}
        if "stability" in row:
            entry["stability"] = _number(row["stability"])
        if served.titles is not None:
            entry["title"] = served.titles.get(row[key], "")
        out.append(entry)
    return out


def _title(served: Served, item: str) -> str | None:
    return None if served.titles is None else served.titles.get(item, "")


def _number(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(value: Any, name: str, least: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise RequestError(400, f"'{name}' must be a whole number of at least {least}", name)
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise RequestError(400, f"'{name}' must be true or false", name)
    return value
