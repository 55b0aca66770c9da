"""What a model learned, for ``recfactor inspect``: settings, fit, factor norms, top items."""

from __future__ import annotations

from typing import Any

import numpy as np

# Models at most this large get their factor matrices drawn as heatmaps.
HEATMAP_MAX_ROWS = 40


def summarise(
    model: Any, manifest: dict[str, Any], names: dict[str, str] | None = None, top: int = 5
) -> dict[str, Any]:
    """A JSON-able description of a fitted model.

    For each latent factor: the norms of its user and item columns, and the items with the
    largest weights in it (for factors that can be negative, the largest positive weights).
    """
    from recfactor.models.flags import applying

    names = names or {}
    state = manifest.get("state", {})
    latent = model.latent_factors()
    info: dict[str, Any] = {
        "algorithm": manifest["algorithm"],
        "feedback": state.get("feedback"),
        "seed": manifest["params"].get("seed"),
        # What the fit used: settings that do not apply to it (svd's lr under lanczos) left out.
        "params": applying(manifest["algorithm"], state.get("feedback"), manifest["params"]),
        "users": len(model.user_ids_),
        "items": len(model.item_ids_),
        "factors": 0 if model.item_factors_ is None else int(latent[1].shape[1]),
        "training": {
            **state.get("train_metrics", {}),
            **{
                k: state[k]
                for k in ("n_iter", "objective", "epochs_run")
                if state.get(k) is not None
            },
            # Files written before the file held only what the fit decides.
            **{k: state[k] for k in ("fit_seconds",) if state.get(k) is not None},
        },
        "data": {k: v for k, v in (manifest.get("data") or {}).items() if k != "read_options"},
        "recfactor_version": manifest.get("recfactor_version"),
    }
    if manifest.get("created"):  # files written before the file held no clock
        info["created"] = manifest["created"]
    factors = []
    if latent is not None:
        p, q = (side.astype(np.float64) for side in latent)
        order = np.argsort(-q, axis=0, kind="stable")
        for f in range(q.shape[1]):
            # Items under 1% of the factor's largest weight say nothing about it.
            floor = 0.01 * q[order[0, f], f]
            chosen = [j for j in order[:top, f] if q[j, f] > floor] or list(order[:1, f])
            factors.append(
                {
                    "factor": f,
                    "user_norm": float(np.linalg.norm(p[:, f])),
                    "item_norm": float(np.linalg.norm(q[:, f])),
                    "top_items": [
                        {
                            "item": str(model.item_ids_[j]),
                            "name": names.get(str(model.item_ids_[j])),
                            "weight": float(q[j, f]),
                        }
                        for j in chosen
                    ],
                }
            )
    info["latent_factors"] = factors
    return info


def heatmaps(model: Any) -> list[tuple[str, list[str], list[str], np.ndarray]] | None:
    """(title, row labels, column labels, matrix) for W and H when the model is small."""
    latent = model.latent_factors()
    if latent is None:
        return None
    users, items = len(model.user_ids_), len(model.item_ids_)
    if max(users, items) > HEATMAP_MAX_ROWS:
        return None
    k = latent[1].shape[1]
    labels = [f"f{f}" for f in range(k)]
    w = latent[0].astype(np.float64)
    h = latent[1].astype(np.float64).T
    return [
        ("W (users x factors)", [str(u) for u in model.user_ids_], labels, w),
        ("H (factors x items)", labels, [str(i) for i in model.item_ids_], h),
    ]


def compare(a: Any, b: Any, names: dict[str, str] | None = None, top: int = 5) -> dict[str, Any]:
    """How alike two models' factors are, on the items (and users) both know.

    Factors are matched one to one (Hungarian method on cosine; absolute cosine unless both
    models' factors are non-negative), the subspaces compared by principal angles, and the
    factor parts ``p . q`` correlated on every pair of up to 500 shared users and all shared
    items. Chance levels: the same comparison with each of B's columns shuffled over the items.
    """
    from recfactor.evaluation.nonunique import (
        _unit_columns,
        chance_levels,
        correlation,
        matched_similarity,
        pairing,
        subspace_similarity,
    )

    if a.item_factors_ is None or b.item_factors_ is None:
        from recfactor.errors import RecfactorError

        raise RecfactorError(
            "both models need factors to compare", hint="a baseline model has none"
        )
    names = names or {}
    items = np.intersect1d(a.item_ids_, b.item_ids_)
    users = np.intersect1d(a.user_ids_, b.user_ids_)[:500]
    if len(items) < 2:
        from recfactor.errors import RecfactorError

        raise RecfactorError("the two models share fewer than two items",
                             hint="compare models trained on the same items")  # fmt: skip
    qa = a.item_factors_[a.item_index(items)].astype(np.float64)
    qb = b.item_factors_[b.item_index(items)].astype(np.float64)
    nonnegative = bool((qa >= 0).all() and (qb >= 0).all())
    signed = not nonnegative
    cosine = _unit_columns(qa).T @ _unit_columns(qb)
    score = np.abs(cosine) if signed else cosine
    rows, cols = pairing(score)
    interactions = None
    if len(users):
        pa = a.user_factors_[a.user_index(users)].astype(np.float64)
        pb = b.user_factors_[b.user_index(users)].astype(np.float64)
        interactions = correlation((pa @ qa.T).ravel(), (pb @ qb.T).ravel())
    chance_matched, chance_subspace = chance_levels(qa, qb, signed)

    def top_items(q: np.ndarray, f: int, sign: float) -> list[str]:
        order = np.argsort(-sign * q[:, f], kind="stable")[:top]
        return [names.get(str(items[j]), str(items[j])) for j in order]

    pairs = []
    for f, g in zip(rows, cols):
        sign = 1.0 if cosine[f, g] >= 0 else -1.0  # flip B's factor when it points the other way
        pairs.append(
            {
                "factor": int(f),
                "other_factor": int(g),
                "cosine": float(score[f, g]),
                "top_items": top_items(qa, f, 1.0),
                "other_top_items": top_items(qb, g, sign),
            }
        )
    return {
        "shared_items": len(items),
        "shared_users": len(users),
        "factor_similarity": matched_similarity(qa, qb, signed),
        "subspace_similarity": subspace_similarity(qa, qb),
        "interaction_agreement": interactions,
        "chance_factor_similarity": chance_matched,
        "chance_subspace_similarity": chance_subspace,
        "alignment": "permutation and scale" if nonnegative else "rotation",
        "pairs": sorted(pairs, key=lambda p: -p["cosine"]),
    }
