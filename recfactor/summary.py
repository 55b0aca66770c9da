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
    names = names or {}
    state = manifest.get("state", {})
    info: dict[str, Any] = {
        "algorithm": manifest["algorithm"],
        "feedback": state.get("feedback"),
        "seed": manifest["params"].get("seed"),
        "params": manifest["params"],
        "users": len(model.user_ids_),
        "items": len(model.item_ids_),
        "factors": 0 if model.item_factors_ is None else int(model.item_factors_.shape[1]),
        "training": {
            **state.get("train_metrics", {}),
            **{k: state[k] for k in ("n_iter", "objective") if state.get(k) is not None},
            "fit_seconds": state.get("fit_seconds"),
        },
        "data": {k: v for k, v in (manifest.get("data") or {}).items() if k != "read_options"},
        "created": manifest.get("created"),
        "recfactor_version": manifest.get("recfactor_version"),
    }
    factors = []
    if model.item_factors_ is not None:
        q = model.item_factors_.astype(np.float64)
        p = model.user_factors_.astype(np.float64)
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
    if model.item_factors_ is None:
        return None
    users, items = len(model.user_ids_), len(model.item_ids_)
    if max(users, items) > HEATMAP_MAX_ROWS:
        return None
    k = model.item_factors_.shape[1]
    labels = [f"f{f}" for f in range(k)]
    w = model.user_factors_.astype(np.float64)
    h = model.item_factors_.astype(np.float64).T
    return [
        ("W (users x factors)", [str(u) for u in model.user_ids_], labels, w),
        ("H (factors x items)", labels, [str(i) for i in model.item_ids_], h),
    ]
