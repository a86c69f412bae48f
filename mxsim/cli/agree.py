"""`mxsim agree`: hold the model against a real MTA for one scenario, or print the table."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mxsim.cli.app import app
from mxsim.errors import MxsimError
from mxsim.exits import AgreeExit, exit_help

AGREED, DIFFERS, COULD_NOT_RUN, BAD_INPUT = (AgreeExit.AGREED, AgreeExit.DIFFERS, AgreeExit.COULD_NOT_RUN,
                                            AgreeExit.BAD_INPUT)


class AgreeFormat(StrEnum):
    text = "text"
    json = "json"


@app.command(epilog=exit_help("agree"))
def agree(
    scenario: Annotated[str | None, typer.Argument(
        help="A scenario file, or the name of a bundled one; with --table, only that one.")] = None,
    mta: Annotated[list[str] | None, typer.Option(
        "--mta", "-m", help="postfix, exim, opensmtpd or sendmail; repeatable. Default: all four.")] = None,
    pin: Annotated[list[str] | None, typer.Option(
        "--pin", help="A case the scenario defines, or SERVER=BACKEND. Repeatable.")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "-o", help="A parameter by the MTA's own name, set on the real MTA and on the model alike.")] = None,
    mta_config: Annotated[Path | None, typer.Option(
        "--mta-config", help="Your Postfix main.cf: the real Postfix runs with it (lab plumbing on top), "
                             "and the model reads the parameters it knows from it.")] = None,
    recipient: Annotated[str | None, typer.Option("--recipient", "-r", help="USER@DOMAIN.")] = None,
    output_format: Annotated[AgreeFormat, typer.Option("--format", "-f", help="text or json.")] = AgreeFormat.text,
    keep: Annotated[Path | None, typer.Option(
        "--keep", help="Keep the run's folder (request, logs, unbound's query log) here.")] = None,
    table: Annotated[bool, typer.Option(
        "--table", help="Every bundled scenario and case x each --mta: print the Markdown table.")] = False,
    saved: Annotated[Path | None, typer.Option(
        "--from", help="With --table: read the results a run saved there instead of running.")] = None,
    save: Annotated[Path | None, typer.Option(
        "--save", help="Save each result as JSON here (read back with --table --from).")] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="Print only the verdict: one line per MTA (agreed, differs, could not run).")] = False,
    jobs: Annotated[int, typer.Option(
        "--jobs", "-j", help="With --table: cases run at once (each in its own namespace).")] = 4,
    retry: Annotated[bool, typer.Option(
        "--retry", help="The retry cases (a first attempt, a changed world, the MTA's own queue run); "
                        "SCENARIO names one of them. Prints the retries table.")] = False,
    replay_file: Annotated[str | None, typer.Option(
        "--replay", help="A scenario with a weighted farm: each --mta is handed -n messages half a second "
                         "apart; first-attempt success and hosts held to `mxsim replay` within 2 SE.")] = None,
    messages: Annotated[int, typer.Option("-n", "--messages", help="With --replay: messages per MTA.")] = 40,
    spacing: Annotated[float, typer.Option(
        "--spacing", help="With --replay: seconds between messages (beyond OpenSMTPD's 10 s session "
                          "keepalive, each message asks DNS afresh).")] = 0.5,
    seeds: Annotated[int | None, typer.Option(
        "--lab-seeds", help="With --replay: the messages are split among this many runs, each with its "
                            "own fixed lab seed, and pooled. Default: 8, at most one per two messages.")] = None,
) -> None:
    """Run the real MTA (Debian's package, in a cached chroot) against the scenario served by
    the lab, and compare what it did with `mxsim trace` for the same profile and settings:
    DNS questions, hosts tried, RCPT TO, outcome, DSN class, names logged.

    Needs root (network namespaces, chroots) and, on first use, mmdebstrap and network
    access to Debian's package mirror to build each chroot (cached under
    /var/cache/mxsim-agree, or $MXSIM_AGREE_CACHE).
    """
    from mxsim.agree import AgreeError, Case, bundled_cases
    from mxsim.agree import agree as run_agree
    from mxsim.agree import table as tables
    from mxsim.agree.mtas import NAMES
    from mxsim.agree.mtas.base import check_recipient
    from mxsim.agree.run import run_matrix
    from mxsim.mta.params import parse_overrides

    mtas = [m.lower() for m in (mta or NAMES)]
    unknown = [m for m in mtas if m not in NAMES]
    if unknown:
        what = f"--mta {unknown[0]} (have: {', '.join(NAMES)})"
        typer.echo(f"mxsim: error: {what}", err=True)
        raise typer.Exit(BAD_INPUT)
    try:
        overrides = parse_overrides(option or [])
        if recipient is not None:
            check_recipient(recipient)
    except MxsimError as error:
        typer.echo(f"mxsim: error: {error}", err=True)
        raise typer.Exit(BAD_INPUT) from None
    if replay_file is not None:
        from mxsim.cli.agree_replay import agree_replay

        raise typer.Exit(agree_replay(replay_file, mtas, messages, overrides, jobs, quiet, spacing, seeds))
    if retry:
        from mxsim.cli.agree_retry import agree_retries

        raise typer.Exit(agree_retries(scenario, mtas, overrides, jobs, quiet))
    if table:
        if saved is not None:
            cells = tables.load(saved)
        else:
            keys = [(name, pins, one) for name, pins in bundled_cases([scenario] if scenario else None)
                    for one in mtas]
            futures = run_matrix(keys, jobs, overrides, recipient, mta_config)
            cells = []
            for name, pins, one in keys:
                label = name + (f"[{','.join(pins)}]" if pins else "")
                result = futures[(name, pins, one)].result()
                if isinstance(result, AgreeError):
                    cell = tables.Cell(label, one, "could not run", detail=str(result))
                else:
                    cell = tables.cell_of(label, one, result)
                typer.echo(f"{label} {one}: {cell.text()}", err=True)
                if save is not None:
                    tables.save(cell, save)
                cells.append(cell)
        sys.stdout.write(tables.markdown(cells, mtas))
        if any(c.status == "could not run" for c in cells):
            raise typer.Exit(COULD_NOT_RUN)
        raise typer.Exit(AGREED if all(c.status == "agreed" for c in cells) else DIFFERS)
    if scenario is None:
        typer.echo("mxsim: error: give a SCENARIO, or --table", err=True)
        raise typer.Exit(BAD_INPUT)
    worst = AGREED
    results = []
    for one in mtas:
        case = Case(scenario, tuple(pin or ()), one, recipient, overrides, mta_config)
        try:
            comparison = run_agree(case, keep / one if keep else None)
        except AgreeError as error:
            typer.echo(f"mxsim: could not run {case.label}: {error}", err=True)
            if quiet and output_format == "text":
                typer.echo(f"{one:<10} could not run")
            worst = max(worst, COULD_NOT_RUN)
            continue
        except MxsimError as error:  # a scenario or parameter error: the input is wrong
            typer.echo(f"mxsim: error: {error}", err=True)
            raise typer.Exit(BAD_INPUT) from None
        if save is not None:
            tables.save(tables.cell_of(case.label.rsplit(" ", 1)[0], one, comparison), save)
        results.append(comparison.to_json())
        if output_format == "text":
            typer.echo(f"{one:<10} {'agreed' if comparison.agreed else 'differs'}" if quiet else comparison.render())
        worst = max(worst, AGREED if comparison.agreed else DIFFERS)
    if output_format == "json":
        report = {"schema_version": 1, "kind": "agree", "scenario": scenario, "pins": list(pin or ()),
                  "comparisons": results}
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    raise typer.Exit(worst)
