"""Exit codes: one table per command, written once.

Scripts and CI jobs branch on these numbers, so each command's table is part of the
contract. The words of a table are shown at the end of the command's `--help` and in the
README (a test holds the README to this module). 3 and 4 mean the same everywhere: the
input could not be used, or mxsim itself failed.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The codes every command shares."""

    OK = 0
    BAD_INPUT = 3  # a file, an option or an argument could not be used; nothing was done
    INTERNAL_ERROR = 4  # mxsim failed (a fault of mxsim or of the machine, e.g. a full disk)


class TraceExit(IntEnum):
    DELIVERED = 0
    DEFERRED = 1
    BOUNCED = 2
    BAD_INPUT = ExitCode.BAD_INPUT
    INTERNAL_ERROR = ExitCode.INTERNAL_ERROR


class ReplayExit(IntEnum):
    PASSED = 0
    GATE_FAILED = 1
    BAD_INPUT = ExitCode.BAD_INPUT
    INTERNAL_ERROR = ExitCode.INTERNAL_ERROR


class CheckExit(IntEnum):
    CLEAN = 0
    FINDINGS = 1
    UNMEASURED = 2
    BAD_INPUT = ExitCode.BAD_INPUT
    INTERNAL_ERROR = ExitCode.INTERNAL_ERROR
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it); every finished domain is kept


class RecordExit(IntEnum):
    WRITTEN = 0
    UNMEASURED = 2
    BAD_INPUT = ExitCode.BAD_INPUT
    INTERNAL_ERROR = ExitCode.INTERNAL_ERROR


class AgreeExit(IntEnum):
    AGREED = 0
    DIFFERS = 1
    COULD_NOT_RUN = 2
    BAD_INPUT = ExitCode.BAD_INPUT
    INTERNAL_ERROR = ExitCode.INTERNAL_ERROR


class LabExit(IntEnum):
    OK = 0
    NOT_RUNNING = 1  # `lab status` found nothing running
    BAD_INPUT = ExitCode.BAD_INPUT
    INTERNAL_ERROR = ExitCode.INTERNAL_ERROR


_SHARED = ((ExitCode.BAD_INPUT, "bad input"), (ExitCode.INTERNAL_ERROR, "internal error"))

TABLES: dict[str, tuple[tuple[int, str], ...]] = {
    "trace": ((TraceExit.DELIVERED, "every MTA delivered"), (TraceExit.DEFERRED, "some MTA deferred"),
              (TraceExit.BOUNCED, "some MTA bounced"), *_SHARED),
    "replay": ((ReplayExit.PASSED, "every gate passed"), (ReplayExit.GATE_FAILED, "a gate failed"), *_SHARED),
    "check": ((CheckExit.CLEAN, "no finding at or above --fail-on"), (CheckExit.FINDINGS, "findings"),
              (CheckExit.UNMEASURED, "the verdict could not be measured"), *_SHARED,
              (CheckExit.INTERRUPTED, "interrupted (every finished domain is kept)")),
    "record": ((RecordExit.WRITTEN, "written"), (RecordExit.UNMEASURED, "nothing could be measured (nothing written)"),
               *_SHARED),
    "agree": ((AgreeExit.AGREED, "agreed"), (AgreeExit.DIFFERS, "differs"),
              (AgreeExit.COULD_NOT_RUN, "could not run (the reason is printed)"), *_SHARED),
    "lab": ((LabExit.OK, "done"), (LabExit.NOT_RUNNING, "nothing runs (lab status)"), *_SHARED),
}


def exit_help(command: str) -> str:
    """The table as one sentence, for `--help` and the README."""
    return "Exit codes: " + ", ".join(f"{int(code)} {words}" for code, words in TABLES[command]) + "."
