"""The error tree. Only the CLI turns these into a message and an exit code."""

from __future__ import annotations

from mxsim.exits import ExitCode

__all__ = ["ExitCode", "MxsimError", "ParameterError", "ScenarioError", "UsageError"]


class MxsimError(Exception):
    """Base of every error mxsim reports to a user."""

    exit_code: int = ExitCode.BAD_INPUT

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ScenarioError(MxsimError):
    """A scenario file is malformed. Carries the file and line it is about."""

    def __init__(self, message: str, *, file: str, line: int | None) -> None:
        self.file = file
        self.line = line
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {message}")
        self.detail = message


class ParameterError(MxsimError):
    """An MTA parameter override (-o NAME=VALUE, main.cf) is unknown or malformed."""


class UsageError(MxsimError):
    """Command-line arguments that do not fit together."""
