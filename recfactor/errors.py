"""The exception family the engine raises and the CLI turns into one-line errors."""

from __future__ import annotations


class RecfactorError(Exception):
    """Base class: a message for the user and an optional hint that says what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


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
