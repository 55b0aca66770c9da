"""How a model's parameters are declared: each with its default, bounds, help text (which
makes it a command-line flag), where it applies, its presets and its search space. Free of
numpy, so that the command line reads every model's parameters (its flags, its help) without
loading any model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from recfactor.errors import ParameterError


def declare(
    default: Any,
    *,
    low: float | None = None,
    above: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] | None = None,
    help: str | None = None,
    flag: str | None = None,
    short: str | None = None,
    feedback: str | None = None,
    solvers: tuple[str, ...] | None = None,
    switch: bool = False,
    presets: dict[str, Any] | None = None,
    space: str | dict[str, str] | None = None,
) -> Any:
    """A model parameter, declared once: its default and range, and what the command line
    makes of it. ``help``: a parameter with help text is a command-line flag (named ``flag``,
    else after the parameter; several parameters of a model may share one flag); ``short``:
    its one-letter form; ``feedback`` and ``solvers``: where it applies (elsewhere the flag is
    refused as ignored); ``switch``: a true/false flag with its ``--no-`` form. ``None`` as the
    default means "decided by the data" (the feedback kind's own default). ``presets``: the
    parameter's value in each named set of other defaults (``PRESETS``); ``space``: the range
    ``recfactor tune`` searches when given none (``"16..256:log2"``, or one per kind of
    feedback)."""
    metadata = {"min": low, "above": above, "max": high, "choices": choices, "help": help,
                "flag": flag, "short": short, "feedback": feedback, "solvers": solvers,
                "switch": switch, "presets": presets or {}, "space": space}  # fmt: skip
    return dataclasses.field(default=default, metadata=metadata)


# Named sets of defaults other than recfactor's own, for comparisons one to one with a peer;
# each parameter declares its value in them (``declare(presets=...)``), and a parameter that
# declares none keeps recfactor's default.
PRESETS = {
    "surprise": "Surprise's defaults (svd: 20 epochs, lr 0.005, reg 0.02; svdpp likewise)",
    "spark": "Spark MLlib's ALS defaults (als without biases)",
    "libmf": "LIBMF's model (svd: 8 factors, no biases, 20 epochs, reg 0.1 in the ratings' units)",
}


# Bounds every parameter of a kind keeps unless its field says otherwise: integers fit the
# compiled loops' 32-bit counters, and a real parameter beyond 1e12 (a penalty, a confidence
# weight, a tolerance) overflows the 32-bit factors rather than meaning anything.
MAX_INT_PARAM = 2**31 - 1
MAX_FLOAT_PARAM = 1e12
# Epochs beyond this are a typo, and the per-epoch bookkeeping would be allocated up front.
MAX_EPOCHS = 100_000
# Seeds are drawn into numpy's generators and written in JSON: at most 2^63 - 1.
MAX_SEED = 2**63 - 1
# Members of an ensemble: each is a whole fit, and their factors are saved side by side.
MAX_ENSEMBLE = 1000


def _shown(value: float) -> str:
    """A number as a message shows it: an integer whole, a float to six figures."""
    return str(value) if isinstance(value, int) else f"{value:g}"


@dataclass(frozen=True)
class Params:
    """Parameters common to every model. Subclasses add their own fields.

    Every field is checked on construction: its type (an integer, a finite real number, a
    flag, one of a few words), and its range (the field's own, else the kind's bounds above).
    """

    # The kinds of feedback the model fits (others are refused by its data checks).
    feedbacks: ClassVar[tuple[str, ...]] = ("explicit", "implicit")

    seed: int = declare(0, low=0, high=MAX_SEED)
    # Members of a seed ensemble (recfactor.models.ensemble); 1: a single model.
    ensemble: int = declare(1, low=1, high=MAX_ENSEMBLE,
                            help="Average N fits seeded seed, seed+1, ..., seed+N-1 (one model; "
                            "steadier lists)")  # fmt: skip

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            if value is None and "None" in str(spec.type):
                continue  # "decided by the data" (the feedback kind's default)
            value = _checked_type(spec, value)
            object.__setattr__(self, spec.name, value)
            label = f"`{spec.name}`"  # the command line shows its flag
            low = spec.metadata.get("min")
            if low is not None and value < low:
                raise ParameterError(f"{label} must be at least {low} (got {_shown(value)})",
                                     hint=f"give {label} {low} or more")  # fmt: skip
            above = spec.metadata.get("above")
            if above is not None and not value > above:
                raise ParameterError(f"{label} must be above {above} (got {_shown(value)})",
                                     hint=f"give {label} a value above {above}")  # fmt: skip
            high = spec.metadata.get("max")
            if high is None and isinstance(value, int) and not isinstance(value, bool):
                high = MAX_EPOCHS if spec.name == "epochs" else MAX_INT_PARAM
            elif high is None and isinstance(value, float):
                high = MAX_FLOAT_PARAM
            if high is not None and abs(value) > high:
                shown = _shown(high)
                raise ParameterError(f"{label} must be at most {shown} (got {_shown(value)})",
                                     hint=f"give {label} {shown} or less")  # fmt: skip
            choices = spec.metadata.get("choices")
            if choices is not None and value not in choices:
                raise ParameterError(f"{label} must be one of {', '.join(choices)}",
                                     hint=f"choose {label} from {', '.join(choices)}")  # fmt: skip

    @classmethod
    def preset(cls, name: str) -> dict[str, Any]:
        """The values that the preset ``name`` gives this model's parameters."""
        if name not in PRESETS:
            raise ParameterError(f"unknown preset {name!r}",
                                 hint="choose one of " + ", ".join(PRESETS))  # fmt: skip
        return {f.name: f.metadata["presets"][name] for f in dataclasses.fields(cls)
                if name in f.metadata.get("presets", {})}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def resolved(self, feedback: str) -> Params:
        """These parameters with each "decided by the data" (None) replaced by the value the
        fit used on ``feedback`` data: what a fitted model records and ``inspect`` shows."""
        return self


def _checked_type(spec: dataclasses.Field, value: Any) -> Any:
    """``value`` as the field's kind (100 and 100.0 must give the same model and compiled
    kernel), or a ParameterError."""
    import math
    import numbers

    kind = str(spec.type)
    label = spec.name.replace("_", "-")
    if "bool" in kind:
        if not _is_bool(value):
            raise ParameterError(f"{label} must be true or false, not {value!r}")
        return bool(value)
    if "float" in kind:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ParameterError(f"{label} must be a number, not {value!r}")
        try:
            value = float(value)
        except OverflowError:
            raise ParameterError(f"{label} must be a finite number, not {value}") from None
        if not math.isfinite(value):
            raise ParameterError(f"{label} must be a finite number, not {value}")
        return value
    if "int" in kind:
        if _is_bool(value) or not isinstance(value, numbers.Integral):
            raise ParameterError(f"{label} must be a whole number, not {value!r}")
        return int(value)
    if "str" in kind and not isinstance(value, str):
        raise ParameterError(f"{label} must be a word, not {value!r}")
    return value


def _is_bool(value: Any) -> bool:
    """A Python or numpy bool (numpy's is no subclass of bool; numpy itself is not loaded)."""
    kind = type(value)
    return isinstance(value, bool) or (
        kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_")
    )
