"""Rendering: rich tables for people, CSV and JSON for programs, progress bars on stderr.

Data goes to stdout, everything else to stderr. Streams are looked up at each write (never
bound at import) so redirections, pipes and test runners see what is written.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any


def resolve_format(fmt: str | None) -> str:
    """The requested format, or table on a terminal and csv when stdout is piped."""
    if fmt is None:
        return "table" if sys.stdout.isatty() else "csv"
    return fmt


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, no_color="NO_COLOR" in os.environ, highlight=False)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.6g}"
    return str(value)


def _column(values: list[Any]) -> list[str]:
    """``_cell`` of every value, faster where the whole column is floats or strings."""
    kinds = {type(v) for v in values}
    if kinds == {float}:
        return [f"{v:.6g}" if v == v else "" for v in values]
    if kinds == {str}:
        return values
    return [_cell(v) for v in values]


# A table too wide for the terminal is turned on its side up to this many records.
TRANSPOSE_UP_TO = 8


def write_records(
    records: Sequence[dict[str, Any]],
    columns: Sequence[str],
    fmt: str,
    title: str | None = None,
) -> None:
    """Write records as a table, CSV (header first) or a JSON list."""
    if fmt == "json":
        sys.stdout.write(json.dumps([dict(r) for r in records], default=_json_default) + "\n")
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        # Column by column: a batch of half a million recommendations is mostly floats and
        # strings, formatted here without _cell's chain of type tests for every value.
        writer.writerows(zip(*(_column([r.get(c) for r in records]) for c in columns)))
        return
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    if len(records) == 1 and len(columns) > 3:
        # One result of many fields (train's summary): a field a row, so that an 80-column
        # terminal shows every number whole instead of cutting them to fit the columns.
        table.add_column("field")
        table.add_column("value", overflow="fold")
        for column in columns:
            table.add_row(column, _cell(records[0].get(column)))
        _console().print(table)
        return
    console = _console()
    cells = [[_cell(r.get(c)) for c in columns] for r in records]
    # Each column as wide as its widest cell, plus its border and padding (3).
    needed = sum(max([len(c), *(len(row[k]) for row in cells)]) + 3 for k, c in enumerate(columns))
    if needed > console.width and len(records) <= TRANSPOSE_UP_TO:
        # Too wide for the terminal (stability's 13 columns on 80): a field a row, a record a
        # column, so that every number shows whole instead of as '0.…'.
        table.add_column("field")
        for k in range(len(records)):
            table.add_column(str(k + 1), justify="right", overflow="fold")
        for k, column in enumerate(columns):
            table.add_row(column, *(row[k] for row in cells))
        console.print(table)
        return
    for column in columns:
        # Folded, not cut, where the terminal is too narrow still: a digit per line at worst.
        table.add_column(column, justify="right" if _numeric(records, column) else "left",
                         overflow="fold")  # fmt: skip
    for row in cells:
        table.add_row(*row)
    console.print(table)


def write_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _numeric(records: Sequence[dict[str, Any]], column: str) -> bool:
    values = [r.get(column) for r in records[:20] if r.get(column) is not None]
    return bool(values) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    )


@contextlib.contextmanager
def progress(total: int | None, description: str, enabled: bool) -> Iterator[Callable[..., None]]:
    """A progress bar on stderr, only when stderr is a terminal.

    Yields ``update(done=None, total=None)``: with no arguments it advances by one; otherwise it
    sets the position (and the total, for work whose length the engine decides).
    """
    if not enabled or not sys.stderr.isatty():
        yield lambda done=None, total=None: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        "left",
        TimeRemainingColumn(),  # the ETA, once a step has ended
        console=_console(stderr=True),
        redirect_stdout=False,
        redirect_stderr=False,
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=total)

        def update(done: int | None = None, new_total: int | None = None) -> None:
            if done is None:
                bar.advance(task)
            else:
                bar.update(task, completed=done, total=new_total)

        yield update


def render_evaluation(report: dict[str, Any], fmt: str) -> None:
    """The evaluate report: per-seed rows, the spread across seeds, prediction disagreement."""
    if fmt == "json":
        write_json(report)
        return
    if fmt == "csv":
        rows = [
            {
                **{k: run[k] for k in ("algo", "seed", "fold", "fit_seconds")},
                "metric": m,
                "value": v,
            }
            for run in report["runs"]
            for m, v in run["metrics"].items()
        ]
        rows += list_rows(report)
        write_records(rows, ["algo", "seed", "fold", "metric", "value", "fit_seconds"], "csv")
        return
    _render_evaluation_tables(report)


def list_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The seeds' list agreement as rows of evaluate's CSV (seed ``all``, fold ``whole``: the
    fits to all the data): ``jaccard@10`` and its ``chance_jaccard@10``, ``rbo@10``, and the
    breakdowns ``jaccard@10_activity_q1`` (least active users) ... ``kept@10_popularity_q4``
    (most rated items)."""
    rows = []
    for r in report["nonuniqueness"]:
        if r.get("list_jaccard") is None:
            continue
        n = r["list_n"]
        values = {f"jaccard@{n}": r["list_jaccard"],
                  f"chance_jaccard@{n}": r["chance_list_jaccard"],
                  f"rbo@{n}": r["list_rbo"], f"chance_rbo@{n}": r["chance_list_rbo"]}  # fmt: skip
        for q, v in enumerate(r["list_jaccard_by_activity"], 1):
            values[f"jaccard@{n}_activity_q{q}"] = v
        for q, v in enumerate(r["list_kept_by_popularity"], 1):
            values[f"kept@{n}_popularity_q{q}"] = v
        rows += [{"algo": r["algo"], "seed": "all", "fold": "whole", "metric": m, "value": v,
                  "fit_seconds": ""} for m, v in values.items() if v is not None]  # fmt: skip
    return rows


def _render_evaluation_tables(report: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
    ds, split = report["dataset"], report["split"]
    console.print(
        f"{ds['source']}: {ds['users']} users, {ds['items']} items, {ds['ratings']} ratings; "
        f"{split.get('description', '')}",
        markup=False,
    )
    metrics = list(report["runs"][0]["metrics"]) if report["runs"] else []
    per_seed = Table(title="Per seed (metrics averaged over folds)", title_justify="left")
    for column in ("algo", "seed", *metrics, "fit s"):
        per_seed.add_column(column, justify="left" if column == "algo" else "right")
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for run in report["runs"]:
        grouped.setdefault((run["algo"], run["seed"]), []).append(run)
    for (algo, seed), runs in grouped.items():
        means = [sum(r["metrics"][m] for r in runs) / len(runs) for m in metrics]
        fit = sum(r["fit_seconds"] for r in runs) / len(runs)
        per_seed.add_row(algo, str(seed), *(f"{v:.4f}" for v in means), f"{fit:.3f}")
    console.print(per_seed)

    spread = Table(title="Across seeds", title_justify="left")
    for column in ("algo", "metric", "mean", "std", "min", "max"):
        spread.add_column(column, justify="left" if column in ("algo", "metric") else "right")
    for row in report["summary"]:
        spread.add_row(
            row["algo"],
            row["metric"],
            *(f"{row[k]:.4f}" for k in ("mean", "std", "min", "max")),
        )
    console.print(spread)

    _render_nonuniqueness(report, console)


def evaluation_message(report: dict[str, Any]) -> list[str]:
    """The evaluate report's message in plain lines (for a log, beside CSV on stdout): the
    spread of each metric across seeds, and each algorithm's reading of what changes."""
    lines = []
    seeds = {r["seed"] for r in report["runs"]}
    for row in report["summary"]:
        spread = (f", std {row['std']:.4f} across seeds ({row['min']:.4f} to {row['max']:.4f})"
                  if len(seeds) > 1 else " (one seed: more would show how it moves)")  # fmt: skip
        lines.append(f"{row['algo']} {row['metric']}: mean {row['mean']:.4f}{spread}")
    for r in report["nonuniqueness"]:
        if r.get("reading"):
            lines.append(f"{r['algo']}: {r['reading']}")
    return lines


def _render_nonuniqueness(report: dict[str, Any], console) -> None:
    from rich.table import Table

    rows = [r for r in report["nonuniqueness"] if r.get("prediction_disagreement") is not None]
    if not rows:
        return
    seeds = len({run["seed"] for run in report["runs"]})
    table = Table(
        title="What changes across seeds (predictions on the test folds; factors fitted to all "
        "the data)",
        title_justify="left",
    )
    columns = ("algo", "predictions: RMS diff", "max spread", "factors matched (chance)",
               "subspace (chance)", "p.q correlation", "distinct solutions")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "algo" else "right")

    def pair(value, chance):
        return "-" if value is None else f"{value:.2f} ({chance:.2f})"

    for r in rows:
        distinct = r.get("distinct_solutions")
        table.add_row(
            r["algo"],
            f"{r['prediction_disagreement']:.4f}",
            f"{r['max_prediction_spread']:.3f}",
            pair(r.get("factor_similarity"), r.get("chance_factor_similarity")),
            pair(r.get("subspace_similarity"), r.get("chance_subspace_similarity")),
            "-" if r.get("interaction_agreement") is None else f"{r['interaction_agreement']:.2f}",
            "-" if distinct is None else f"{distinct} of {seeds} (at {r['threshold']:g})",
        )
    console.print(table)
    _render_lists(rows, console)
    for r in rows:
        console.print(f"{r['algo']}: {r['reading']}", markup=False, highlight=False)


def _render_lists(rows: list[dict[str, Any]], console) -> None:
    """Each user's top-N across seeds: overlaps with their chance levels, by quartile."""
    from rich.table import Table

    rows = [r for r in rows if r.get("list_jaccard") is not None]
    if not rows:
        return
    n = rows[0]["list_n"]
    table = Table(title=f"Each user's top {n} across seeds (fits to all the data; chance in "
                  "brackets; quartiles lowest first)", title_justify="left")  # fmt: skip
    for column in ("algo", "Jaccard (chance)", "RBO (chance)", "by user activity",
                   "kept, by item popularity"):  # fmt: skip
        table.add_column(column, justify="left" if column == "algo" else "right")

    def quartiles(values):
        return " ".join("-" if v is None else f"{v:.2f}" for v in values)

    for r in rows:
        table.add_row(
            r["algo"],
            f"{r['list_jaccard']:.2f} ({r['chance_list_jaccard']:.3f})",
            f"{r['list_rbo']:.2f} ({r['chance_list_rbo']:.3f})",
            quartiles(r["list_jaccard_by_activity"]),
            quartiles(r["list_kept_by_popularity"]),
        )
    console.print(table)


def render_description(stats: dict[str, Any], fmt: str) -> None:
    """``describe`` output: one statistic a row (csv/table), or one JSON object."""
    if fmt == "json":
        write_json(stats)
        return
    rows = [{"statistic": k, "value": v} for k, v in stats.items() if k != "histogram"]
    rows += [
        {"statistic": f"count of {h['value']}", "value": h["count"]} for h in stats["histogram"]
    ]
    if fmt == "csv":
        write_records(rows, ["statistic", "value"], "csv")
        return
    from rich.table import Table

    table = Table(title=f"{stats['source']}", title_justify="left")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for row in rows:
        if not row["statistic"].startswith("count of "):
            table.add_row(row["statistic"], _cell(row["value"]))
    console = _console()
    console.print(table)
    peak = max(h["count"] for h in stats["histogram"]) or 1
    histogram = Table(title="Rating histogram", title_justify="left")
    for column in ("value", "count", ""):
        histogram.add_column(column, justify="right" if column == "count" else "left")
    for h in stats["histogram"]:
        histogram.add_row(h["value"], str(h["count"]), "#" * max(1, round(40 * h["count"] / peak)))
    console.print(histogram)


def render_model(info: dict[str, Any], maps: list | None, fmt: str) -> None:
    """``inspect`` output: settings and fit, then per-factor norms and top items, then (small
    models, table format) heatmaps of W and H."""
    if fmt == "json":
        write_json(info)
        return
    if fmt == "csv":
        rows = [
            {"factor": f["factor"], "rank": r + 1, **item}
            for f in info["latent_factors"]
            for r, item in enumerate(f["top_items"])
        ]
        write_records(rows, ["factor", "rank", "item", "name", "weight"], "csv")
        return
    from rich.table import Table

    console = _console()
    settings = Table(title="Model", title_justify="left", show_header=False)
    settings.add_column("field")
    settings.add_column("value")
    params = ", ".join(f"{k}={v}" for k, v in info["params"].items() if k != "seed")
    training = ", ".join(f"{k} {_cell(v)}" for k, v in info["training"].items())
    data = info["data"]
    for field, value in (
        ("algorithm", info["algorithm"]),
        ("feedback", info["feedback"]),
        ("seed", info["seed"]),
        ("parameters", params),
        ("size", f"{info['users']} users x {info['items']} items, {info['factors']} factors"),
        ("training", training),
        (
            "data",
            f"{data.get('path')} (sha256 {str(data.get('sha256'))[:12]}...)"
            if data.get("path")
            else "stdin",
        ),
        (
            "written by",
            f"recfactor {info['recfactor_version']}"
            + (f" on {info['created']}" if info.get("created") else ""),
        ),
    ):
        settings.add_row(field, _cell(value))
    console.print(settings)
    if info["latent_factors"]:
        table = Table(title="Latent factors", title_justify="left")
        for column in ("factor", "|users|", "|items|", "top items (weight)"):
            table.add_column(column, justify="left" if column.startswith("top") else "right")
        for f in info["latent_factors"]:
            tops = "; ".join(
                f"{t['name'] or t['item']} ({t['weight']:.3g})" for t in f["top_items"]
            )
            table.add_row(str(f["factor"]), f"{f['user_norm']:.3g}", f"{f['item_norm']:.3g}",
                          tops)  # fmt: skip
        console.print(table)
    for title, rows, columns, matrix in maps or []:
        console.print(_heatmap(title, rows, columns, matrix))


def _heatmap(title: str, rows: list[str], columns: list[str], matrix):
    """A table whose cells are coloured by value: white to red for non-negative matrices,
    blue through white to red when values change sign. Numbers stay readable without colour."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("")
    for column in columns:
        table.add_column(column, justify="right")
    low, high = float(matrix.min()), float(matrix.max())
    scale = max(abs(low), abs(high)) or 1.0
    for label, values in zip(rows, matrix):
        cells = []
        for v in values:
            t = float(v) / scale
            if t >= 0:
                shade = int(255 * (1 - t))
                colour = f"rgb(255,{shade},{shade})"
            else:
                shade = int(255 * (1 + t))
                colour = f"rgb({shade},{shade},255)"
            cells.append(f"[black on {colour}]{v:6.2f}[/]")
        table.add_row(label, *cells)
    return table


def render_comparison(info: dict[str, Any], fmt: str) -> None:
    """``inspect --compare``: the agreement measures, then matched factors side by side."""
    if fmt == "json":
        write_json(info)
        return
    if fmt == "csv":
        rows = [
            {"factor": p["factor"], "other_factor": p["other_factor"], "cosine": p["cosine"],
             "top_items": "; ".join(p["top_items"]),
             "other_top_items": "; ".join(p["other_top_items"])}
            for p in info["pairs"]
        ]  # fmt: skip
        write_records(rows, ["factor", "other_factor", "cosine", "top_items", "other_top_items"],
                      "csv")  # fmt: skip
        return
    from rich.table import Table

    console = _console()

    def with_chance(value, chance):
        return "-" if value is None else f"{value:.3f} (chance {chance:.3f})"

    console.print(
        f"{info['shared_items']} shared items, {info['shared_users']} shared users compared; "
        f"aligned up to {info['alignment']}",
        markup=False,
    )
    console.print(
        "factors matched: "
        + with_chance(info["factor_similarity"], info["chance_factor_similarity"])
        + "; subspace: "
        + with_chance(info["subspace_similarity"], info["chance_subspace_similarity"])
        + "; p.q correlation: "
        + (
            "-" if info["interaction_agreement"] is None else f"{info['interaction_agreement']:.3f}"
        ),
        markup=False,
    )
    table = Table(title="Matched factors", title_justify="left")
    for column in ("factor", "other", "cosine", "top items", "other model's top items"):
        table.add_column(column, justify="right" if column in ("factor", "other", "cosine")
                         else "left")  # fmt: skip
    for p in info["pairs"]:
        table.add_row(str(p["factor"]), str(p["other_factor"]), f"{p['cosine']:.3f}",
                      "; ".join(p["top_items"]), "; ".join(p["other_top_items"]))  # fmt: skip
    console.print(table)


STABILITY_COLUMNS = ("algo", "k", "stable_components", "distinct_solutions", "median_similarity",
                     "instability", "cophenetic", "dispersion", "zeros_w", "zeros_h",
                     "list_jaccard", "chance_list_jaccard", "users_under_k",
                     "items_under_k")  # fmt: skip


def render_stability(reports: list[dict[str, Any]], fmt: str) -> None:
    """``stability`` output: one row per algorithm and k; each algorithm's reading after a
    table (on stderr for CSV, so that the CSV stays data), inside the JSON."""
    if fmt == "json":
        write_json({"reports": reports})
        return
    rows = [row for report in reports for row in report["rows"]]
    present = {c for r in rows for c in r}
    extra = [c for c in dict.fromkeys(c for r in rows for c in r) if c not in STABILITY_COLUMNS]
    columns = [c for c in STABILITY_COLUMNS if c in present] + extra
    ds = reports[0]["dataset"]
    algos = ", ".join(r["algo"] for r in reports)
    title = f"{ds['source']}: stability of {algos} across seeds at each k"
    if fmt == "table":  # short headers, so that a row fits an 80-column terminal
        short = {"stable_components": "stable", "distinct_solutions": "distinct",
                 "median_similarity": "median sim",
                 "instability": "instab.", "cophenetic": "cophen.", "dispersion": "disp.",
                 "users_under_k": "users<k", "items_under_k": "items<k",
                 "list_jaccard": "top10 J", "chance_list_jaccard": "chance"}  # fmt: skip
        rows = [{short.get(c, c): r.get(c) for c in columns} for r in rows]
        columns = [short.get(c, c) for c in columns]
    write_records(rows, columns, fmt, title=title)
    for report in reports:
        line = f"{report['algo']}: {report['reading']}"
        if fmt == "csv":
            sys.stderr.write(line + "\n")
        else:
            _console().print(line, markup=False, highlight=False)
