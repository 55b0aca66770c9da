"""Seed ensembles: N fits of one model, seeded ``seed, seed + 1, ..., seed + N - 1``, averaged
into one model of the same kind.

Every model predicts ``mu + b_u + b_i + p_u . q_i``, so the average of N members is again one:
the mean of the members' ``mu`` and biases, and their factors side by side, each scaled by
``1 / sqrt(N)`` (``sum_m p_u^m . q_i^m / N``). The merged model predicts, recommends, finds
similar items, folds users in, exports and saves as any model of its kind; the members' own
biases are kept (``member_*``) so that each member's list can still be read
(:func:`member_scores`, ``recommend --stability``).

An average over seeds keeps what the seeds agree on: Francomano et al. (2024) measured +30.8%
rank-list stability at equal NDCG for such ensembles.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from recfactor.errors import ParameterError

# Arrays an ensemble keeps beyond its kind's: each member's item biases (a column a member),
# which with its block of factors rank its own lists (a user's bias and the global mean
# shift a whole list and change no ranking).
MEMBER_ARRAYS = ("member_item_bias",)


def check_ensemble(model: Any, warm_start: Any) -> None:
    """Refuse what an ensemble cannot be: a warm-started fit (the members would share their
    start), a model that averages its own draws with more (bfm's placement of new rows is
    fitted to its one chain)."""
    n = model.params.ensemble
    if n == 1:
        return
    if warm_start is not None:
        raise ParameterError("an ensemble cannot start from a model",
                             hint="fit it from its own start, or give ensemble 1")  # fmt: skip
    if model.name == "bfm":
        raise ParameterError(
            "bfm averages its own posterior draws and takes no ensemble",
            hint="keep more draws with `samples`, or use bpmf or another algorithm",
        )
    if model.params.seed + n - 1 > 2**63 - 1:
        raise ParameterError("the members' seeds (seed + ensemble - 1) pass 2^63 - 1",
                             hint="give a smaller seed")  # fmt: skip


def spaced_seed(seed: int, params: dict[str, Any]) -> int:
    """The seed a run under ``seed`` gives its model where runs under several seeds are
    compared (evaluate, stability): an ensemble of N starts at ``seed * N``, so that no two
    runs share a member (seeds 0 and 1 of ensembles of 5: members 0-4 and 5-9)."""
    return seed * int(params.get("ensemble", 1) or 1)


def fit_members(
    model: Any, dataset: Any, rating_scale: Any, on_epoch: Callable[[int, int], None] | None
) -> list[Any]:
    """The N members of ``model``'s ensemble. Where the work pays for it, in worker processes
    of one thread each (N fits side by side, as evaluate's); else one after another, each with
    the threads the policy gives a fit. A member's fit does not depend on its thread count, so
    neither does the ensemble. ``on_epoch`` sees the epochs of all of them as one count."""
    n = model.params.ensemble
    seeds = [model.params.seed + m for m in range(n)]
    if _in_parallel(dataset, n):
        return _fit_in_workers(model, dataset, rating_scale, seeds, on_epoch)
    members = []
    for m, seed in enumerate(seeds):
        member = type(model)(dataclasses.replace(model.params, ensemble=1, seed=seed))
        report = None
        if on_epoch is not None:

            def report(done: int, total: int, m: int = m) -> None:
                on_epoch(m * total + done, n * total)

        member.fit(dataset, rating_scale=rating_scale, on_epoch=report, training_error=False)
        members.append(member)
    return members


def _in_parallel(dataset: Any, n: int) -> bool:
    """Whether N members are worth worker processes here (not inside one already: evaluate's
    workers fit their ensembles member by member)."""
    import multiprocessing

    from recfactor.running.workers import available_cores, parallel_pays

    if multiprocessing.current_process().daemon:
        return False
    return parallel_pays(dataset.n_ratings, n, available_cores())


def _fit_in_workers(model, dataset, rating_scale, seeds, on_epoch) -> list[Any]:
    from recfactor.running import blas
    from recfactor.running.workers import Workers, available_cores

    params = {**model.params.to_dict(), "ensemble": 1}
    calls = [(model.name, {**params, "seed": seed}, rating_scale) for seed in seeds]
    total = len(seeds)
    finished = [0]

    def done(k: int, result: Any) -> None:
        finished[0] += 1
        if on_epoch is not None:
            on_epoch(finished[0], total)

    with blas.threads(1), Workers(min(available_cores(), total), [model.name], dataset) as pool:
        states = pool.run(_fit_member, calls, done)
    members = []
    for call, state in zip(calls, states):
        member = type(model)(model.params_class(**call[1]))
        member.__dict__.update(state)
        members.append(member)
    return members


def _fit_member(algo: str, params: dict[str, Any], rating_scale: Any, dataset: Any) -> dict:
    """In a worker: one member fitted, its state without the callables a process cannot send."""
    from recfactor.models import model_class

    cls = model_class(algo)
    member = cls(cls.params_class(**params)).fit(dataset, rating_scale=rating_scale,
                                                 training_error=False)  # fmt: skip
    return {k: v for k, v in member.__dict__.items() if not callable(v) and k != "params"}


def merge(model: Any, members: list[Any]) -> None:
    """``model`` (whose fit has set its IDs, scale and feedback) becomes the average of
    ``members``: the last member's other state (penalties for fold-in, a solver's record), the
    members' mean ``mu`` and biases, their factors side by side."""
    n = len(members)
    keep = {"params": model.params, "_on_epoch": model._on_epoch, "_warm": None}
    model.__dict__.update({k: v for k, v in members[-1].__dict__.items() if k not in keep})
    model.global_mean_ = float(np.mean([m.global_mean_ for m in members]))
    for side in ("user", "item"):
        biases = [getattr(m, f"{side}_bias_") for m in members]
        stacked = None if biases[0] is None else np.stack(biases, axis=1)
        setattr(model, f"{side}_bias_", None if stacked is None else stacked.mean(axis=1))
        if side == "item":
            model.member_item_bias_ = stacked
        factors = [getattr(m, f"{side}_factors_") for m in members]
        if factors[0] is not None:
            dtype = factors[0].dtype
            joined = np.hstack(factors).astype(np.float64) / np.sqrt(n)
            setattr(model, f"{side}_factors_", joined.astype(dtype))


def fits(model: Any) -> int:
    """How many fits a model's factors hold side by side, each with its own lists: an
    ensemble's members, times bpmf's kept draws; 1 for a single point estimate."""
    if model.item_factors_ is None:
        return 1
    if model.name in ("bpmf", "bfm"):
        return model.item_factors_.shape[1] // model.params.factors
    return model.params.ensemble


def require_fits(model: Any) -> int:
    """:func:`fits`, refusing a single point estimate (its one list has nothing to agree
    with)."""
    count = fits(model)
    if count == 1:
        raise ParameterError(
            f"the {model.name} model is one fit: there is no other seed or draw to compare "
            "its lists with",
            hint="train it with `ensemble` 5 (or use bpmf, whose draws are compared)",
        )
    return count


def fit_scores(model: Any, u: np.ndarray, fit: int) -> np.ndarray:
    """Fit ``fit``'s own ranking scores of every item for the user indices ``u``: its block of
    factors, and its item biases where they count (those of its ensemble member)."""
    count = fits(model)
    k = model.item_factors_.shape[1] // count
    cols = slice(fit * k, (fit + 1) * k)
    out = (model.user_factors_[u, cols].astype(np.float64) @
           model.item_factors_[:, cols].T.astype(np.float64)) * count  # fmt: skip
    if model.uses_bias_ and model.item_bias_ is not None:
        members = model.member_item_bias_
        member = fit * model.params.ensemble // count
        out += model.item_bias_ if members is None else members[:, member]
    return out


def list_support(
    model: Any, users: np.ndarray, top: np.ndarray, exclude_seen: bool, allowed: Any
) -> np.ndarray:
    """For each item of each user's list (``top``: item indices, -1 for none), the share of
    the model's fits (ensemble members, posterior draws) whose own top-N of that user holds it:
    how far the item's place in the list rests on one seed."""
    from recfactor.models.scoring import top_n

    count = require_fits(model)
    n = top.shape[1]
    held = np.zeros(top.shape)
    for start in range(0, len(users), 1024):  # bounded memory, as recommend_index
        block = users[start : start + 1024]
        rows = slice(start, start + len(block))
        seen = model._seen_cells(block) if exclude_seen else None
        for fit in range(count):
            s = fit_scores(model, block, fit)
            if seen is not None:
                s[seen] = -np.inf
            if allowed is not None:
                s[:, ~allowed] = -np.inf
            own, _ = top_n(s, n)
            held[rows] += (top[rows, :, None] == own[:, None, :]).any(axis=2)
    return np.where(top >= 0, held / count, np.nan)


def neighbour_support(model: Any, items: np.ndarray, top: np.ndarray, allowed: Any) -> np.ndarray:
    """:func:`list_support` of ``similar``'s lists: the share of fits whose own nearest items
    (cosine of its block of factors) hold each listed item."""
    from recfactor.models.scoring import top_n

    count = require_fits(model)
    k = model.item_factors_.shape[1] // count
    held = np.zeros(top.shape)
    for fit in range(count):
        q = model.item_factors_[:, fit * k : (fit + 1) * k].astype(np.float64)
        q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        s = q[items] @ q.T
        s[np.arange(len(items)), items] = -np.inf
        if allowed is not None:
            s[:, ~allowed] = -np.inf
        own, _ = top_n(s, top.shape[1])
        held += (top[:, :, None] == own[:, None, :]).any(axis=2)
    return np.where(top >= 0, held / count, np.nan)
