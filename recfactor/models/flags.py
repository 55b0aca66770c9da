"""The model flags of the command line, read off the models' parameter declarations.

Each parameter declared with help text (``models.base.declare``) is a flag; parameters of
several models that share a name (or a declared ``flag``) share one. Where a parameter
applies (the kind of feedback, the solver) is declared beside it, so the flags a model
would ignore are known here too, and the command line refuses them. Nothing in this module
knows a particular model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

KINDS = {"bool": bool, "float": float, "int": int, "str": str}


@dataclass
class Flag:
    """One command-line flag and what it sets in each model that takes it."""

    name: str  # as a parameter: init_std (the flag is --init-std)
    kind: type
    short: str | None = None
    switch: bool = False
    targets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # algo -> parameters
    helps: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    feedback: dict[str, str | None] = field(default_factory=dict)  # None: either kind
    solvers: dict[str, tuple[str, ...] | None] = field(default_factory=dict)
    # algo -> {feedback: the value a "decided by the data" (None) default takes there}
    by_feedback: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def help(self) -> str:
        """The help text of every model that takes the flag, and their defaults."""
        texts = list(dict.fromkeys(self.helps.values()))
        if len(texts) == 1:
            text = texts[0]
        else:  # models that say the same, named together
            takers: dict[str, list[str]] = {}
            for algo in self.targets:
                takers.setdefault(self.helps[algo], []).append(algo)
            text = "; ".join(f"{', '.join(algos)}: {help_}" for help_, algos in takers.items())
        defaults = ", ".join(
            f"{algo}{'' if self.feedback[algo] is None else ' (' + self.feedback[algo] + ')'} "
            f"{self._default(algo)}"
            for algo in self.targets
        )
        return f"{text} [{defaults}]."

    def _default(self, algo: str) -> str:
        """The default as the help shows it: one value, or where the kind of feedback decides
        it, the value on each ("10 explicit, 50 implicit")."""
        if self.defaults[algo] is not None:
            return _shown(self.defaults[algo])
        found = {fb: v for fb, v in self.by_feedback.get(algo, {}).items() if v is not None}
        wanted = self.feedback[algo]
        found = {fb: v for fb, v in found.items() if wanted in (None, fb)}
        if not found or (wanted is None and len(found) < 2):
            return "by the data"
        if len(set(map(str, found.values()))) == 1:
            return _shown(next(iter(found.values())))
        return " / ".join(f"{_shown(v)} {fb}" for fb, v in found.items())

    def applies(self, algo: str, feedback: str, solver: str | None) -> bool:
        """Whether the flag changes ``algo`` on ``feedback`` data with ``solver``."""
        if algo not in self.targets:
            return False
        wanted = self.feedback[algo]
        solvers = self.solvers[algo]
        return (wanted is None or wanted == feedback) and (
            solvers is None or solver is None or solver in solvers
        )


def applying(algo: str, feedback: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` of an ``algo`` model on ``feedback`` data less those its fit does not use
    (svd's lr and epochs under the lanczos solver, ALS's alpha on ratings)."""
    solver = params.get("solver")
    unused = {
        target
        for flag in model_flags().values()
        if not flag.applies(algo, feedback, solver)
        for target in flag.targets.get(algo, ())
    }
    return {k: v for k, v in params.items() if k not in unused}


def _shown(value: Any) -> str:
    if value is None:
        return "by the data"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def model_flags(algorithms: dict[str, type] | None = None) -> dict[str, Flag]:
    """Every model flag, in the order the models declare them (``algorithms``: name ->
    model class; default every registered model)."""
    if algorithms is None:
        from recfactor.models import ALGORITHMS, model_class

        algorithms = {name: model_class(name) for name in ALGORITHMS}
    flags: dict[str, Flag] = {}
    for algo, cls in algorithms.items():
        for spec in dataclasses.fields(cls.params_class):
            meta = spec.metadata
            if not meta.get("help"):
                continue
            name = meta.get("flag") or spec.name
            kind = next(k for word, k in KINDS.items() if word in str(spec.type))
            flag = flags.setdefault(name, Flag(name, kind, meta.get("short"), meta["switch"]))
            flag.targets[algo] = (*flag.targets.get(algo, ()), spec.name)
            flag.helps.setdefault(algo, meta["help"])
            flag.defaults.setdefault(algo, spec.default)
            flag.feedback[algo] = meta.get("feedback")
            flag.solvers[algo] = meta.get("solvers")
            if spec.default is None:
                flag.by_feedback[algo] = _resolved(cls, spec.name)
    return flags


def _resolved(cls: type, name: str) -> dict[str, Any]:
    """What a None default of ``name`` becomes on each kind of feedback the model fits."""
    out = {}
    for feedback in getattr(cls, "feedbacks", ("explicit", "implicit")):
        try:
            out[feedback] = getattr(cls.params_class().resolved(feedback), name)
        except Exception:  # a value only the data decides
            out[feedback] = None
    return out


def default_solver(algo: str) -> str | None:
    from recfactor.models import model_class

    fields = {f.name: f for f in dataclasses.fields(model_class(algo).params_class)}
    return fields["solver"].default if "solver" in fields else None
