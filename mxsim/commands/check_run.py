"""The shared state of one `mxsim check`: its settings, its run over the wire, its result.

`check` measures up to the first probes (`commands/check.py`); the model's side, from the
analysis to the findings, is `commands/check_paths.py`, imported only once the probes run.
Both work on what lives here, and neither imports the other.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import dns.name
import dns.rdatatype

from mxsim.audit.catalog import Level
from mxsim.audit.lost import Lost, fact_lost, resolution_why
from mxsim.audit.probes import Asking, Budget, Delegation, Query, Referrals, Sample
from mxsim.errors import MxsimError
from mxsim.exits import CheckExit
from mxsim.mta import HELO_NAME
from mxsim.names import text as name_text
from mxsim.resolver.recursive import RecursiveResolver
from mxsim.scenario.spec import ScenarioSpec
from mxsim.transport.background import Background
from mxsim.transport.base import DnsReply, SmtpProbe, SmtpSession, Step
from mxsim.transport.destinations import Destinations, LiveAddresses
from mxsim.transport.wire import WireTransport

if TYPE_CHECKING:  # the model's side is imported when the probes run (`check_paths`)
    from mxsim.audit.behaviour import Analysis
    from mxsim.audit.finding import Finding
    from mxsim.audit.record import Measured, Recording
    from mxsim.commands.check_paths import PathResult
    from mxsim.lab.addressmap import AddressMap
    from mxsim.world import World

RESOLVE_WAIT = 10.0  # seconds a wire resolution of one name may take (glibc's 2 x 5 s)
MAX_ROUNDS = 6  # model runs that may discover new names to resolve
MAX_NAMES = 200  # names resolved for the paths, at most
MAX_PROBES = 64  # SMTP addresses probed, at most
PATH_TYPES = (dns.rdatatype.MX, dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.CNAME, dns.rdatatype.TXT)
Hints = tuple[tuple[dns.name.Name, str], ...]
Progress = Callable[[str, int], Callable[[int], None]]


@dataclass(frozen=True, slots=True)
class CheckConfig:
    domain: str
    root_hints: Hints
    destinations: AddressMap | Destinations = field(default_factory=LiveAddresses)
    dns_port: int = 53
    smtp_port: int = 25
    samples: int = 20  # rounds; with `detect_rounds`, the full count once answers differ
    auto: tuple[float, float] | None = None  # `--samples auto`: (--min-share, --miss); None: a fixed count
    mtas: tuple[str, ...] = ()
    smtp: bool = True
    smtp_timeout: float = 10.0
    dns_timeout: float = 2.0
    retries: int = 2
    rate: float = 100.0  # queries a second to one address
    budget: int = 5000  # queries in all
    max_in_flight: int = 64
    seed: int = 0
    fail_on: Level = Level.WARNING
    record: bool = False  # also build the measured world as a scenario (`mxsim record`)
    policy_ca: Path | None = None  # the CA that MTA-STS policy fetches trust (the lab's); None: the system's
    https_port: int = 443  # where MTA-STS policies are fetched
    history: ScenarioSpec | None = None  # a lab's scenario with a timeline: its MTA-STS history is checked too


@dataclass(frozen=True, slots=True)
class HostProbe:
    address: str
    host: str  # the names that lead to it on a path
    state: str  # accepted | failed | unknown
    detail: str
    session: SmtpSession


@dataclass(frozen=True, slots=True)
class CheckResult:
    domain: str
    zone: str
    seed: int
    samples: int
    mtas: tuple[str, ...]
    fail_on: Level
    delegation: Delegation
    addresses: dict[str, list[dns.name.Name]]
    ns_without_address: tuple[dns.name.Name, ...]
    analysis: Analysis | None
    paths: tuple[PathResult, ...]
    probes: tuple[HostProbe, ...]
    findings: tuple[Finding, ...]
    summary: str
    unknown: tuple[str, ...]
    recording: Recording | None
    queries: int
    smtp_probed: bool
    unmeasured: tuple[str, ...] = ()  # why where mail goes could not be measured (for some lookups, or all)

    @property
    def failing(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level >= self.fail_on)

    @property
    def exit_code(self) -> CheckExit:
        if self.unmeasured:
            return CheckExit.UNMEASURED  # the verdict rests on answers never obtained; findings or not
        if self.failing:
            return CheckExit.FINDINGS
        if self.unknown:
            return CheckExit.UNMEASURED
        return CheckExit.CLEAN


@dataclass(slots=True)
class SharedWire:
    """What the checks of many domains share: one transport, so `--rate` paces each server
    address across them all; one resolver, whose cache (by TTL) resolves a shared mail host's
    addresses once; the referrals met walking down from the root (a TLD's delegation is
    asked once per its TTL); and each SMTP host's probe, by address and port, made once per
    run however many domains' paths lead to it."""

    transport: WireTransport
    resolver: RecursiveResolver
    referrals: Referrals = field(default_factory=Referrals)
    probed: dict[tuple[str, int], SmtpSession] = field(default_factory=dict)


def shared_wire(config: CheckConfig) -> SharedWire:
    transport = WireTransport(
        config.destinations, dns_port=config.dns_port, smtp_port=config.smtp_port,
        rate=config.rate if config.rate > 0 else None, max_in_flight=config.max_in_flight,
        smtp_timeout=config.smtp_timeout,
    )
    transport.policy_ca = config.policy_ca
    transport.https_port = config.https_port
    rng = random.Random(f"{config.seed}:check")
    return SharedWire(transport, RecursiveResolver(list(config.root_hints), transport.clock, rng))


class CheckRun:
    """One check: the transport, the resolver and the counters its steps share."""

    def __init__(self, config: CheckConfig, progress: Progress | None, shared: SharedWire | None = None) -> None:
        self.config = config
        self.progress = progress
        wire = shared or shared_wire(config)
        self.wire = wire
        self.transport = wire.transport
        self.clock = self.transport.clock
        self.budget = Budget(config.budget)
        self.rng = random.Random(f"{config.seed}:check")
        self.resolver = wire.resolver
        self._sent_before = self.transport.dns_sent  # a shared transport counts earlier domains too
        # Each behaviour group's model world, with the facts it was built from (`_paths`).
        self.worlds: dict[str, tuple[Measured, World]] = {}
        self.lost: dict[Question, Lost] = {}  # names resolved for the paths that got no answer, and why

    def asking(self, done: Callable[[], None] | None = None) -> Asking:
        return Asking(self.config.dns_timeout, self.config.retries, self.clock.now, self.budget, done)

    def run(self, steps: list[Step[object]]) -> list[object]:
        """Run steps side by side over the wire (the transport counts every DNS exchange)."""
        jobs: list[Callable[[], Awaitable[object]]] = [
            (lambda step=step: self.transport.run(step)) for step in steps  # type: ignore[misc]
        ]
        return self.transport.run_all(jobs) if jobs else []

    @property
    def sent(self) -> int:
        """DNS messages sent, retries and resolutions included."""
        return self.transport.dns_sent - self._sent_before

    def addresses_of(self, name: dns.name.Name) -> Step[list[str]]:
        found: list[str] = []
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            reply = yield from self.resolve(name, rdtype)
            if reply is not None:
                found += [str(r.address) for rrset in reply.answer if rrset.rdtype == rdtype for r in rrset]
        return found

    def resolve(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> Step[DnsReply | None]:
        resolved = yield from self.resolver.resolve(qname, qtype, budget=RESOLVE_WAIT)
        reply = None if resolved.timed_out else resolved.response
        lost = fact_lost(qname, qtype, reply, resolution_why(resolved, RESOLVE_WAIT))
        if lost is not None:
            self.lost[(qname, qtype)] = lost
        return reply

    def dropped(self, addresses: Iterable[str]) -> dict[str, dict[str, int]]:
        """Replies dropped as unusable (another question, unparsable) per name server address."""
        found: dict[str, dict[str, int]] = {}
        by_lab = {}
        for address in addresses:
            with contextlib.suppress(ValueError, MxsimError):  # one the destinations refuse was never asked
                by_lab[self.transport.destination(address)] = address
        for (where, why), count in self.transport.exchanger.dropped.items():
            if where in by_lab:
                found.setdefault(by_lab[where], {})[why] = count
        return found

    def ticker(self, label: str, total: int) -> Callable[[], None] | None:
        if self.progress is None:
            return None
        tick = self.progress(label, total)
        return lambda: tick(1)


Question = tuple[dns.name.Name, dns.rdatatype.RdataType]
HOST_TYPES = (dns.rdatatype.MX, dns.rdatatype.A, dns.rdatatype.AAAA)


def resolve_all(run: CheckRun, facts: dict[Question, DnsReply | None], wanted: Iterable[Question],
                 domain: dns.name.Name) -> None:
    """Resolve what is wanted and, at once, MX and addresses of where each CNAME chain ends."""
    todo = set(wanted)
    for _hop in range(MAX_ROUNDS):
        new = sorted(q for q in todo if q not in facts and q[0] != domain and q[1] in PATH_TYPES)
        new = new[: max(0, MAX_NAMES - len(facts))]
        if not new:
            return
        steps: list[Step[object]] = [run.resolve(q, t) for q, t in new]
        todo = set()
        for question, reply in zip(new, run.run(steps), strict=True):
            facts[question] = reply if isinstance(reply, DnsReply) else None
            if isinstance(reply, DnsReply):
                # MTAs ask along a chain, not only at its end (Sendmail walks it link by link,
                # Exim routes again at the canonical name): every link, asked now, spares a round.
                links = {r.name for r in reply.answer if r.rdtype == dns.rdatatype.CNAME}
                links |= {r[0].target for r in reply.answer if r.rdtype == dns.rdatatype.CNAME}
                todo |= {(link, t) for link in links for t in HOST_TYPES}


def owners(facts: Mapping[Question, DnsReply | None]) -> dict[str, set[str]]:
    """address -> the names whose A/AAAA records hold it (the host names a probe reports)."""
    found: dict[str, set[str]] = {}
    for reply in facts.values():
        if reply is None:
            continue
        for rrset in reply.answer:
            if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                for rdata in rrset:
                    found.setdefault(str(rdata.address), set()).add(name_text(rrset.name))
    return found


def probe_jobs(run: CheckRun, addresses: list[str],
                tick: Callable[[], None] | None) -> list[Callable[[], Awaitable[SmtpSession]]]:
    timeout = run.config.smtp_timeout

    def probe(address: str) -> Callable[[], Awaitable[SmtpSession]]:
        async def go() -> SmtpSession:
            session = await run.transport.smtp(SmtpProbe(address, 25, HELO_NAME, timeout, timeout, starttls=True))
            if tick is not None:
                tick()
            return session
        return go

    return [probe(a) for a in addresses]


@dataclass
class EarlyProbes:
    """Probes started from the first round of samples, running while the rest are taken;
    hosts this run probed before (for another domain) are not probed again."""

    addresses: list[str]  # probed now
    running: Background[SmtpSession] | None
    known: dict[str, SmtpSession] = field(default_factory=dict)  # probed earlier in the run

    def covers(self) -> set[str]:
        return {*self.addresses, *self.known}

    def sessions(self) -> dict[str, SmtpSession]:
        found = dict(self.known)
        if self.running is not None:
            found.update(zip(self.addresses, self.running.result(), strict=True))
        return found

    def settled(self) -> dict[str, SmtpSession]:
        """The probes that have ended so far; does not wait."""
        found = dict(self.known)
        if self.running is not None:
            found.update({self.addresses[i]: session for i, session in self.running.finished().items()})
        return found

    def close(self) -> None:
        if self.running is not None:
            self.running.close()


def probed_before(run: CheckRun, addresses: Iterable[str]) -> dict[str, SmtpSession]:
    """The sessions this run already has for these host addresses (on its SMTP port)."""
    port = run.config.smtp_port
    return {a: run.wire.probed[(a, port)] for a in addresses if (a, port) in run.wire.probed}


def keep_probes(run: CheckRun, sessions: Mapping[str, SmtpSession]) -> None:
    """Remember each host's probe for the rest of the run (a host is probed once per run)."""
    port = run.config.smtp_port
    for address, session in sessions.items():
        run.wire.probed.setdefault((address, port), session)


def start_early_probes(run: CheckRun, facts: Mapping[Question, DnsReply | None]) -> EarlyProbes | None:
    """Probe every address the first samples lead to (MX hosts, where a CNAME ends), now."""
    wanted = sorted(owners(facts))[:MAX_PROBES]
    if not wanted:
        return None
    known = probed_before(run, wanted)
    addresses = [a for a in wanted if a not in known]
    if not addresses:
        return EarlyProbes([], None, known)
    tick = run.ticker("SMTP probes", len(addresses))
    # The jobs may run in a child process: the progress is ticked here, as each result arrives.
    on_result = (lambda _index, _session: tick()) if tick is not None else None
    return EarlyProbes(addresses, Background(probe_jobs(run, addresses, None), on_result), known)


@dataclass(slots=True)
class Sampled:
    """What the first round measured, handed to the model's side to finish the check."""

    domain: dns.name.Name
    delegation: Delegation
    addresses: dict[str, list[dns.name.Name]]  # name server address -> its names
    without: list[dns.name.Name]  # name servers with no address
    mtas: tuple[str, ...]
    samples: list[Sample]  # taken so far
    rest: Sequence[Query]  # still to take
    detect: int | None  # how many of `rest` to take before deciding to stop early (None: take them all)
    detect_rounds: int  # the rounds those make, with the first
    how: Asking
    facts: dict[Question, DnsReply | None]  # names resolved for the paths
    early: EarlyProbes | None  # probes started from the first round
