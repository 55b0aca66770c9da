"""The evaluate report as a picture: per-seed metrics, and how alike the seeds' factors are.

matplotlib is an optional extra (``pip install 'recfactor[plot]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recfactor.errors import RecfactorError


def plot_evaluation(report: dict[str, Any], path: Path) -> None:
    """Left: each seed's fold-averaged value of the first metric, one column per algorithm.
    Right: for each factor model, the similarity of every pair of seeds' item factors."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RecfactorError(
            "`plot` needs matplotlib", hint="pip install 'recfactor[plot]'"
        ) from None
    import numpy as np

    metric = next(iter(report["runs"][0]["metrics"]))
    algos = list(dict.fromkeys(run["algo"] for run in report["runs"]))
    grids = [r for r in report["nonuniqueness"] if r.get("seed_similarity")]
    lists = [r for r in report["nonuniqueness"] if r.get("list_jaccard") is not None]
    panels = 1 + len(grids) + bool(lists)
    fig, axes = plt.subplots(1, panels, figsize=(4 + 3.6 * (panels - 1), 3.6), squeeze=False)
    left = axes[0, 0]
    for x, algo in enumerate(algos):
        by_seed: dict[int, list[float]] = {}
        for run in report["runs"]:
            if run["algo"] == algo:
                by_seed.setdefault(run["seed"], []).append(run["metrics"][metric])
        values = [float(np.mean(v)) for v in by_seed.values()]
        left.scatter(np.full(len(values), x) + np.linspace(-0.15, 0.15, len(values)), values,
                     s=18)  # fmt: skip
    left.set_xticks(range(len(algos)), algos)
    left.set_ylabel(metric)
    left.set_title("per seed")
    for ax, record in zip(axes[0, 1:], grids):
        grid = np.asarray(record["seed_similarity"])
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis")
        ax.set_title(f"{record['algo']}: {record['seed_measure']}")
        ax.set_xlabel("seed")
        ax.set_ylabel("seed")
        fig.colorbar(image, ax=ax, fraction=0.046)
    if lists:
        _plot_lists(axes[0, -1], lists)
    fig.tight_layout()
    _save(fig, path, 110)


def _plot_lists(ax: Any, records: list[dict[str, Any]]) -> None:
    """Each algorithm's top-N Jaccard across seeds by user-activity quartile, and the chance
    level of two random lists (dotted)."""
    for record in records:
        values = [float("nan") if v is None else v for v in record["list_jaccard_by_activity"]]
        line = ax.plot(range(1, len(values) + 1), values, marker="o", label=record["algo"])
        ax.axhline(record["chance_list_jaccard"], color=line[0].get_color(), linestyle=":")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(range(1, 5), ["q1", "q2", "q3", "q4"])
    ax.set_xlabel("users by activity (quartile)")
    ax.set_ylabel(f"top-{records[0]['list_n']} Jaccard across seeds")
    ax.set_title("lists (dotted: chance)")
    ax.legend(fontsize=7)


def plot_stability(reports: list[dict[str, Any]], path: Path) -> None:
    """Stable components against k for each algorithm (the diagonal: all stable), and the
    cross-validated metric on the right axis."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RecfactorError(
            "`plot` needs matplotlib", hint="pip install 'recfactor[plot]'"
        ) from None
    from recfactor.report import STABILITY_COLUMNS

    fig, left = plt.subplots(figsize=(7, 4))
    right = None
    ks = sorted({r["k"] for report in reports for r in report["rows"]})
    left.plot(ks, ks, color="0.8", linestyle="--", label="all stable")
    for report in reports:
        rows = report["rows"]
        k = [r["k"] for r in rows]
        stable = [r["stable_components"] for r in rows]
        left.plot(k, stable, marker="o", label=f"{report['algo']}: stable components")
        metric = next((c for c in rows[0] if c not in STABILITY_COLUMNS), None) if rows else None
        if metric is not None:
            right = right or left.twinx()
            right.plot(k, [r[metric] for r in rows], linestyle=":", marker="s",
                       label=f"{report['algo']}: {metric}")  # fmt: skip
            right.set_ylabel(metric)
    left.set_xlabel("k")
    left.set_ylabel("stable components")
    left.set_title("stability across seeds")
    left.legend(loc="upper left", fontsize="small")
    if right is not None:
        right.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    _save(fig, path, 120)


def _save(fig: Any, path: Path, dpi: int) -> None:
    """The figure as PNG, through the rule every write follows (recfactor.targets)."""
    import matplotlib.pyplot as plt

    from recfactor import targets

    try:
        with targets.replacing(path, RecfactorError, "--plot") as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)
