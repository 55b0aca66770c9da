"""What an evaluation runs and what it finds: the algorithms (:class:`AlgoSpec`), the
settings (:class:`EvalConfig`) and the report (:class:`Report`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from recfactor.errors import ParameterError
from recfactor.evaluation.seeds import MAX_SEEDS
from recfactor.models.base import MAX_SEED

if TYPE_CHECKING:  # imported for annotations only: importing the readers imports pandas
    from recfactor.dataset import Dataset


@dataclass(frozen=True)
class AlgoSpec:
    """An algorithm name and the parameters to build it with (the seed is set per run);
    ``label`` names it in the report where one algorithm runs with several settings
    (``"svd:k=50"``)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str | None = None

    @property
    def tag(self) -> str:
        return self.label or self.name


@dataclass
class Report:
    """What ``evaluate`` found; ``to_dict`` is the JSON contract of DESIGN section 2."""

    dataset: dict[str, Any]
    split: dict[str, Any]
    runs: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    nonuniqueness: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "runs": self.runs,
            "summary": self.summary,
            "nonuniqueness": self.nonuniqueness,
        }

    def render(self, fmt: str = "table") -> None:
        """Print the report as ``recfactor evaluate`` does: ``table``, ``csv`` or ``json``."""
        from recfactor.report import render_evaluation

        render_evaluation(self.to_dict(), fmt)


@dataclass(frozen=True)
class EvalConfig:
    """What :func:`evaluate` runs.

    ``algos``: algorithm names (``"svd"``), :class:`AlgoSpec` (a name and parameters) or
    unfitted models (``SVD(factors=50)``: their parameters, the seed aside). ``seeds``: a count
    (0..N-1) or the seeds themselves. The split: ``folds`` (k-fold; 5 by default for ratings),
    ``test_fraction`` (one random holdout), ``holdout_per_user`` (N ratings, or a fraction, of
    every user; 0.2 by default for implicit data) or ``test`` (a separate Dataset), drawn from
    ``split_seed``. ``metrics``: ``rmse``, ``mae``, ``ndcg@10``, ... (default: rmse and mae for
    ratings, the top-N metrics at 10 for implicit data). ``jobs``: cores (default all); the
    report does not depend on it.
    """

    algos: Sequence[Any] = ("baseline", "svd")
    seeds: int | Sequence[int] = 3
    folds: int | None = None
    test_fraction: float | None = None
    holdout_per_user: float | None = None
    test: Dataset | None = None
    split_seed: int = 0
    metrics: Sequence[str] | None = None
    relevant_threshold: float = 4.0
    jobs: int | None = None
    # Each rating's time (recfactor.io.times.read_times): a holdout then holds out the latest.
    times: np.ndarray | None = None
    # A Spark cluster (recfactor.cluster.Cluster) whose executors run the fits, one task each
    # (recfactor.evaluation.fanout); None: here.
    cluster: Any = None


def seed_list(config: EvalConfig) -> list[int]:
    """``config``'s seeds: 0..N-1 for a count, else the seeds given (each once)."""
    if isinstance(config.seeds, int) and not 1 <= config.seeds <= MAX_SEEDS:
        raise ParameterError(f"`seeds`: a count must be between 1 and {MAX_SEEDS}")
    seeds = (list(range(config.seeds)) if isinstance(config.seeds, int)
             else list(dict.fromkeys(int(s) for s in config.seeds)))  # fmt: skip
    if not seeds or any(not 0 <= s <= MAX_SEED for s in seeds) or len(seeds) > MAX_SEEDS:
        raise ParameterError(f"seeds must be a count up to {MAX_SEEDS} or as many integers "
                             f"between 0 and {MAX_SEED}")  # fmt: skip
    return seeds


def metric_list(config: EvalConfig, feedback: str) -> list[str]:
    """``config``'s metrics (rmse and mae for ratings, the top-N metrics at 10 for implicit
    feedback by default), checked."""
    from recfactor.evaluation.metrics import parse_metrics

    return parse_metrics(
        ",".join(config.metrics) if config.metrics else
        ("precision,recall,ndcg,map,coverage" if feedback == "implicit" else "rmse,mae")
    )  # fmt: skip


def as_spec(algo: Any) -> AlgoSpec:
    if isinstance(algo, AlgoSpec):
        return algo
    if isinstance(algo, str):
        from recfactor.models import model_class

        model_class(algo)  # an unknown name fails here, with the names that exist
        return AlgoSpec(algo)
    params = getattr(algo, "params", None)
    if params is None or not hasattr(algo, "name"):
        raise ParameterError(f"not an algorithm: {algo!r}", hint="give a name such as 'svd'")
    settings = params.to_dict()
    settings.pop("seed", None)
    return AlgoSpec(algo.name, settings)


def algo_specs(
    text: str | None, feedback: str, flags: dict[str, Any] | None = None
) -> list[AlgoSpec]:
    """The algorithms of ``text`` (``baseline,svd:k=50;reg=0.05,als``), each with the model
    flags (``flags``: name -> value, None = not given) that apply to it and its own settings.
    With one algorithm every flag must apply to it; beside others, each takes the flags that
    apply to it (the baseline keeps its defaults as the reference line). Two settings of one
    algorithm are two rows."""
    from recfactor.models import ALGORITHMS
    from recfactor.models.flags import model_params, require_used

    flags = flags or {}
    default_algos = "baseline,svd" if feedback == "explicit" else "baseline,svd,als"
    chosen = _parse_algos(text or default_algos)
    names = [name for name, _ in chosen]
    unknown = [a for a in names if a not in ALGORITHMS]
    if unknown or not names:
        raise ParameterError(
            f"unknown algorithm {', '.join(unknown) or text!r}",
            hint="choose from " + ", ".join(ALGORITHMS),
        )
    single = len(set(names)) == 1
    takers = [n for n in dict.fromkeys(names) if n != "baseline" or single]
    if not single:
        require_used(takers, flags, feedback)
    specs = {}
    for name, own in chosen:
        params = model_params(name, flags, feedback, strict=single) if name in takers else {}
        # Settings joined by ';' in the label: a CSV cell without quotes, which `cut -d,` keeps
        # whole (--algo reads it back).
        label = f"{name}:{';'.join(own)}" if own else name
        specs.setdefault(label, AlgoSpec(name, {**params, **_settings(name, own)},
                                         label if own else None))  # fmt: skip
    return list(specs.values())


def _parse_algos(text: str) -> list[tuple[str, list[str]]]:
    """``baseline,svd:k=50,reg=0.05,als`` as (name, settings) pairs: a ``KEY=VALUE`` after an
    algorithm's ``name:`` belongs to it (``;`` separates settings too, as labels write them)."""
    out: list[tuple[str, list[str]]] = []
    for token in (t.strip() for t in text.replace(";", ",").split(",")):
        if not token:
            continue
        if "=" in token and ":" not in token:
            if not out or not out[-1][1]:
                raise ParameterError(f"`algo`: {token!r} follows no algorithm's settings",
                                     hint="write ALGO:KEY=VALUE,KEY=VALUE")  # fmt: skip
            out[-1][1].append(token)
            continue
        name, _, first = token.partition(":")
        out.append((name.strip(), [first.strip()] if first.strip() else []))
    return out


def _settings(algo: str, texts: list[str]) -> dict[str, Any]:
    """``k=50``-style settings as parameters, checked as `tune` checks its space."""
    from recfactor.errors import ParameterError
    from recfactor.evaluation import tuning

    out = {}
    for dim in tuning.parse_space(texts, algo) if texts else []:
        if dim.choices is None or len(dim.choices) != 1:
            raise ParameterError(f"`algo` {algo}: {dim.name} takes one value here",
                                 hint=f"write {algo}:{dim.name}=VALUE")  # fmt: skip
        out[dim.name] = dim.choices[0]
    return out
