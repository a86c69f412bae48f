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
from typing import TYPE_CHECKING, TypeVar

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
from mxsim.transport.base import DnsExchange, DnsReply, SmtpProbe, SmtpSession, Step
from mxsim.transport.destinations import Destinations, LiveAddresses
from mxsim.transport.flight import FirstOnly
from mxsim.transport.probe_pool import Host, Job, ProbePool
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
T = TypeVar("T")
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
    parallel: int = 8  # domains checked at once over many (their queries share `max_in_flight`)
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
    asked once per its TTL: while one domain walks to a TLD, the others under it wait for
    that walk); and each SMTP host's probe, by address and port, made once per run however
    many domains' paths lead to it (a domain needing a host being probed waits for that probe)."""

    transport: WireTransport
    resolver: RecursiveResolver
    referrals: Referrals = field(default_factory=Referrals)
    probes: ProbePool = field(default_factory=ProbePool)
    walks: FirstOnly = field(default_factory=FirstOnly)

    def finish(self) -> None:
        """At the end of the event loop the checks ran in: what lives in that loop is closed
        (the sockets, the probes still running); what was learned stays for the next loop."""
        try:
            self.probes.close()
        finally:
            self.transport.exchanger.close()


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
        self._sent = 0  # this domain's DNS messages: the shared transport counts every domain's
        # Each behaviour group's model world, with the facts it was built from (`_paths`).
        self.worlds: dict[str, tuple[Measured, World]] = {}
        self.lost: dict[Question, Lost] = {}  # names resolved for the paths that got no answer, and why

    def asking(self, done: Callable[[], None] | None = None) -> Asking:
        return Asking(self.config.dns_timeout, self.config.retries, self.clock.now, self.budget, done)

    def run(self, steps: list[Step[object]]) -> list[object]:
        """Run steps side by side over the wire, in an event loop of their own."""
        jobs: list[Callable[[], Awaitable[object]]] = [
            (lambda step=step: self.transport.run(self._counted(step))) for step in steps  # type: ignore[misc]
        ]
        return self.transport.run_all(jobs) if jobs else []

    async def gather(self, steps: list[Step[object]]) -> list[object]:
        """Run steps side by side over the wire, in the running event loop."""
        return await self.transport.gather([self._counted(step) for step in steps]) if steps else []

    def _counted(self, step: Step[T]) -> Step[T]:
        """The step, each DNS exchange it asks for counted as this domain's."""
        try:
            effect = next(step)
            while True:
                if isinstance(effect, DnsExchange):
                    self._sent += 1
                effect = step.send((yield effect))
        except StopIteration as done:
            value: T = done.value
            return value

    @property
    def sent(self) -> int:
        """DNS messages sent, retries and resolutions included."""
        return self._sent

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

    def prefetch(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> Step[DnsReply | None]:
        """A lookup the paths may need: its reply when usable, else None, and no loss recorded
        (if the paths do need it, they ask it again, and that failure is theirs)."""
        resolved = yield from self.resolver.resolve(qname, qtype, budget=RESOLVE_WAIT)
        reply = None if resolved.timed_out else resolved.response
        return reply if fact_lost(qname, qtype, reply, resolution_why(resolved, RESOLVE_WAIT)) is None else None

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


async def resolve_all(run: CheckRun, facts: dict[Question, DnsReply | None], wanted: Iterable[Question],
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
        for question, reply in zip(new, await run.gather(steps), strict=True):
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


def probe_jobs(run: CheckRun, addresses: Iterable[str]) -> list[tuple[Host, Job]]:
    """A probe of each address (on the check's SMTP port), by host; run where the pool runs them."""
    timeout = run.config.smtp_timeout

    def probe(address: str) -> Job:
        async def go() -> SmtpSession:
            return await run.transport.smtp(SmtpProbe(address, 25, HELO_NAME, timeout, timeout, starttls=True))
        return go

    return [((a, run.config.smtp_port), probe(a)) for a in addresses]


def host(run: CheckRun, address: str) -> Host:
    return address, run.config.smtp_port


def start_probes(run: CheckRun, addresses: Sequence[str]) -> None:
    """Probe the addresses this run has not probed and is not probing, beside the check."""
    jobs = [(h, job) for h, job in probe_jobs(run, addresses) if not run.wire.probes.covers([h])]
    if not jobs:
        return
    tick = run.ticker("SMTP probes", len(jobs))
    # The jobs may run in a child process: the progress is ticked here, as each result arrives.
    run.wire.probes.start(jobs, tick)


def probed(run: CheckRun, addresses: Iterable[str]) -> dict[str, SmtpSession]:
    """What this run's probes found so far for these host addresses; does not wait."""
    return {a: s for (a, _), s in run.wire.probes.settled(host(run, a) for a in addresses).items()}


async def probes_of(run: CheckRun, addresses: Sequence[str]) -> dict[str, SmtpSession]:
    """Each address's probe: those running waited for, the others started now and waited for."""
    start_probes(run, addresses)
    found = await run.wire.probes.wait(host(run, a) for a in addresses)
    return {a: s for (a, _), s in found.items()}


def start_early_probes(run: CheckRun, facts: Mapping[Question, DnsReply | None]) -> None:
    """Probe every address the first samples lead to (MX hosts, where a CNAME ends), now."""
    start_probes(run, sorted(owners(facts))[:MAX_PROBES])


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
