"""`mxsim check DOMAIN` and `mxsim record DOMAIN -o FILE`: a live domain's DNS and mail path."""

from __future__ import annotations

import dataclasses
import importlib
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mxsim.cli.app import app, duration_option, fail
from mxsim.cli.cluster_options import DaskAddress, Workers, check_runner
from mxsim.cli.parallel_option import DEFAULT_PARALLEL, Parallel, parallel_value
from mxsim.errors import MxsimError, UsageError
from mxsim.exits import RecordExit, exit_help
from mxsim.mta import PROFILE_NAMES as NAMES

if TYPE_CHECKING:  # the commands import lazily, so `mxsim --help` stays fast
    from mxsim.commands.check import CheckConfig, CheckResult
    from mxsim.distribute.check import BatchRunner


class CheckFormat(StrEnum):
    text = "text"
    json = "json"
    junit = "junit"
    sarif = "sarif"
    jsonl = "jsonl"


class FailOn(StrEnum):
    warning = "warning"
    error = "error"


RootHints = Annotated[Path | None, typer.Option(
    "--root-hints", metavar="FILE",
    help="Root servers to start from (named.root form), e.g. a lab's root.hints with --dns-port. "
         "Default: the IANA root servers (the live internet).")]
Lab = Annotated[Path | None, typer.Option(
    "--lab", metavar="STATE",
    help="Check inside the lab started with `mxsim lab up --state STATE`: its root hints, address map "
         "and ports (entering its network namespace if it has one).")]
Samples = Annotated[int, typer.Option(
    "--samples", "-k", help="Queries per address, type and RD setting (1 to 200).")]
Mta = Annotated[list[str] | None, typer.Option(
    "--mta", "-m", help=f"MTA profile for the delivery paths, repeatable: {', '.join(NAMES)}. Default: all.")]
NoSmtp = Annotated[bool, typer.Option("--no-smtp", help="Probe no mail host (paths then assume they accept).")]
SmtpTimeout = Annotated[str, typer.Option(
    "--smtp-timeout", metavar="S",
    help="Longest wait for each step of an SMTP probe (connect, greeting, each reply), e.g. 10s.")]
DnsTimeout = Annotated[str, typer.Option(
    "--dns-timeout", metavar="S", help="Wait for one DNS reply before retrying (2 retries).")]
Rate = Annotated[float | None, typer.Option(
    "--rate", metavar="QPS", show_default=False,
    help="Politeness: queries a second to one server address (0: no limit). Default: 100; "
         "no limit with --lab (the lab's servers are yours, on loopback).")]
LIVE_RATE = 100.0  # queries a second per address: modest beside what a busy resolver sends
MIN_RATE = 0.1  # queries a second per address: the slowest pacing accepted
Budget = Annotated[int, typer.Option(
    "--budget", metavar="N", help="Politeness: queries in all; past it, samples are unknown.")]
Seed = Annotated[int, typer.Option(help="Seed of the model runs (MTA shuffles): same input, same report.")]
DnsPort = Annotated[int, typer.Option("--dns-port", help="DNS port of every server (with --root-hints).")]
SmtpPort = Annotated[int, typer.Option("--smtp-port", help="SMTP port of every host (with --root-hints).")]
ShowProgress = Annotated[bool, typer.Option(help="Progress bars on a terminal (stderr).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the verdict: the one-line summary.")]

# ---- check's --samples K|auto, --min-share, --miss (adaptive sampling; `record` keeps a fixed K) ----
def _samples_value(value: str) -> str:
    """A count or `auto`, refused as a bad option value (as a bad integer was) before any work."""
    if value.strip().lower() != "auto" and not value.strip().isdigit():
        raise typer.BadParameter(f"{value!r} is not a count (1 to 200) or auto")
    return value


CheckSamples = Annotated[str, typer.Option(
    "--samples", "-k", metavar="K|auto", callback=_samples_value,
    help="Queries per address, type and RD setting (1 to 200), or auto: enough rounds, spread over the "
         "zone's addresses, that a backend answering a share p (--min-share) of the lookups is missed with "
         "probability (1-p)^n <= --miss after n queries; stop there if every reply agrees (records, TTLs, "
         "flags, whatever NSID sent it), else go on to 20 rounds. Defaults p 0.05, miss 0.001: n >= 135, "
         "6 rounds (73 queries) at each of 2 addresses.")]
MinShare = Annotated[float | None, typer.Option(
    "--min-share", metavar="P", show_default=False,
    help="With --samples auto: the smallest share of the zone's lookups (over all its server addresses) a "
         "backend must answer to be found at the --miss rate. Default: 0.05 (one lookup in 20).")]
Miss = Annotated[float | None, typer.Option(
    "--miss", metavar="P", show_default=False,
    help="With --samples auto: the chance of missing a backend of share --min-share. Default: 0.001.")]


def _sampling(samples: str, min_share: float | None, miss: float | None) -> tuple[int, tuple[float, float] | None]:
    """(rounds, (share, miss) for auto) from `--samples K|auto`: a fixed K is (K, None)."""
    from mxsim.audit.sampling import FULL_ROUNDS, MIN_SHARE, MISS, detection_rounds

    if samples.strip().lower() != "auto":
        if min_share is not None or miss is not None:
            raise UsageError("--min-share and --miss choose how many samples --samples auto takes: "
                             "give them with --samples auto")
        try:
            return int(samples), None
        except ValueError:
            raise UsageError(f"--samples {samples!r}: expected a count (1 to 200) or auto") from None
    share, chance = MIN_SHARE if min_share is None else min_share, MISS if miss is None else miss
    if not 0 < share < 1 or not 0 < chance < 1:
        raise UsageError(f"--min-share {share:g} and --miss {chance:g}: each must lie strictly between 0 and 1")
    rounds = detection_rounds(share, chance)  # the most it takes: a zone with one address
    if rounds > MAX_AUTO_ROUNDS:
        raise UsageError(f"--min-share {share:g} with --miss {chance:g} needs up to {rounds} rounds of samples: "
                         f"expected at most {MAX_AUTO_ROUNDS} (raise --min-share or --miss)")
    return max(rounds, FULL_ROUNDS), (share, chance)


def _sampled(config: CheckConfig, sampling: tuple[int, tuple[float, float] | None]) -> CheckConfig:
    import dataclasses

    return dataclasses.replace(config, samples=sampling[0], auto=sampling[1])


MAX_AUTO_ROUNDS = 200  # as --samples K: politeness
# ---- end of adaptive sampling ----



def _config(
    domain: str, root_hints: Path | None, lab: Path | None, samples: int, mta: list[str] | None, no_smtp: bool,
    smtp_timeout: str, dns_timeout: str, rate: float | None, budget: int, seed: int, fail_on: FailOn,
    dns_port: int, smtp_port: int,
) -> CheckConfig:
    from mxsim.audit.catalog import Level
    from mxsim.commands.check import CheckConfig, default_root_hints, parse_root_hints
    from mxsim.transport.destinations import LiveAddresses

    if root_hints is not None and lab is not None:
        raise UsageError("give --root-hints FILE or --lab STATE, not both")
    if rate is None:
        # Politeness protects servers that others depend on; the lab's are this user's own.
        rate = 0.0 if lab is not None else LIVE_RATE
    # Below one query in ten seconds a check of a few hundred queries would outlast any user;
    # 0 means no pacing at all.
    if rate < 0 or 0 < rate < MIN_RATE or budget < 1:
        raise UsageError(f"--rate must be 0 (no pacing) or at least {MIN_RATE} queries a second, "
                         "and --budget at least 1")
    common = {
        "domain": domain, "samples": samples, "mtas": tuple(m.lower() for m in mta or ()), "smtp": not no_smtp,
        "smtp_timeout": duration_option(smtp_timeout, "--smtp-timeout", positive=True),
        "dns_timeout": duration_option(dns_timeout, "--dns-timeout", positive=True),
        "rate": rate, "budget": budget, "seed": seed,
        "fail_on": Level.WARNING if fail_on == FailOn.warning else Level.ERROR,
    }
    if lab is not None:
        from mxsim.cli.lab import reenter_namespace
        from mxsim.commands.check_sts import served_history
        from mxsim.lab import netns
        from mxsim.lab.endpoint import lab_endpoint
        from mxsim.lab.state import LAB_CA

        endpoint = lab_endpoint(lab)
        if endpoint.netns and not netns.inside(endpoint.netns):
            reenter_namespace(endpoint.netns)
        folder = endpoint.state_dir or lab.resolve()
        hints = parse_root_hints(_read(folder / "root.hints", "--lab"), f"{folder / 'root.hints'}")
        real = tuple((name, endpoint.address_map.real(address)) for name, address in hints)
        ca = folder / LAB_CA  # MTA-STS policies in the lab are served with the lab CA's certificates
        return CheckConfig(root_hints=real, destinations=endpoint.address_map, dns_port=endpoint.dns_port,
                           smtp_port=endpoint.smtp_port, policy_ca=ca if ca.is_file() else None,
                           history=served_history(endpoint.scenario), **common)  # type: ignore[arg-type]
    if root_hints is not None:
        hints = parse_root_hints(_read(root_hints, "--root-hints"), str(root_hints))
    else:
        hints = default_root_hints()
    return CheckConfig(root_hints=hints, destinations=LiveAddresses(), dns_port=dns_port, smtp_port=smtp_port,
                       **common)  # type: ignore[arg-type]


def _read(path: Path, option: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"{option} {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"{option} {path}: not UTF-8 text (at byte {error.start})") from None


@app.command(epilog=exit_help("check"))
def check(
    domains: Annotated[list[str] | None, typer.Argument(
        help="The domains mail is sent to, e.g. wa-students.org.", show_default=False)] = None,
    domain_file: Annotated[Path | None, typer.Option(
        "--domains", metavar="FILE", help="More domains, one a line (# starts a comment; - reads stdin).")] = None,
    resume: Annotated[Path | None, typer.Option(
        "--resume", metavar="FILE",
        help="Skip the domains complete in this JSONL file and append the others to it.")] = None,
    root_hints: RootHints = None,
    lab: Lab = None,
    samples: CheckSamples = "20",
    min_share: MinShare = None,
    miss: Miss = None,
    mta: Mta = None,
    no_smtp: NoSmtp = False,
    smtp_timeout: SmtpTimeout = "10s",
    dns_timeout: DnsTimeout = "2s",
    rate: Rate = None,
    budget: Budget = 5000,
    output_format: Annotated[CheckFormat, typer.Option(
        "--format", "-f", help="text, json, junit, sarif, or jsonl (one line per domain).")] = CheckFormat.text,
    fail_on: Annotated[FailOn, typer.Option(
        "--fail-on", help="Exit 1 on findings at or above this level.")] = FailOn.warning,
    seed: Seed = 0,
    dns_port: DnsPort = 53,
    smtp_port: SmtpPort = 25,
    output: Annotated[Path | None, typer.Option("--output", help="Write the report here, not to stdout.")] = None,
    progress: ShowProgress = True,
    quiet: Quiet = False,
    workers: Workers = None,
    dask: DaskAddress = None,
    parallel: Parallel = DEFAULT_PARALLEL,
) -> None:
    """Audit each domain's name servers and mail path; the one-line summary comes first.

    Follows the delegation from the root, asks every address of every name server K
    times for MX, TXT, SOA, NS, A and AAAA (RD clear and set, UDP with NSID, TCP once),
    groups the replies into behaviours per backend (NSID, or a fingerprint), and raises
    findings with stable IDs (docs/findings.md), each with the address, backend, query
    and share it rests on. For each behaviour, the model engine runs every MTA profile
    over what was seen, and each mail host on a path is probed (connect, banner, EHLO,
    STARTTLS with its TLS handshake, QUIT; never MAIL or DATA), starting as soon as the
    first round of samples names the hosts. A timeout is unknown, never "no records".

    Examples: `mxsim check example.org` (the live internet, from the IANA root servers);
    `mxsim check wa-students.org --lab STATE` (a world served by `mxsim lab up`);
    `mxsim check example.org -f sarif --fail-on error --output check.sarif` (a CI gate).

    A reply that answers nothing (SERVFAIL, a lame referral, truncated even over TCP)
    is unknown too, and a delivery path resting on an unknown answer is unknown: where
    mail goes could not be measured, and that is exit 2 whatever the findings.

    --samples auto stops early where every reply agrees: a backend answering a share p
    (--min-share, 0.05) of the lookups is missed with probability (1-p)^n <= --miss
    (0.001) after n queries over the zone's addresses (docs/check.md).

    Many domains (arguments, --domains FILE, or both): `-f jsonl` writes one line per
    domain as it finishes (to --output FILE, or --resume FILE to go on after an
    interruption); `-f sarif` one run with results per domain; text prints each summary
    line, then a table. The exit code is the worst over the domains: 2 over 1 over 0;
    130 after Ctrl-C, with every finished domain kept. The domains share the referrals
    from the root, the resolver's cache, each mail host's probe, and --rate per address.
    --parallel N domains are checked at once; lines come in the order of the list.

    `--workers N` (a Dask cluster on this machine) or `--dask ADDRESS` (an existing one)
    checks the domains on its workers, grouped by the name servers they share; lines then
    come in the order domains finish (docs/distributed.md).
    """
    try:
        names = _domain_list(domains or [], domain_file)
        sampling = _sampling(samples, min_share, miss)
        parallel = parallel_value(parallel)
    except MxsimError as error:
        raise fail(error) from None
    runner = check_runner(workers, dask)  # None: in this process
    if len(names) != 1 or output_format == CheckFormat.jsonl or resume is not None or runner is not None:
        _check_many(names, resume, output, output_format, root_hints, lab, sampling, mta, no_smtp, smtp_timeout,
                    dns_timeout, rate, budget, seed, fail_on, dns_port, smtp_port, quiet, progress, runner,
                    parallel=parallel)
    (domain,) = names
    from mxsim.cli.replay import progress_bar
    from mxsim.commands.check import run_check
    try:
        config = _sampled(_config(domain, root_hints, lab, 1, mta, no_smtp, smtp_timeout, dns_timeout, rate,
                                  budget, seed, fail_on, dns_port, smtp_port), sampling)
        with progress_bar(progress and sys.stderr.isatty()) as tick:
            result = run_check(config, tick)
    except MxsimError as error:
        raise fail(error) from None
    if quiet:
        typer.echo(result.summary)
        raise typer.Exit(int(result.exit_code))
    # The one renderer asked for is loaded (JUnit pulls in an XML library).
    renderer = importlib.import_module(f"mxsim.report.check_{output_format.value}")
    report: str = renderer.render(result)
    if output is not None:
        try:
            output.write_text(report, encoding="utf-8")
        except OSError as error:
            raise fail(UsageError(f"--output {output}: {error.strerror}")) from None
        typer.echo(result.summary)  # the line that must not be missed, even when the report goes to a file
    else:
        sys.stdout.write(report)
    raise typer.Exit(int(result.exit_code))


@contextmanager
def batch_bar(enabled: bool, total: int) -> Iterator[Callable[[str], None] | None]:
    """Domains done of all, rate, time left and the verdicts so far, on stderr, only on a terminal."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("domains"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
               TextColumn("{task.fields[verdicts]}"))
    with Progress(*columns, transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("domains", total=total, verdicts="", rate="")
        started = time.monotonic()

        def advance(verdicts: str) -> None:
            done = bar.tasks[0].completed + 1
            rate = done / max(time.monotonic() - started, 1e-9)
            bar.update(task, advance=1, verdicts=verdicts, rate=f"{rate:.1f} domains/s")

        yield advance


def _domain_list(arguments: list[str], domain_file: Path | None) -> list[str]:
    from mxsim.commands.check_batch import parse_domain_list

    names = parse_domain_list("\n".join(arguments), "argument") if arguments else []
    if domain_file is not None:
        if str(domain_file) == "-":
            names += parse_domain_list(sys.stdin.read(), "<stdin>")
        else:
            names += parse_domain_list(_read(domain_file, "--domains"), str(domain_file))
    if not names:
        raise UsageError("no domain to check: give DOMAIN... or --domains FILE")
    return list(dict.fromkeys(names))


def _check_many(
    names: list[str], resume: Path | None, output: Path | None, output_format: CheckFormat,
    root_hints: Path | None, lab: Path | None, sampling: tuple[int, tuple[float, float] | None],
    mta: list[str] | None, no_smtp: bool,
    smtp_timeout: str, dns_timeout: str, rate: float | None, budget: int, seed: int, fail_on: FailOn,
    dns_port: int, smtp_port: int, quiet: bool, progress: bool, runner: BatchRunner | None = None, *,
    parallel: int = DEFAULT_PARALLEL,
) -> None:
    """Many domains: each out as its domain finishes; a closing table; exit with the worst code."""
    from mxsim.commands.check_batch import ResultsFile, resume_from, run_batch
    from mxsim.exits import CheckExit
    from mxsim.report.check_batch_sarif import BatchSarif
    from mxsim.report.check_batch_text import BatchTally
    from mxsim.report.check_jsonl import data, line_text

    if output_format not in (CheckFormat.text, CheckFormat.jsonl, CheckFormat.sarif):
        raise fail(UsageError(f"-f {output_format.value} reports one domain; for many, use -f jsonl, sarif or text"))
    if resume is not None and output is not None and resume != output:
        raise fail(UsageError("--resume FILE appends to FILE: give it without --output, or the same file"))
    if resume is not None and output_format != CheckFormat.jsonl:
        raise fail(UsageError("--resume appends JSON lines: add -f jsonl"))
    if output is not None and output_format == CheckFormat.text:
        raise fail(UsageError("--output with many domains writes JSON lines or SARIF: add -f jsonl or -f sarif"))
    lines_to = (resume or output) if output_format == CheckFormat.jsonl else None
    tally = BatchTally()
    sarif = BatchSarif() if output_format == CheckFormat.sarif else None
    worst = 0
    try:
        config = dataclasses.replace(_sampled(_config(names[0], root_hints, lab, 1, mta, no_smtp, smtp_timeout,
                                                      dns_timeout, rate, budget, seed, fail_on, dns_port, smtp_port),
                                              sampling), parallel=parallel)
        done = resume_from(resume) if resume is not None else set()
        todo = [n for n in names if n not in done]
        results = ResultsFile(lines_to) if lines_to is not None else None
    except MxsimError as error:
        raise fail(error) from None
    # The report itself on stdout leaves no room for the summaries and the table there.
    report_on_stdout = output_format != CheckFormat.text and output is None and resume is None

    def emit(result: CheckResult) -> None:
        nonlocal worst
        line = data(result)
        # Durable first: a domain counted done is on disk (or on its way out) before anything else.
        if results is not None:
            results.write(line_text(line))
        elif output_format == CheckFormat.jsonl:
            sys.stdout.write(line_text(line))
            sys.stdout.flush()
        if sarif is not None:
            sarif.add(result)
        tally.add(line)
        worst = max(worst, line["exit_code"])
        if not report_on_stdout:
            typer.echo(result.summary)
        if advance is not None:
            advance(", ".join(f"{n} {v}" for v, n in sorted(tally.verdicts.items())))

    def close(interrupted: bool) -> None:
        if sarif is not None:
            report = sarif.render(total=len(todo), interrupted=interrupted)
            if output is None:
                sys.stdout.write(report)
            else:
                _write(output, report)
        if quiet:
            return
        if not report_on_stdout:
            typer.echo(tally.render(), nl=False)
        elif sys.stderr.isatty():
            typer.echo(tally.render(), nl=False, err=True)

    try:
        with batch_bar(progress and sys.stderr.isatty(), len(todo)) as advance:
            (runner or run_batch)(config, todo, emit)
    except MxsimError as error:
        raise fail(error) from None
    except KeyboardInterrupt:
        # Every finished domain is already out (and synced, in a results file); the rest is for --resume.
        where = f"; --resume {lines_to} checks the rest" if lines_to is not None else ""
        typer.echo(f"mxsim: interrupted after {sum(tally.verdicts.values())} of {len(todo)} domains{where}", err=True)
        close(interrupted=True)
        raise typer.Exit(int(CheckExit.INTERRUPTED)) from None
    finally:
        if results is not None:
            results.close()
    close(interrupted=False)
    raise typer.Exit(worst)


def _write(path: Path, report: str) -> None:
    try:
        path.write_text(report, encoding="utf-8")
    except OSError as error:
        raise fail(UsageError(f"--output {path}: {error.strerror}")) from None


@app.command(epilog=exit_help("record"))
def record(
    domain: Annotated[str, typer.Argument(help="The domain to record, e.g. wa-students.org.")],
    output: Annotated[Path, typer.Option("--output", help="The scenario file to write.")],
    root_hints: RootHints = None,
    lab: Lab = None,
    samples: Samples = 20,
    mta: Mta = None,
    no_smtp: NoSmtp = False,
    smtp_timeout: SmtpTimeout = "10s",
    dns_timeout: DnsTimeout = "2s",
    rate: Rate = None,
    budget: Budget = 5000,
    seed: Seed = 0,
    dns_port: DnsPort = 53,
    smtp_port: SmtpPort = 25,
    progress: ShowProgress = True,
    quiet: Quiet = False,
) -> None:
    """Measure DOMAIN as `check` does and write what was seen as a scenario file.

    One backend per observed behaviour with its observed share as its weight and its
    NSID, the zone as most replies gave it, the names the MTAs would ask about as they
    resolved, each probed mail host address with what it did, and a case per behaviour
    (`--pin zone`, `--pin cname`). `mxsim replay FILE`, `mxsim trace FILE` and
    `mxsim lab up FILE` read it.
    """
    from mxsim.cli.replay import progress_bar
    from mxsim.commands.record import RecordConfig, describe, run_record

    try:
        config = _config(domain, root_hints, lab, samples, mta, no_smtp, smtp_timeout, dns_timeout, rate, budget,
                         seed, FailOn.warning, dns_port, smtp_port)
        with progress_bar(progress and sys.stderr.isatty()) as tick:
            result = run_record(RecordConfig(config, output), tick)
    except MxsimError as error:
        raise fail(error) from None
    typer.echo(result.check.summary)
    if result.output is None:
        typer.echo(f"mxsim: nothing recorded: {'; '.join(result.check.unknown) or 'no delegation'}", err=True)
        raise typer.Exit(int(RecordExit.UNMEASURED))
    if quiet:
        return
    for line in describe(result):
        typer.echo(line)
