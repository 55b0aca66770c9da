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

from recfactor.errors import ParameterError

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
    parameter class; default every registered model's, read without loading the models)."""
    if algorithms is None:
        from recfactor.models import ALGORITHMS, params_class

        algorithms = {name: params_class(name) for name in ALGORITHMS}
    flags: dict[str, Flag] = {}
    for algo, cls in algorithms.items():
        for spec in dataclasses.fields(cls):
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
    for feedback in cls.feedbacks:
        try:
            out[feedback] = getattr(cls().resolved(feedback), name)
        except Exception:  # a value only the data decides
            out[feedback] = None
    return out


def default_solver(algo: str) -> str | None:
    from recfactor.models import params_class

    fields = {f.name: f for f in dataclasses.fields(params_class(algo))}
    return fields["solver"].default if "solver" in fields else None


def model_params(
    algo: str, flags: dict[str, Any], feedback: str, strict: bool = True
) -> dict[str, Any]:
    """Parameters for ``algo`` on ``feedback`` data from the model flags given (None = not
    given).

    A flag that ``algo`` does not take, or does not use with this feedback or solver, is an
    error when ``strict``; otherwise it is left out (evaluate compares several algorithms with
    one set of flags, and :func:`require_used` checks that each flag went somewhere). What
    each flag sets, and where it applies, comes from the models' parameter declarations.
    """

    table = model_flags()
    solver = _solver_of(algo, flags)
    params: dict[str, Any] = {}
    if flags.get("preset") is not None:
        from recfactor.models import model_class

        params.update(model_class(algo).params_class.preset(flags["preset"]))
    for name, value in flags.items():
        if value is None or name == "preset":
            continue
        flag = table[name]
        if algo not in flag.targets:
            if strict:
                raise ParameterError(
                    f"{flag.option} does not apply to --algo {algo}",
                    hint="applies to --algo " + ", ".join(flag.targets),
                )
            continue
        if not flag.applies(algo, feedback, solver):
            if strict:
                raise _not_here(flag, algo, feedback, solver)
            continue
        value = getattr(value, "value", value)  # an Enum choice: its text
        for target in flag.targets[algo]:
            params[target] = value
    return params


def _not_here(flag: Any, algo: str, feedback: str, solver: str | None) -> Exception:
    """The error for a flag ``algo`` takes but ignores with this feedback or solver."""

    if flag.feedback[algo] in (None, feedback):  # the solver, then
        return ParameterError(
            f"{flag.option} does not apply to --algo {algo} with --solver {solver}",
            hint=f"drop it; it applies to --solver {', '.join(flag.solvers[algo])}",
        )
    return ParameterError(
        f"{flag.option} does not apply to --algo {algo} with --feedback {feedback}",
        hint="drop it; " + _what_uses(flag.name, feedback),
    )


def _solver_of(algo: str, flags: dict[str, Any]) -> str | None:
    return flags.get("solver") or default_solver(algo)


def _what_uses(name: str, feedback: str) -> str:

    flag = model_flags()[name]
    users = [algo for algo in flag.targets if flag.feedback[algo] in (None, feedback)]
    if users:
        return f"with --feedback {feedback} it applies to --algo {', '.join(users)}"
    other = "explicit" if feedback == "implicit" else "implicit"
    return f"it applies with --feedback {other}"


def require_used(takers: list[str], flags: dict[str, Any], feedback: str) -> None:
    """Beside other algorithms, each flag given must still be used by one of ``takers``."""

    table = model_flags()
    for name, value in flags.items():
        if name == "preset":
            continue
        used = any(table[name].applies(a, feedback, _solver_of(a, flags)) for a in takers)
        if value is not None and not used:
            raise ParameterError(
                f"{table[name].option} applies to none of --algo {','.join(takers)} "
                f"with --feedback {feedback}",
                hint=_what_uses(name, feedback),
            )
