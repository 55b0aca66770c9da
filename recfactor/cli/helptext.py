"""Help that teaches: each command's options in groups (its own, then model, evaluation,
input, Spark, output), plain metavars (``N``, ``X``, ``PATH``, ``ID``), and an Examples block;
and ``--debug`` taken anywhere on the line."""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup

# What the whole command line said beyond its parameters: {"debug": bool}.
state: dict[str, Any] = {}

# Where an option is listed when its declaration names no group (rich_help_panel).
GROUPS = {
    **dict.fromkeys(("algo", "seed", "preset", "rating_scale"), "Model"),
    **dict.fromkeys(("folds", "test_fraction", "test", "holdout_per_user", "split_seed", "seeds",
                     "metric", "relevant_threshold", "jobs", "plot", "cv"), "Evaluation"),
    **dict.fromkeys(("engine", "master", "remote", "spark_conf"), "Spark"),
    **dict.fromkeys(("fmt", "output", "quiet", "verbose", "help"), "Output"),
}  # fmt: skip
ORDER = ("Options", "Model", "Evaluation", "Input", "Spark", "Output")

# Metavars of text options, by parameter name; other text options read TEXT.
TEXT_METAVARS = {
    "user": "ID", "item": "ID", "sep": "SEP", "user_col": "COLUMN", "item_col": "COLUMN",
    "rating_col": "COLUMN", "master": "URL", "remote": "URL", "spark_conf": "KEY=VALUE",
    "rating_scale": "LOW,HIGH", "preset": "NAME", "solver": "NAME", "init": "NAME",
    "confidence": "NAME", "seeds": "SEEDS", "ranks": "RANKS", "metric": "METRIC",
    "algo": "ALGO", "space": "NAME=RANGE", "prefix": "TEXT", "test": "PATH",
}  # fmt: skip

EXAMPLES = {
    "train": ["recfactor train ratings.csv",
              "recfactor train u.data --algo als -k 50 -m als.model",
              "recfactor train clicks.csv --feedback implicit --algo als --alpha 40"],
    "update": ["recfactor update today.csv -m model",
               "recfactor update today.csv -m old.model --save-as new.model --epochs 5"],
    "predict": ["recfactor predict --user 1 --item 50",
                "recfactor predict test.csv -o predictions.parquet",
                "recfactor predict --history me.csv --user newbie --item 50"],
    "recommend": ["recfactor recommend --user 1 -n 5 --titles u.item --min-ratings 20",
                  "recfactor recommend --all-users -o top10.csv",
                  "recfactor recommend --history me.csv"],
    "similar": ["recfactor similar --item 1 --titles u.item",
                "recfactor similar items.txt -n 5 --min-ratings 50"],
    "export": ["recfactor export --what items -o items.parquet",
               "recfactor export --what users --format json"],
    "evaluate": ["recfactor evaluate u.data --algo svd --algo als --seeds 5",
                 "recfactor evaluate u.data --algo svd:k=50 --algo svd:k=100",
                 "recfactor evaluate -m model --test u1.test --metric rmse,ndcg@10"],
    "tune": ["recfactor tune u1.base --algo svd --trials 40 -m best.model",
             "recfactor tune u.data --algo als --space k=16..256:log2 --seeds 3"],
    "stability": ["recfactor stability u.data --algo nmf --ranks 2..20",
                  "recfactor stability food.csv --algo nmf,als --ranks 1..6 --seeds 20"],
    "describe": ["recfactor describe u.data", "recfactor describe ratings.parquet -o stats.json"],
    "split": ["recfactor split u.data --folds 5 -o folds/",
              "recfactor split u.data --test-fraction 0.2 --split-seed 1"],
    "inspect": ["recfactor inspect -m model --titles u.item",
                "recfactor inspect -m a.model --compare b.model"],
    "serve": ["recfactor serve -m ml.model --titles u.item",
              "curl 'http://127.0.0.1:8000/recommend?user=1&n=10'",
              "recfactor serve -m ml.model --host 0.0.0.0 --port 8080 --workers 2"],
}  # fmt: skip
ROOT_EXAMPLES = [
    "recfactor train sample_data/ratings.csv",
    "recfactor recommend --user u1 -n 5",
    "recfactor evaluate sample_data/ratings.csv --algo svd,als --seeds 3",
]


def take_debug(args: list[str], line: bool = False) -> list[str]:
    """``args`` without ``--debug`` (before a ``--``), which then turns tracebacks on: it may
    stand anywhere on the line, not only before the command. ``line``: these are the whole
    line's arguments, so its absence turns them off (one process may run many lines)."""
    end = args.index("--") if "--" in args else len(args)
    found = "--debug" in args[:end]
    if found or line:
        state["debug"] = found
    return [a for k, a in enumerate(args) if not (k < end and a == "--debug")]


def metavar(param: Any) -> str | None:
    """A plain metavar for ``param`` by its type (N, X, PATH, choices) or name (ID, URL)."""
    kind = param.type
    # By class name: typer carries its own copy of Click, whose classes are not click's.
    name = type(kind).__name__
    if hasattr(kind, "choices"):
        return "[" + "|".join(str(c) for c in kind.choices) + "]"
    if name in ("IntParamType", "IntRange"):
        return "N"
    if name in ("FloatParamType", "FloatRange"):
        return "X"
    if name in ("Path", "TyperPath", "File"):
        return "PATH"
    return TEXT_METAVARS.get(param.name or "", "TEXT")


def _write_examples(lines: list[str], formatter: Any) -> None:
    with formatter.section("Examples"):
        for line in lines:
            formatter.write_text("$ " + line)


def _repeated_option(params: list[Any], args: list[str]) -> str | None:
    """The first single-valued option ``args`` give twice (``-u a -u b``: Click would keep the
    last without a word), by any of its names (``--halving`` and ``--no-halving`` are one)."""
    by_name = {}
    for param in params:
        if param.param_type_name == "option" and not (param.multiple or param.count):
            for name in (*param.opts, *param.secondary_opts):
                by_name[name] = param
    seen: dict[int, str] = {}
    k = 0
    end = args.index("--") if "--" in args else len(args)
    while k < end:
        token = args[k]
        k += 1
        if not token.startswith("-") or token == "-":
            continue
        name = token.split("=", 1)[0] if token.startswith("--") else token[:2]
        param = by_name.get(name)
        if param is None:
            continue
        if id(param) in seen:
            return f"{seen[id(param)]} is given twice" + (
                f" (as {name})" if name != seen[id(param)] else ""
            )
        seen[id(param)] = name
        attached = "=" in token or (not token.startswith("--") and len(token) > 2)
        if not param.is_flag and not attached:
            k += 1  # its value, which may itself begin with '-'
    return None


# Old names still read but no longer shown: --items was --titles' first name, beside similar's
# --item and ITEMS file of IDs.
HIDDEN_ALIASES = ("--items",)


def _help_record(param: Any, ctx: Any) -> Any:
    """``param``'s help line without its hidden aliases."""
    shown = [o for o in param.opts if o not in HIDDEN_ALIASES]
    if len(shown) == len(param.opts) or not shown:
        return param.get_help_record(ctx)
    kept, param.opts = param.opts, shown
    try:
        return param.get_help_record(ctx)
    finally:
        param.opts = kept


class Command(TyperCommand):
    """A command whose help groups its options and ends with examples; a single-valued option
    given twice is a usage error."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        args = take_debug(args)
        repeated = _repeated_option(self.get_params(ctx), args)
        if repeated is not None:
            ctx.fail(f"{repeated}; give it once")
        inputs = [t for k, t in enumerate(args[: args.index("--") if "--" in args else None])
                  if (t == "-" and args[k - 1 : k] not in (["-o"], ["--output"]))
                  or (t.endswith("=-") and not t.startswith("--output="))]  # fmt: skip
        if len(inputs) > 1:  # the second would read nothing, and call its file empty
            ctx.fail("- (standard input) is given to two inputs, and only one can read it")
        return super().parse_args(ctx, args)

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, groups = [], {name: [] for name in ORDER}
        for param in self.get_params(ctx):
            if (
                param.param_type_name == "option"
                and param.metavar is None
                and not (param.is_flag or param.count)
            ):
                param.metavar = metavar(param)
            record = _help_record(param, ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append(record)
                continue
            group = getattr(param, "rich_help_panel", None) or GROUPS.get(param.name, "Options")
            groups.setdefault(group, []).append(record)
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        for name, records in groups.items():
            if records:
                title = "Options" if name == "Options" else f"{name} options"
                with formatter.section(title):
                    formatter.write_dl(records)

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        super().format_epilog(ctx, formatter)
        if self.name in EXAMPLES:
            _write_examples(EXAMPLES[self.name], formatter)


class Group(TyperGroup):
    """The root: its help ends with a first session's examples; --debug anywhere."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, take_debug(args, line=True))

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        super().format_epilog(ctx, formatter)
        _write_examples(ROOT_EXAMPLES, formatter)
