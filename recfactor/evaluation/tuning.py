"""Hyper-parameter search: a space over a model's declared parameters, trials drawn at random
or on a grid from one seed, successive halving over epochs for the iterative models, and each
trial scored by the evaluation's cross-validation (the same splits as ``evaluate``).

A space is written as the command line writes it: ``factors=16..256:log2`` (integers, powers
of two), ``reg=1e-3..1:log`` (log-uniform), ``epochs=10..200`` (uniform), ``solver=sgd,lanczos``
or ``reg=0.01,0.05,0.1`` (choices). Names are parameters or their flags (``k``, ``init-std``),
and a range must lie within the parameter's declared bounds.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recfactor.errors import DataError, ParameterError
from recfactor.models.base import MAX_SEED

SCALES = ("linear", "log", "log2")
# Points per numeric dimension of a grid search (a log2 integer range gives its powers).
GRID_POINTS = 4
# Successive halving keeps the best 1/ETA of the settings at each rung, and gives them ETA
# times the epochs; the first rung runs the settings for 1/ETA^rungs of theirs.
ETA = 3
# At least this many settings reach the full epochs (where there are as many).
FINALISTS = 3
# Rungs below the full epochs, at most: a first rung of 1/27 of 20 epochs is one epoch, which
# ranks settings by how fast they start, not where they end (measured on ML-100K: svdpp tuned
# with three rungs chose lr 0.017 at k=8 and scored 0.938, worse than its defaults' 0.923).
MAX_RUNGS = 2
# Settings a search may be asked for: each is at least one cross-validated fit, and the list
# is drawn before the first (a billion would fill memory before anything ran).
MAX_TRIALS = 100_000
# Integer bounds of a space: far beyond any rank, epoch count or seed a fit could use.
MAX_INTEGER = 2**62


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: a numeric range on a scale, or a list of choices."""

    name: str
    kind: type
    low: float | None = None
    high: float | None = None
    scale: str = "linear"
    choices: tuple[Any, ...] | None = None

    def draw(self, rng: np.random.Generator) -> Any:
        if self.choices is not None:
            return self.choices[int(rng.integers(len(self.choices)))]
        assert self.low is not None and self.high is not None
        if self.scale == "log2":
            exponents = np.arange(
                math.ceil(math.log2(self.low)), math.floor(math.log2(self.high)) + 1
            )
            return self._cast(2.0 ** exponents[int(rng.integers(len(exponents)))])
        if self.scale == "log":
            return self._cast(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        if self.kind is int:
            return int(rng.integers(int(self.low), int(self.high) + 1))
        return float(rng.uniform(self.low, self.high))

    def size(self) -> float:
        """How many distinct values the dimension holds (infinite for a float range)."""
        if self.choices is not None:
            return len(self.choices)
        assert self.low is not None and self.high is not None
        if self.scale == "log2":
            return len(self.grid())
        if self.kind is int:
            return int(self.high) - int(self.low) + 1
        return math.inf

    def every(self) -> list[Any]:
        """Each of the dimension's values, where they are finitely many (``size``)."""
        if self.choices is not None or self.scale == "log2":
            return self.grid()
        assert self.kind is int and self.low is not None and self.high is not None
        return list(range(int(self.low), int(self.high) + 1))

    def grid(self) -> list[Any]:
        if self.choices is not None:
            return list(self.choices)
        assert self.low is not None and self.high is not None
        if self.scale == "log2":
            top = math.floor(math.log2(self.high))
            return [self._cast(2.0**e) for e in range(math.ceil(math.log2(self.low)), top + 1)]
        if self.scale == "log":
            points = np.geomspace(self.low, self.high, GRID_POINTS)
        else:
            points = np.linspace(self.low, self.high, GRID_POINTS)
        return list(dict.fromkeys(self._cast(p) for p in points))

    def _cast(self, value: float) -> Any:
        return round(value) if self.kind is int else float(value)


def parse_space(texts: Sequence[str], algo: str) -> list[Dimension]:
    """Dimensions of ``algo``'s parameters from ``name=low..high[:scale]`` or
    ``name=a,b,c`` texts."""
    from recfactor.models import model_class

    fields = {f.name: f for f in dataclasses.fields(model_class(algo).params_class)}
    dims: dict[str, Dimension] = {}
    for text in texts:
        name, sep, spec = (part.strip() for part in text.partition("="))
        if not sep or not name or not spec:
            raise ParameterError(f"`space` {text!r}: write NAME=LOW..HIGH[:log|log2] or "
                                 "NAME=A,B,C")  # fmt: skip
        param = _parameter(name, algo, fields)
        if param in dims:
            raise ParameterError(f"`space` gives {param} twice")
        dims[param] = _dimension(param, spec, fields[param], text)
    if not dims:
        raise ParameterError("the search space is empty", hint="give `space` NAME=LOW..HIGH")
    return list(dims.values())


def default_space(algo: str, feedback: str, fixed: Sequence[str] = ()) -> list[str]:
    """The space ``tune`` searches when given none: each parameter's declared ``space`` that
    applies to ``feedback`` (and is not ``fixed`` by a flag)."""
    from recfactor.models import model_class

    out = []
    for field in dataclasses.fields(model_class(algo).params_class):
        meta = field.metadata
        space = meta.get("space")
        if isinstance(space, dict):
            space = space.get(feedback)
        if space and meta.get("feedback") in (None, feedback) and field.name not in fixed:
            out.append(f"{field.name}={space}")
    return out


def _parameter(name: str, algo: str, fields: dict[str, Any]) -> str:
    """The parameter that ``name`` (a parameter, a flag or its short form) sets in ``algo``."""
    from recfactor.models.flags import model_flags

    plain = name.lstrip("-").replace("-", "_")
    if plain in fields and plain != "seed":
        return plain
    for flag in model_flags().values():
        if plain == flag.name or (flag.short and flag.short.lstrip("-") == plain):
            targets = flag.targets.get(algo, ())
            if len(targets) == 1:
                return targets[0]
    searchable = [n for n in fields if n != "seed"]
    raise ParameterError(f"{algo} has no parameter {name!r} to search",
                         hint=f"{algo} takes {', '.join(searchable)}")  # fmt: skip


def _dimension(param: str, spec: str, field: Any, text: str) -> Dimension:
    from recfactor.models.flags import KINDS

    meta = field.metadata
    kind = next(k for word, k in KINDS.items() if word in str(field.type))
    if ".." not in spec:
        choices = tuple(_value(v.strip(), kind, param) for v in spec.split(",") if v.strip())
        if not choices:
            raise ParameterError(f"`space` {text!r} lists no values")
        for value in choices:
            _within(param, value, meta)
        return Dimension(param, kind, choices=tuple(dict.fromkeys(choices)))
    if kind not in (int, float):
        raise ParameterError(f"{param} takes values, not a range",
                             hint=f"list them: {param}=A,B")  # fmt: skip
    bounds, _, scale = spec.partition(":")
    low_text, _, high_text = bounds.partition("..")
    low, high = (_value(v.strip(), kind, param) for v in (low_text, high_text))
    scale = scale.strip() or "linear"
    if scale not in SCALES:
        raise ParameterError(f"`space` {text!r}: scale {scale!r}", hint="use log or log2")
    if not low < high:
        raise ParameterError(f"`space` {text!r}: LOW must be below HIGH")
    if not math.isfinite(high - low):
        raise ParameterError(f"`space` {text!r}: the range is wider than a float holds",
                             hint="narrow the bounds")  # fmt: skip
    if scale in ("log", "log2") and low <= 0:
        raise ParameterError(f"`space` {text!r}: a log scale needs LOW above 0")
    if scale == "log2" and (kind is not int or 2 ** math.ceil(math.log2(low)) > high):
        raise ParameterError(f"`space` {text!r}: log2 takes an integer range holding a power "
                             "of two")  # fmt: skip
    _within(param, low, meta)
    _within(param, high, meta)
    return Dimension(param, kind, float(low), float(high), scale)


def _value(text: str, kind: type, param: str) -> Any:
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "yes", "1")
        if kind is int:
            number = float(text)
            if not number.is_integer():
                raise ValueError
            if abs(number) > MAX_INTEGER:
                raise ParameterError(f"{param}: {text} is beyond the integers a search takes",
                                     hint=f"keep it within ±{MAX_INTEGER:.3g}")  # fmt: skip
            return int(number)
        value = kind(text)
        if kind is float and not math.isfinite(value):
            raise ParameterError(f"{param} takes finite values, not {text!r}",
                                 hint="give a finite bound")  # fmt: skip
        return value
    except ValueError:
        raise ParameterError(f"{param} takes {kind.__name__} values, not {text!r}") from None


def _within(param: str, value: Any, meta: Any) -> None:
    if meta.get("choices") and value not in meta["choices"]:
        raise ParameterError(f"{param} is one of {', '.join(meta['choices'])}, not {value!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, above, high = meta.get("min"), meta.get("above"), meta.get("max")
        if (
            (low is not None and value < low)
            or (above is not None and value <= above)
            or (high is not None and value > high)
        ):
            limits = " and ".join(
                text for text in (
                    None if low is None else f"at least {low:g}",
                    None if above is None else f"above {above:g}",
                    None if high is None else f"at most {high:g}",
                ) if text
            )  # fmt: skip
            raise ParameterError(f"{param} must be {limits}; the space reaches {value:g}")


def settings(
    space: Sequence[Dimension], trials: int, search: str, seed: int, first: dict | None = None
) -> list[dict]:
    """The settings to try: ``first`` (the model's defaults, say) and ``trials - 1`` random
    draws from ``seed`` (repeats dropped), or the grid (all of it when ``trials`` is 0, else
    that many points of it drawn from ``seed``). A space with no more distinct settings than
    ``trials`` gives each of them once (at most ``trials`` with the defaults), without
    drawing."""
    size = math.prod(d.size() for d in space)
    if trials < 0 or (trials > MAX_TRIALS and size > MAX_TRIALS):
        raise ParameterError(f"`trials` must be between 0 and {MAX_TRIALS:,}",
                             hint="each trial is a cross-validated fit")  # fmt: skip
    if not 0 <= seed <= MAX_SEED:  # the draws' seed: `search_seed` to workflows and the CLI
        raise ParameterError(f"`search_seed` must be between 0 and {MAX_SEED}",
                             hint="seeds are non-negative 64-bit integers")  # fmt: skip
    if search == "grid":
        points = [dict(zip([d.name for d in space], combo))
                  for combo in itertools.product(*(d.grid() for d in space))]  # fmt: skip
        if trials and trials < len(points):
            keep = np.sort(np.random.default_rng(seed).choice(len(points), trials, replace=False))
            points = [points[k] for k in keep]
        return points
    if search != "random":
        raise ParameterError(f"`search` is random or grid, not {search!r}")
    if trials < 1:
        raise ParameterError("`trials` must be at least 1")
    rng = np.random.default_rng(seed)
    out: list[dict] = []
    seen: set = set()
    if first is not None:
        out.append(first)
        seen.add(tuple(sorted(first.items())))
    if size <= trials:  # every setting there is, the defaults first, then in a random order
        points = [dict(zip([d.name for d in space], combo))
                  for combo in itertools.product(*(d.every() for d in space))]  # fmt: skip
        order = rng.permutation(len(points))
        for k in order:
            key = tuple(sorted(points[k].items()))
            if key not in seen:
                seen.add(key)
                out.append(points[k])
        return out[:trials]
    for _ in range(trials * 20):  # repeats of a space barely larger than trials: dropped
        if len(out) >= trials:  # the defaults may already be all that was asked for
            break
        setting = {d.name: d.draw(rng) for d in space}
        key = tuple(sorted(setting.items()))
        if key not in seen:
            seen.add(key)
            out.append(setting)
    return out


@dataclass
class Tuning:
    """What a search found: every trial (one row per setting and rung), the best setting and
    its cross-validated score, and whether the time budget cut the search short."""

    algo: str
    metric: str
    space: list[str]
    search: str
    trials: list[dict[str, Any]]
    best: dict[str, Any]
    best_score: float
    halving: bool
    stopped_early: bool

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def lower_is_better(metric: str) -> bool:
    return metric in ("rmse", "mae")


def search(
    data: Any,
    algo: str,
    space: Sequence[Dimension],
    *,
    fixed: dict[str, Any] | None = None,
    trials: int = 20,
    search_kind: str = "random",
    seed: int = 0,
    model_seed: int = 0,
    halving: bool = True,
    metric: str | None = None,
    time_budget: float | None = None,
    split: dict[str, Any] | None = None,
    jobs: int | None = None,
    on_trial: Callable[[dict[str, Any]], None] | None = None,
    space_text: Sequence[str] = (),
    cluster: Any = None,
) -> Tuning:
    """Score each setting of ``space`` (over ``fixed`` parameters) by cross-validation on
    ``data`` (``split``: EvalConfig's split settings), with successive halving over epochs
    where ``halving`` and the model iterates; return the best at full epochs. ``seed`` draws
    the settings; ``model_seed`` seeds every trial's fits; ``cluster``: a Spark cluster whose
    executors run each trial's fits, one task each (the same scores)."""
    from recfactor import evaluation as ev
    from recfactor.models import model_class

    fixed = dict(fixed or {})
    folds: dict[tuple[int, int], list[float]] = {}  # each scored (trial, rung)'s fold values
    defaults = _defaults(model_class(algo), space)
    candidates = settings(space, trials, search_kind, seed, defaults)
    # The defaults go through every rung: they are what the search must beat, at the budget
    # they are used at (judged after a sixth of their epochs, they were dropped at the first).
    protected = [k for k, c in enumerate(candidates) if c == defaults][:1]
    if not 0 <= model_seed <= MAX_SEED:
        raise ParameterError(f"`seed` must be between 0 and {MAX_SEED}",
                             hint="seeds are non-negative 64-bit integers")  # fmt: skip
    config = ev.EvalConfig(algos=[algo], seeds=[model_seed], metrics=[metric] if metric else None,
                           jobs=jobs, cluster=cluster, **(split or {}))  # fmt: skip
    metric = ev.metric_list(config, data.feedback)[0]
    params_class = model_class(algo).params_class
    for setting in candidates:  # every setting must build before any fit
        params_class(**{**fixed, **setting})
    epochs_of = _epochs(params_class, fixed, data.feedback)
    halves = halving and epochs_of is not None and model_class(algo).epochs_halve
    rungs = _rungs(len(candidates)) if halves else 0
    sign = 1.0 if lower_is_better(metric) else -1.0
    started = time.perf_counter()
    deadline = None if time_budget is None else started + time_budget
    rows: list[dict[str, Any]] = []
    alive = list(range(len(candidates)))
    stopped = False
    dropped: _OutOfTime | None = None
    for rung in range(rungs + 1):
        share = ETA ** (rung - rungs)
        scores = {}
        for index in alive:
            if deadline is not None and time.perf_counter() > deadline:
                stopped = True
                break
            setting = {**fixed, **candidates[index]}
            if epochs_of is not None:
                full = setting.setdefault("epochs", epochs_of)
                setting["epochs"] = max(1, round(full * share))
            try:
                row = _score(data, algo, setting, config, metric, index, rung, deadline, folds)
            except _OutOfTime as cut:  # the trial running at the deadline is dropped
                stopped, dropped = True, cut
                break
            rows.append(row)
            scores[index] = row[metric]
            if on_trial is not None:
                on_trial(row)
        if stopped or rung == rungs:
            break
        keep = max(math.ceil(len(alive) / ETA), min(FINALISTS, len(alive)) if rung == rungs - 1
                   else 1)  # fmt: skip
        ranked = sorted(scores, key=lambda k: (sign * scores[k], k))
        alive = ranked[:keep] + [k for k in protected if k in scores and k not in ranked[:keep]]
    # The best score seen, at the budget it was seen at: a setting whose fewer epochs scored
    # better than any full fit is returned with those epochs (its early stop).
    finished = [row for row in rows if np.isfinite(row[metric])]
    if rows and not finished and not stopped:  # each trial ran, and none could be scored
        raise DataError(f"every trial's {metric} was undefined: its folds left no user or "
                        f"rating to score ({data.n_ratings} ratings)",
                        hint="use more data, fewer folds or another metric")  # fmt: skip
    if not finished:
        within = "" if time_budget is None else f" within `time_budget` ({time_budget:g} s)"
        said = "" if dropped is None else (f"; the trial cut short had fitted {dropped.fits} "
                                           f"of its folds in {dropped.seconds:.1f} s")  # fmt: skip
        raise ParameterError(f"no trial finished{within}{said}", hint="raise `time_budget`")
    best = min(finished, key=lambda row: (sign * row[metric], -row["rung"], row["trial"]))
    best = _unless_within_noise(best, finished, protected, metric, sign, folds)
    chosen = {**fixed, **candidates[best["trial"]]}
    if epochs_of is not None:
        chosen["epochs"] = best["epochs"]
    return Tuning(
        algo=algo, metric=metric, space=list(space_text), search=search_kind, trials=rows,
        best=chosen, best_score=best[metric],
        halving=rungs > 0, stopped_early=stopped,
    )  # fmt: skip


def _unless_within_noise(best: dict, rows: list[dict], protected: list[int], metric: str,
                         sign: float, folds: dict) -> dict:  # fmt: skip
    """``best``, or the defaults' full-budget row where ``best`` beats them by less than one
    standard error of their paired difference over the same folds (Breiman's one-standard-
    error rule): a lead inside the folds' noise is not one, and the defaults are what a user
    would have had without searching (on MovieLens 100K u1, a 30-trial svd search chose a
    setting 0.0015 ahead on its folds, whose spread is 0.0056, and 0.0008 behind on u1.test)."""
    if not protected or best["trial"] in protected:
        return best
    own = [row for row in rows if row["trial"] == protected[0]]
    if not own:
        return best
    default = max(own, key=lambda row: row["rung"])  # at the budget it is used at
    a = folds.get((best["trial"], best["rung"]))
    b = folds.get((default["trial"], default["rung"]))
    if a is None or b is None or len(a) != len(b) or len(a) < 2:
        return best
    gain = sign * (np.asarray(b) - np.asarray(a))  # positive: best is better, fold by fold
    error = float(np.std(gain, ddof=1) / np.sqrt(len(gain)))
    return best if float(gain.mean()) > error else default


def _defaults(cls: type, space: Sequence[Dimension]) -> dict[str, Any]:
    """The model's own defaults of the searched parameters: always one of the random trials,
    so that a search cannot do worse than not searching on the data it is scored on."""
    defaults = dataclasses.asdict(cls.params_class())
    return {d.name: defaults[d.name] for d in space if defaults.get(d.name) is not None}


def _epochs(params_class: type, fixed: dict[str, Any], feedback: str) -> int | None:
    """The epochs of an iterative model on ``feedback`` data, as fixed or by default (None
    for one fitted in closed form)."""
    names = {f.name: f for f in dataclasses.fields(params_class)}
    if "epochs" not in names:
        return None
    if fixed.get("solver") in ("lanczos", "randomized"):
        return None
    epochs = params_class(**fixed).resolved(feedback).epochs
    return None if epochs is None else int(epochs)


def _rungs(count: int) -> int:
    """How many times to cut ``count`` settings by ETA before one remains (at most
    ``MAX_RUNGS``)."""
    rungs = 0
    while ETA ** (rungs + 1) <= count and rungs < MAX_RUNGS:
        rungs += 1
    return rungs


class _OutOfTime(Exception):
    """The search's time budget ran out during a trial, after ``fits`` of its fold fits and
    ``seconds``."""

    def __init__(self, fits: int, seconds: float) -> None:
        super().__init__(fits, seconds)
        self.fits, self.seconds = fits, seconds


def _score(data: Any, algo: str, setting: dict, config: Any, metric: str, index: int,
           rung: int, deadline: float | None = None, folds: dict | None = None,
           ) -> dict[str, Any]:  # fmt: skip
    """One setting's cross-validated score; past ``deadline`` (checked as each fold's fit
    ends, so at most one fit later) the trial stops with _OutOfTime."""
    from recfactor import evaluation as ev

    fits = [0]

    def in_time() -> None:
        fits[0] += 1
        if deadline is not None and time.perf_counter() > deadline:
            raise _OutOfTime(fits[0], time.perf_counter() - started)

    started = time.perf_counter()
    config = dataclasses.replace(config, algos=[ev.AlgoSpec(algo, setting)])
    report = ev.evaluate(data, config, progress=in_time)
    values = [run["metrics"][metric] for run in report.runs]
    seconds = round(time.perf_counter() - started, 3)
    if folds is not None:
        folds[(index, rung)] = values
    return {"trial": index, "rung": rung, **setting, metric: float(np.mean(values)),
            "fold_std": float(np.std(values)), "seconds": seconds}  # fmt: skip


# How many of the best settings ``across_seeds`` re-runs.
RERUN = 3


def across_seeds(
    data: Any, found: Tuning, seeds: int, split: dict[str, Any] | None = None,
    jobs: int | None = None, cluster: Any = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """The ``RERUN`` best settings of ``found`` (each trial at the budget it scored best at,
    as the search returns its best), each cross-validated under seeds 0..N-1: the mean,
    spread and range of the metric across seeds, so that a lead smaller than the seeds'
    spread reads as one."""
    from recfactor import evaluation as ev

    sign = 1.0 if lower_is_better(found.metric) else -1.0
    order = sorted(found.trials, key=lambda row: (sign * row[found.metric], -row["rung"],
                                                  row["trial"]))  # fmt: skip
    ranked = list({row["trial"]: row for row in reversed(order)}.values())[::-1]
    ranked = sorted(ranked, key=lambda row: (sign * row[found.metric], row["trial"]))
    out = []
    skip = {"trial", "rung", found.metric, "fold_std", "seconds"}
    for place, row in enumerate(ranked[:RERUN], start=1):
        setting = {k: v for k, v in row.items() if k not in skip}
        config = ev.EvalConfig(algos=[ev.AlgoSpec(found.algo, setting)], seeds=seeds,
                               metrics=[found.metric], jobs=jobs, cluster=cluster,
                               **(split or {}))  # fmt: skip
        means = list(ev.seed_means(ev.evaluate(data, config).runs, found.metric).values())
        out.append({"rank": place, "trial": row["trial"], "setting": _said(setting),
                    "mean": float(np.mean(means)), "std": float(np.std(means)),
                    "min": float(np.min(means)), "max": float(np.max(means))})  # fmt: skip
    return out


def _said(setting: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in setting.items())  # fmt: skip


def read_space_file(path: Path | None) -> list[str]:
    """The space a TOML file of ``NAME = \"LOW..HIGH:log\"`` lines (or a ``[space]`` table)
    declares, as ``NAME=...`` texts; none without a file."""
    if path is None:
        return []
    try:
        import tomllib
    except ImportError:  # Python 3.10
        raise DataError(f"{path}: reading TOML needs Python 3.11",
                        hint="give the space with --space instead") from None  # fmt: skip
    if not path.exists():
        raise DataError(f"{path}: no such file", hint="check the path")
    if not path.is_file():  # a device would be read for ever, a FIFO wait for a writer
        raise DataError(f"{path}: not a regular file",
                        hint='write one NAME = "LOW..HIGH:log" a line')  # fmt: skip
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DataError(f"{path}: not a readable TOML file ({exc})",
                        hint='write one NAME = "LOW..HIGH:log" a line') from None  # fmt: skip
    table = table.get("space", table)
    return [f"{name}={','.join(map(str, value)) if isinstance(value, list) else value}"
            for name, value in table.items()]  # fmt: skip
