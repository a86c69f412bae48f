"""`mxsim replay`: many messages over time, per MTA, with CI gates."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mxsim.cli.app import app, duration_option, fail, mta_overrides
from mxsim.cli.cluster_options import DaskAddress, Workers
from mxsim.errors import MxsimError, UsageError
from mxsim.exits import ReplayExit, exit_help
from mxsim.mta import PROFILE_NAMES as NAMES

if TYPE_CHECKING:
    from mxsim.commands.replay import ReplayResult
    from mxsim.scenario.spec import ScenarioSpec


class FailOn(StrEnum):
    bounce = "bounce"
    defer = "defer"


class ReplayFormat(StrEnum):
    text = "text"
    json = "json"
    junit = "junit"
    markdown = "markdown"


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[str, int], Callable[[int], None]] | None]:
    """A bar per scenario x MTA on stderr, only on a terminal (CI logs and pipes stay clean)."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True, console=None) as bar:
        def start(label: str, total: int) -> Callable[[int], None]:
            task = bar.add_task(label, total=total)
            return lambda done: bar.advance(task, done)

        yield start



def render_report(result: ReplayResult, output_format: ReplayFormat, quiet: bool) -> str:
    from mxsim.report import replay_json, replay_junit, replay_markdown, replay_text

    renderer = {ReplayFormat.text: lambda r: replay_text.render(r, quiet=quiet), ReplayFormat.json: replay_json.render,
                ReplayFormat.junit: replay_junit.render, ReplayFormat.markdown: replay_markdown.render}
    return renderer[output_format](result)


def with_variants(specs: tuple[ScenarioSpec, ...], what_if: list[str] | None,
                  recipient: str | None) -> tuple[ScenarioSpec, ...]:
    """Each scenario, followed by its --what-if variants."""
    if not what_if:
        return specs
    from mxsim.commands.what_if import parse_what_if, with_mx_ttl
    from mxsim.engine import recipient_of

    ttls = [parse_what_if(text) for text in what_if]
    out: list[ScenarioSpec] = []
    for spec in specs:
        domain = recipient_of(spec, recipient).rpartition("@")[2]
        out += [spec, *(with_mx_ttl(spec, domain, ttl) for ttl in ttls)]
    return tuple(out)


@app.command(epilog=exit_help("replay"))
def replay(
    scenarios: Annotated[list[str], typer.Argument(help="Scenario files or bundled names.")],
    messages: Annotated[int, typer.Option("--messages", "-n", help="Messages per scenario and MTA.")] = 1000,
    mta: Annotated[list[str] | None, typer.Option(
        "--mta", "-m", help=f"MTA profile, repeatable: {', '.join(NAMES)}. Default: each scenario's `mta`.")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "-o", help="MTA parameter by the MTA's own name, e.g. -o maximal_backoff_time=1h or "
                   "-o exim:retry='F,1h,10m; F,2d,1h'. Repeatable.")] = None,
    mta_config: Annotated[Path | None, typer.Option("--mta-config", help="A Postfix main.cf to read.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for every draw: same seed, same bytes out.")] = 0,
    arrival: Annotated[str, typer.Option(help="Window over which messages arrive, e.g. 1h, 24h.")] = "1h",
    arrival_process: Annotated[str, typer.Option(
        "--arrival-process", help="uniform (evenly spaced) or poisson (random gaps at messages/window).")]
        = "uniform",
    resolvers: Annotated[int, typer.Option(
        help="Senders, each with its own resolver cache and MTA memory; messages are spread over them.")] = 1,
    pin: Annotated[list[str] | None, typer.Option("--pin", help="Force farm backends, as for trace.")] = None,
    recipient: Annotated[str | None, typer.Option("--recipient", "-r", help="Default: the scenario's.")] = None,
    first_attempt_only: Annotated[bool, typer.Option(
        "--first-attempt-only", help="One attempt per message: what a sender sees before any retry.")] = False,
    horizon: Annotated[str | None, typer.Option(
        help="Stop the clock here (e.g. 2d); messages still queued are counted as queued.")] = None,
    output_format: Annotated[ReplayFormat, typer.Option("--format", "-f", help="text, json, junit or markdown.")]
        = ReplayFormat.text,
    output: Annotated[Path | None, typer.Option("--output", help="Write the report here instead of stdout.")]
        = None,
    progress: Annotated[bool, typer.Option(help="Progress bar on a terminal.")] = True,
    fail_on: Annotated[list[FailOn] | None, typer.Option(
        "--fail-on", help="Also fail (exit 1) when any message bounced (bounce) or is still queued at the end "
                          "(defer): a gate for scenarios that set none. Repeatable.")] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="Print only the verdict: one line per scenario and MTA.")] = False,
    bucket: Annotated[str | None, typer.Option(
        "--bucket", help="Report the run over time in buckets of this length (e.g. 15m): arrivals, first "
                         "attempts by host, delivered, bounced, deferred.")] = None,
    plot: Annotated[Path | None, typer.Option(
        "--plot", metavar="FILE.svg", help="With --bucket: draw the share of first attempts per provider over "
                                           "time (needs pip install 'mxsim[plot]').")] = None,
    what_if: Annotated[list[str] | None, typer.Option(
        "--what-if", help="Also replay each scenario with the recipient domain's MX TTL changed, side by side: "
                          "ttl=300. Repeatable.")] = None,
    seeds: Annotated[str | None, typer.Option(
        "--seeds", metavar="A..B", show_default=False,
        help="Run every seed from A to B (in place of --seed); the report lists each run.")] = None,
    sweep: Annotated[list[str] | None, typer.Option(
        "--sweep", metavar="NAME=V1,V2", show_default=False,
        help="Run each value of an MTA parameter (named as for -o); repeated, every combination.")] = None,
    workers: Workers = None,
    dask: DaskAddress = None,
) -> None:
    """Replay many messages per MTA to the end of their life, and gate on the scenario's `expect`.

    Each message is retried on its MTA's real schedule (Postfix backoff, Exim retry rules,
    OpenSMTPD 400 s x n^2, Sendmail queue runs) until delivered or bounced; farms draw a
    backend per query; resolvers cache by TTL. Reported per MTA: share delivered to an
    expected host (`expect.deliver_to`), elsewhere, bounced, still queued; first-attempt
    success; delay p50/p95/max of delivered mail; the distinct paths and bounce texts.

    Many runs: `--seeds 1..20` and `--sweep smtp_mx_address_limit=2,5,10` replay every
    scenario x MTA x seed x setting and report each run (docs/distributed.md);
    `--workers N` or `--dask ADDRESS` spreads the runs over a Dask cluster, with the same
    report to the byte.
    """
    from mxsim.commands.replay import ArrivalProcess, ReplayConfig, run_replay
    from mxsim.scenario import load_scenario

    try:
        specs = with_variants(tuple(load_scenario(s) for s in scenarios), what_if, recipient)
        overrides = mta_overrides(option, mta_config)
        try:
            process = ArrivalProcess(arrival_process)
        except ValueError:
            raise UsageError(f"--arrival-process {arrival_process!r}: expected uniform or poisson") from None
        config = ReplayConfig(
            specs=specs, messages=messages, mtas=tuple(m.lower() for m in mta or ()), overrides=overrides,
            seed=seed, arrival=duration_option(arrival, "--arrival"), process=process, resolvers=resolvers,
            pins=tuple(pin or ()), recipient=recipient, first_attempt_only=first_attempt_only,
            horizon=duration_option(horizon, "--horizon") if horizon else None,
            fail_on=frozenset(f.value for f in fail_on or ()),
            bucket=duration_option(bucket, "--bucket", positive=True) if bucket else None,
        )
        if plot is not None and bucket is None:
            raise UsageError("--plot needs --bucket (the series it draws)")
        if plot is not None and (seeds is not None or sweep):
            raise UsageError("--plot draws one replay: not with --seeds or --sweep")
        if seeds is not None or sweep or workers is not None or dask is not None:
            from mxsim.cli.replay_runs import replay_runs

            replay_runs(config, seeds, sweep or [], workers, dask, output_format.value, output, quiet,
                        progress and sys.stderr.isatty(), lambda r: render_report(r, output_format, quiet),
                        progress_bar, plot)
        with progress_bar(progress and sys.stderr.isatty()) as tick:
            result = run_replay(config, tick)
    except MxsimError as error:
        raise fail(error) from None
    report = render_report(result, output_format, quiet)
    if plot is not None:
        from mxsim.report.replay_series import plot_svg

        try:
            plot_svg(result, plot)
        except MxsimError as error:
            raise fail(error) from None
    if output is not None:
        try:
            output.write_text(report)
        except OSError as error:
            raise fail(UsageError(f"--output {output}: {error.strerror}")) from None
    else:
        sys.stdout.write(report)
    if not result.passed:
        raise typer.Exit(int(ReplayExit.GATE_FAILED))
