"""The error tree. Only the CLI turns these into a message and an exit code."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes, defined once. Meanings per command are in each command's help."""

    OK = 0
    DEFERRED = 1  # trace: the attempt deferred; replay/check: a gate or finding failed
    BOUNCED = 2  # trace: bounced; check: could not measure (unknown)
    BAD_INPUT = 3


class MxsimError(Exception):
    """Base of every error mxsim reports to a user."""

    exit_code: ExitCode = ExitCode.BAD_INPUT

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
