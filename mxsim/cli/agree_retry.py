"""`mxsim agree --retry`: the retry cases for each MTA, both phases compared, and their table."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

import typer

from mxsim.exits import AgreeExit


def agree_retries(case: str | None, mtas: Sequence[str], overrides: Mapping[str, str], jobs: int,
                  quiet: bool) -> int:
    """Run the cases (all, or the one named), print each comparison and the table; the exit code."""
    from mxsim.agree.errors import AgreeError
    from mxsim.agree.retry import CASE_NAMES, run_retries
    from mxsim.agree.retry_table import cell, markdown

    if case is not None and case not in CASE_NAMES:
        typer.echo(f"mxsim: error: --retry {case}: expected one of {', '.join(CASE_NAMES)}", err=True)
        return AgreeExit.BAD_INPUT
    cases = [case] if case is not None else list(CASE_NAMES)
    keys = [(name, mta) for name in cases for mta in mtas]
    futures = run_retries(keys, jobs, overrides)
    results = {key: futures[key].result() for key in keys}
    for (name, mta), result in results.items():
        if isinstance(result, AgreeError):
            typer.echo(f"mxsim: could not run retry {name} {mta}: {result}", err=True)
        elif not quiet:
            typer.echo(result.render(), err=True)
        else:
            typer.echo(f"{name} {mta}: {cell(result)}", err=True)
    sys.stdout.write(markdown(results, cases, mtas))
    if any(isinstance(r, AgreeError) for r in results.values()):
        return AgreeExit.COULD_NOT_RUN
    return AgreeExit.AGREED if all(r.agreed for r in results.values() if not isinstance(r, AgreeError)) \
        else AgreeExit.DIFFERS
