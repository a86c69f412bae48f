"""The `mxsim` command line: thin commands over `mxsim.commands`, rendered by `mxsim.report`."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence

import typer
import typer.main

from mxsim.cli import agree as _agree  # noqa: F401  (registers its commands)
from mxsim.cli import check as _check  # noqa: F401  (registers check and record)
from mxsim.cli import lab as _lab  # noqa: F401  (registers its commands)
from mxsim.cli import replay as _replay  # noqa: F401  (registers its commands)
from mxsim.cli import trace as _trace  # noqa: F401
from mxsim.cli.app import app
from mxsim.cli.contract import run_command, take_debug

__all__ = ["app", "app_for", "main", "run"]


def _name(command: typer.models.CommandInfo) -> str:
    if isinstance(command.name, str):
        return command.name
    assert command.callback is not None
    return command.callback.__name__.replace("_", "-")


def _asked(args: Sequence[str]) -> str | None:
    """The command named first on the line, if the line starts with one (not an option)."""
    return args[0] if args and not args[0].startswith("-") else None


def app_for(args: Sequence[str]) -> typer.Typer:
    """The app to run for `args`: the whole app, or one holding only the command asked for.

    Typer turns every registered command into a click command (signatures, annotations)
    before it parses anything: about 20 ms for thirteen commands. The one asked for is
    enough, with the same callback and settings, so that `mxsim check ...` and
    `mxsim check --help` behave exactly as with the whole app. Anything else (no command,
    an unknown one, `--help`, `--version`) gets the whole app and its messages.
    """
    first = _asked(args)
    if first is None:
        return app
    chosen = [c for c in app.registered_commands if _name(c) == first]
    if len(chosen) != 1:
        return app
    one = typer.Typer(name=app.info.name, help=app.info.help, no_args_is_help=True, add_completion=False,
                      rich_markup_mode=None)
    one.registered_callback = app.registered_callback
    one.registered_commands = chosen
    return one


# Commands that own nothing a finalizer must release (no child process, no temporary
# folder, no lab): once they return and their output is flushed, the process ends at once
# rather than tearing down every object it made, about 50 ms after a check.
QUICK_EXIT = frozenset({"check", "record", "trace", "replay", "scenarios", "params", "schema"})


def run(args: list[str]) -> int:
    """Run `mxsim ARGS...` and return its exit code (see `mxsim.cli.contract`)."""
    debug = take_debug(args)
    command = typer.main.get_command(app_for(args))
    first = _asked(args) or ""
    if first not in {_name(c) for c in app.registered_commands}:
        first = ""  # an unknown command: the hint is the whole app's help

    def invoke() -> object:
        try:
            return command.main(args=args, prog_name="mxsim", standalone_mode=False)
        except SystemExit as done:  # typer's own exit on a closed pipe, or a library's sys.exit
            if type(sys.stdout).__name__ == "PacifyFlushWrapper":
                raise BrokenPipeError from None
            return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)

    return run_command(invoke, first, debug=debug)


def main() -> None:
    args = sys.argv[1:]
    code = run(args)
    if _asked(args) not in QUICK_EXIT:
        sys.exit(code)
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    os._exit(code)
