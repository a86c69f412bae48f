"""`mxsim trace`, `mxsim scenarios`, `mxsim params`."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mxsim.cli.app import app, duration_option, fail, mta_overrides
from mxsim.errors import MxsimError, UsageError
from mxsim.exits import TraceExit, exit_help
from mxsim.mta import PROFILE_NAMES as NAMES

if TYPE_CHECKING:
    from mxsim.scenario.spec import ScenarioSpec


class TraceFormat(StrEnum):
    text = "text"
    json = "json"


@app.command(epilog=exit_help("trace"))
def trace(
    scenario: Annotated[str, typer.Argument(help="A scenario file, or the name of a bundled one.")],
    recipient: Annotated[str | None, typer.Option(
        "--recipient", "-r", help="USER@DOMAIN; default: the scenario's `recipient`.")] = None,
    mta: Annotated[list[str] | None, typer.Option(
        "--mta", "-m",
        help=f"MTA profile, repeatable: {', '.join(NAMES)}. Default: the scenario's `mta` list.")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "-o", help="Set an MTA parameter by the MTA's own name, e.g. -o smtp_mx_address_limit=3, "
                   "or for one profile: -o exim:dns_cname_loops=2. Repeatable.")] = None,
    mta_config: Annotated[Path | None, typer.Option(
        "--mta-config", help="A Postfix main.cf (or `postconf -n` output): the parameters mxsim models "
                             "are read from it; -o wins over it.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for every random draw (backends, shuffles).")] = 0,
    pin: Annotated[list[str] | None, typer.Option(
        "--pin", help="Force a farm's backend: SERVER=BACKEND, or the name of a case the scenario defines "
                      "(e.g. --pin broken). Repeatable.")] = None,
    output_format: Annotated[TraceFormat, typer.Option("--format", "-f", help="text or json.")] = TraceFormat.text,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Show every query the resolver sent, not only the telling ones.")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="Print only the verdict: one line per MTA.")] = False,
    via_lab: Annotated[Path | None, typer.Option(
        "--via-lab", metavar="STATE",
        help="Run against the sockets of the lab started with `mxsim lab up --state STATE` "
             "(its pins and seed decide the backends), not the model.")] = None,
    time_scale: Annotated[float, typer.Option(
        "--time-scale", help="With --via-lab: multiply every timeout by this (e.g. 0.02); "
                             "times are reported unscaled.")] = 1.0,
    at: Annotated[str | None, typer.Option(
        "--at", help="Trace the world as the scenario's `timeline` has it at this time after the start "
                     "(e.g. 2h); caches start empty.")] = None,
) -> None:
    """One delivery attempt of one message, explained, under each MTA's rules.

    Shows each DNS question the MTA asked with the answer and the authoritative server
    and backend (NSID) behind it, each host tried and its result, the outcome with its
    DSN code, the log lines the real MTA would write and what the bounce would say.
    """
    from mxsim.commands.trace import TraceConfig, run_trace
    from mxsim.report import trace_json, trace_text
    from mxsim.scenario import load_scenario

    try:
        spec = _as_of(load_scenario(scenario), at, via_lab is not None)
        overrides = mta_overrides(option, mta_config)
        config = TraceConfig(
            spec=spec, mtas=tuple(m.lower() for m in mta or ()), recipient=recipient,
            overrides=overrides, seed=seed, pins=tuple(pin or ()),
        )
        if via_lab is not None:
            from mxsim.cli.lab import trace_via_lab

            result = trace_via_lab(config, via_lab, time_scale)
        else:
            result = run_trace(config)
    except MxsimError as error:
        raise fail(error) from None
    if output_format == TraceFormat.json:
        sys.stdout.write(trace_json.render(result))
    else:
        sys.stdout.write(trace_text.render(result, verbose=verbose, quiet=quiet))
    from mxsim.mta.results import Outcome

    outcomes = {d.outcome for d in result.deliveries}
    if Outcome.BOUNCED in outcomes:
        raise typer.Exit(int(TraceExit.BOUNCED))
    if Outcome.DEFERRED in outcomes:
        raise typer.Exit(int(TraceExit.DEFERRED))


def _as_of(spec: ScenarioSpec, at: str | None, via_lab: bool) -> ScenarioSpec:
    """The scenario as its timeline has it `at` (a duration), for --at."""
    if at is None:
        return spec
    if via_lab:
        raise UsageError("--at traces the model's world at a time; a lab serves the world as `lab up` set it")
    from mxsim.scenario.timeline import spec_at

    return spec_at(spec, duration_option(at, "--at"))


SUMMARY_WIDTH = 100


def _summary(description: str) -> str:
    """The description's first sentence, at most SUMMARY_WIDTH characters."""
    flat = " ".join(description.split())
    sentence = flat.split(". ", 1)[0].rstrip(".")
    return sentence if len(sentence) <= SUMMARY_WIDTH else sentence[: SUMMARY_WIDTH - 1] + "…"


@app.command()
def scenarios(
    name: Annotated[str | None, typer.Argument(help="A bundled scenario: print its whole description.")] = None,
) -> None:
    """List the bundled scenarios, one line each; with NAME, what that one shows.

    Examples: `mxsim scenarios`; `mxsim scenarios wa-students-2017`.
    """
    from mxsim.scenario import bundled_scenarios, load_scenario

    if name is not None:
        try:
            spec = load_scenario(name) if name in bundled_scenarios() else load_scenario(name.removesuffix(".yaml"))
        except MxsimError as error:
            raise fail(error) from None
        import textwrap

        paragraphs = [" ".join(block.split()) for block in spec.description.strip().split("\n\n")]
        typer.echo(spec.name + "\n\n" + "\n\n".join(textwrap.fill(text, 88) for text in paragraphs))
        return
    for bundled in bundled_scenarios():
        spec = load_scenario(bundled)
        typer.echo(f"{bundled:<26} {_summary(spec.description)}")


@app.command()
def params(
    mta: Annotated[str, typer.Argument(help=f"One of: {', '.join(NAMES)}.")],
) -> None:
    """List an MTA profile's parameters: name, default, meaning and the source of the default."""
    from mxsim.mta.profiles import make_profile

    try:
        profile = make_profile(mta)
    except MxsimError as error:
        raise fail(error) from None
    typer.echo(profile.version)
    for param in profile.PARAMS:
        typer.echo(f"  {param.name} = {param.show(param.default)}")
        typer.echo(f"      {param.doc} [{param.source}]")


@app.command()
def schema(
    name: Annotated[str, typer.Argument(help="scenario, trace, replay, check or agree.")],
) -> None:
    """Print the JSON Schema (draft 2020-12) of the scenario format or of a command's JSON output.

    Examples: `mxsim schema trace > trace.schema.json`; in a scenario file, the line
    `# yaml-language-server: $schema=scenario.schema.json` lets an editor check it as you type.
    """
    from mxsim.schemas import schema_text

    try:
        sys.stdout.write(schema_text(name))
    except MxsimError as error:
        raise fail(error) from None
