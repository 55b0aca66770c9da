"""The exception family the engine raises and the CLI turns into one-line errors."""

from __future__ import annotations

import re

# A parameter named in a message: `holdout_per_user`. Python callers read the name itself, the
# command line its flag (--holdout-per-user): the engine names parameters, never flags.
_PARAMETER = re.compile(r"`([a-z][a-z0-9_]*)`")


def as_python(text: str | None) -> str | None:
    return None if text is None else _PARAMETER.sub(r"\1", text)


def as_flags(text: str | None) -> str | None:
    """``text`` with each `parameter` written as its command-line flag."""
    if text is None:
        return None
    return _PARAMETER.sub(lambda m: "--" + m.group(1).replace("_", "-"), text)


class RecfactorError(Exception):
    """Base class: a message for the user and an optional hint that says what to do.

    Parameters are named between backquotes (`lr`): ``message`` and ``hint`` show the name,
    ``as_flags`` the command line's flag."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(as_python(message))
        self.template = message
        self.hint_template = hint

    @property
    def message(self) -> str:
        return as_python(self.template)

    @property
    def hint(self) -> str | None:
        return as_python(self.hint_template)

    def for_command_line(self) -> tuple[str, str | None]:
        """(message, hint) with flags for parameters."""
        return as_flags(self.template), as_flags(self.hint_template)


class DataError(RecfactorError):
    """The input data cannot be read or is not valid ratings."""


class ModelFileError(RecfactorError):
    """A model file is missing, truncated, corrupt, foreign or from a newer version."""


class FitError(RecfactorError):
    """Training failed (for example it diverged)."""


class ParameterError(RecfactorError):
    """A parameter value is out of range or does not fit the data."""


class ColdStartError(RecfactorError):
    """An unknown user or item was asked for under ``strict`` mode."""


class NotFittedError(RecfactorError):
    """A model was asked to predict, recommend or save before it was fitted."""
