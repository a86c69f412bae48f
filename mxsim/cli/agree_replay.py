"""`mxsim agree --replay SCENARIO -n N`: a real MTA handed a stream over a weighted farm, held to replay."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

import typer

from mxsim.exits import AgreeExit

INTERVAL = 0.5  # seconds between messages handed to the MTA, unless told


def agree_replay(scenario: str, mtas: Sequence[str], messages: int, overrides: Mapping[str, str],
                 jobs: int, quiet: bool, spacing: float = INTERVAL, seeds: int | None = None) -> int:
    """Run one stream per MTA (`seeds` runs, each with its own lab seed), print each
    comparison and the table; the exit code."""
    from mxsim.agree.errors import AgreeError
    from mxsim.agree.stochastic import LAB_SEEDS, markdown, run_streams
    from mxsim.errors import MxsimError
    from mxsim.scenario import load_scenario

    if messages < 2:
        typer.echo(f"mxsim: error: -n {messages}: expected at least 2 messages", err=True)
        return AgreeExit.BAD_INPUT
    if not 0.1 <= spacing <= 600:
        typer.echo(f"mxsim: error: --spacing {spacing:g}: expected 0.1 to 600 seconds", err=True)
        return AgreeExit.BAD_INPUT
    if seeds is None:
        seeds = min(LAB_SEEDS, messages // 2)
    elif not 1 <= seeds <= messages:
        typer.echo(f"mxsim: error: --lab-seeds {seeds}: expected 1 to {messages} (one message per run at least)",
                   err=True)
        return AgreeExit.BAD_INPUT
    try:
        load_scenario(scenario)
    except MxsimError as error:
        typer.echo(f"mxsim: error: {error}", err=True)
        return AgreeExit.BAD_INPUT
    keys = [(scenario, mta) for mta in mtas]
    futures = run_streams(keys, messages=messages, interval=spacing, jobs=jobs, overrides=overrides, seeds=seeds)
    results = {key: futures[key].result() for key in keys}
    for (_, mta), result in results.items():
        if isinstance(result, AgreeError):
            typer.echo(f"mxsim: could not run {scenario} {mta}: {result}", err=True)
        elif not quiet:
            typer.echo(result.render(), err=True)
    sys.stdout.write(markdown(results))
    if any(isinstance(r, AgreeError) for r in results.values()):
        return AgreeExit.COULD_NOT_RUN
    return AgreeExit.AGREED if all(r.agreed for r in results.values() if not isinstance(r, AgreeError)) \
        else AgreeExit.DIFFERS
