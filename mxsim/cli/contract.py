"""How every run of `mxsim` ends: the exit code and the one line a script reads.

Click's own handling exits 2 on a usage error (which `trace` uses for "bounced") and a
crash exits 1 with a traceback (which `trace` uses for "deferred"): a CI gate could not
tell a crash or a typo from a verdict. Here a usage error is exit 3 like any bad input, an
unexpected exception is exit 4 with one line (the traceback only with `--debug`), a reader
that went away (`mxsim trace ... | head`) ends the run quietly as Unix tools do, and a
failed write of the output (a full disk) is exit 4.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import typer

from mxsim.errors import shown
from mxsim.exits import ExitCode

DEBUG_FLAG = "--debug"
SIGPIPE_EXIT = 128 + 13  # what a shell reports for a tool killed by SIGPIPE
_WRITE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})

# Typer ships click's classes under a name of its own in some versions and click's in
# others; its public BadParameter leads to the usage-error class either way.
UsageError: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


def take_debug(args: list[str]) -> bool:
    """Remove `--debug` wherever it stands before a `--`; True if it was there."""
    end = args.index("--") if "--" in args else len(args)
    found = DEBUG_FLAG in args[:end]
    if found:
        args[:end] = [a for a in args[:end] if a != DEBUG_FLAG]
    return found or os.environ.get("MXSIM_DEBUG", "") not in ("", "0")



def _say(text: str) -> None:
    with contextlib.suppress(OSError):  # stderr gone too: the exit code is all that is left
        print(text, file=sys.stderr, flush=True)


def _usage(error: Any, command: str) -> int:
    where = f"mxsim {command}".rstrip() if command else "mxsim"
    _say(f"mxsim: error: {shown(error.format_message(), 300)} (see '{where} --help')")
    return ExitCode.BAD_INPUT


def _quiet_pipe() -> int:
    """The reader closed the pipe: say nothing more, and let no flush at exit complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return SIGPIPE_EXIT


def _is_pipe_gone(error: BaseException) -> bool:
    return isinstance(error, BrokenPipeError) or (isinstance(error, OSError) and error.errno == errno.EPIPE)


def finish_output() -> int | None:
    """Flush stdout; an exit code if that failed (None when all was written)."""
    try:
        sys.stdout.flush()
    except OSError as error:
        if _is_pipe_gone(error):
            return _quiet_pipe()
        _say(f"mxsim: error: could not write the output: {error.strerror or error}")
        return ExitCode.INTERNAL_ERROR
    return None


def run_command(invoke: Callable[[], object], command: str, *, debug: bool) -> int:
    """Run the click command; the exit code by the contract, having said what a user must read."""
    try:
        result = invoke()
    except UsageError as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # `mxsim` alone asks for help, as --help does
            context: Any = getattr(error, "ctx", None)
            typer.echo(context.get_help() if context is not None else "")
            return ExitCode.OK
        return _usage(error, command)
    except typer.Abort:
        _say("mxsim: interrupted")
        return 130
    except OSError as error:
        if _is_pipe_gone(error):
            return _quiet_pipe()
        if error.errno in _WRITE_ERRORS:
            _say(f"mxsim: error: could not write: {error.strerror}")
            return ExitCode.INTERNAL_ERROR
        return _internal(error, debug)
    except Exception as error:  # the contract: never a bare traceback, always exit 4
        return _internal(error, debug)
    code = result if isinstance(result, int) else 0
    written = finish_output()
    return written if written is not None and code in (0, 1, 2) else code


def _internal(error: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(error)
    what = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    hint = "" if debug else " (run again with --debug for the traceback)"
    _say(f"mxsim: internal error: {shown(what, 300)}{hint}")
    return ExitCode.INTERNAL_ERROR
