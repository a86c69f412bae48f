"""The error tree. Only the CLI turns these into a message and an exit code."""

from __future__ import annotations

from mxsim.exits import ExitCode

__all__ = ["ExitCode", "MxsimError", "ParameterError", "ScenarioError", "UsageError"]

# A message is one line on a terminal and in a CI log, however hostile the value it quotes:
# control characters (CR and LF above all) are escaped, and the message is cut.
MESSAGE_LIMIT = 1000
QUOTE_LIMIT = 80
_LINE_BREAKS = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def shown(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` as an error message quotes it: control characters escaped, cut after `limit`."""
    cut = text[:limit]
    escaped = "".join(_escape(char) for char in cut)
    if len(text) > limit:
        escaped += f"... ({len(text) - limit} more characters)"
    return escaped


def _escape(char: str) -> str:
    if char in _LINE_BREAKS:
        return _LINE_BREAKS[char]
    if char.isprintable():  # False for C0/C1 controls, U+2028, U+2029 and other separators
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class MxsimError(Exception):
    """Base of every error mxsim reports to a user."""

    exit_code: int = ExitCode.BAD_INPUT

    def __init__(self, message: str) -> None:
        message = shown(message, MESSAGE_LIMIT)
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
        self.detail = shown(message, MESSAGE_LIMIT)


class ParameterError(MxsimError):
    """An MTA parameter override (-o NAME=VALUE, main.cf) is unknown or malformed."""


class UsageError(MxsimError):
    """Command-line arguments that do not fit together."""
