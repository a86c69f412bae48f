"""`mxsim check DOMAIN`: audit a live domain's servers and mail path (and `record` it).

The steps, each driven over the wire transport (sockets live only there):
1. the delegation from the root: the parent's NS set and glue (RD clear, as resolvers
   ask); every address of every server name, parent's and zone's own;
2. K samples of MX, TXT, SOA, NS, A and AAAA at the domain from every address, RD clear
   and set, over UDP with NSID, and once over TCP: concurrent, paced per address, within
   a query budget, each retried when silent (a timeout stays unknown, never "absent");
3. behaviours per address (`audit.behaviour`) and findings (`audit.checks`);
4. the measured world as a scenario (`audit.record`); for each behaviour group, the
   model engine runs every MTA profile over it. The names those runs ask about (MX
   hosts, CNAME targets) are resolved on the wire and added, until nothing new is asked;
5. SMTP probes (connect, banner, EHLO, STARTTLS, QUIT; never MAIL or DATA) to every
   address on any path, then the paths again with what the hosts did.
The summary line comes first in every report: where mail goes, for what share of lookups.

This module measures up to the first probes: they start as soon as the first round of
samples names the MX hosts and any CNAME target, in a process of their own
(`transport.background`). Steps 3 to 5 live in `check_paths`, imported only then, so
that the model's modules load while the probes wait rather than before they start.
"""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import dns.exception
import dns.name
import dns.rdatatype
import dns.zonefile

from mxsim.audit.behaviour import name_text
from mxsim.audit.catalog import Level
from mxsim.audit.lost import Lost, fact_lost, resolution_why
from mxsim.audit.probes import Asking, Budget, Delegation, Plan, Query, Sample, ask, find_delegation
from mxsim.errors import MxsimError, UsageError
from mxsim.exits import CheckExit
from mxsim.mta import HELO_NAME, PROFILE_NAMES, check_profile_name
from mxsim.resolver.recursive import RecursiveResolver
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

# The IANA root servers (IPv4), for a live check without --root-hints.
ROOT_SERVERS = (
    ("a.root-servers.net.", "198.41.0.4"), ("b.root-servers.net.", "170.247.170.2"),
    ("c.root-servers.net.", "192.33.4.12"), ("d.root-servers.net.", "199.7.91.13"),
    ("e.root-servers.net.", "192.203.230.10"), ("f.root-servers.net.", "192.5.5.241"),
    ("g.root-servers.net.", "192.112.36.4"), ("h.root-servers.net.", "198.97.190.53"),
    ("i.root-servers.net.", "192.36.148.17"), ("j.root-servers.net.", "192.58.128.30"),
    ("k.root-servers.net.", "193.0.14.129"), ("l.root-servers.net.", "199.7.83.42"),
    ("m.root-servers.net.", "202.12.27.33"),
)
MAX_SAMPLES = 200  # --samples cap: politeness
RESOLVE_WAIT = 10.0  # seconds a wire resolution of one name may take (glibc's 2 x 5 s)
MAX_ROUNDS = 6  # model runs that may discover new names to resolve
MAX_NAMES = 200  # names resolved for the paths, at most
MAX_PROBES = 64  # SMTP addresses probed, at most
PATH_TYPES = (dns.rdatatype.MX, dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.CNAME, dns.rdatatype.TXT)

_LABEL = re.compile(rb"^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?$")
Hints = tuple[tuple[dns.name.Name, str], ...]
Progress = Callable[[str, int], Callable[[int], None]]


@dataclass(frozen=True, slots=True)
class CheckConfig:
    domain: str
    root_hints: Hints
    destinations: AddressMap | Destinations = field(default_factory=LiveAddresses)
    dns_port: int = 53
    smtp_port: int = 25
    samples: int = 20
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


def parse_root_hints(text: str, source: str = "root hints") -> Hints:
    """named.root text -> (server name, address) for each A/AAAA of a root NS name."""
    try:
        rrsets = dns.zonefile.read_rrsets(text, rdclass=None, origin=dns.name.root, relativize=False,
                                         default_ttl=3600000)
    except dns.exception.DNSException as error:
        raise UsageError(f"{source}: not a root hints file ({error})") from None
    servers = {r.target for rrset in rrsets if rrset.rdtype == dns.rdatatype.NS and rrset.name == dns.name.root
               for r in rrset}
    hints = sorted(
        (rrset.name, str(r.address)) for rrset in rrsets
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA) and rrset.name in servers for r in rrset
    )
    if not hints:
        raise UsageError(f"{source}: no root server with an address")
    return tuple(hints)


def default_root_hints() -> Hints:
    return tuple((dns.name.from_text(name), address) for name, address in ROOT_SERVERS)


def _domain(text: str) -> dns.name.Name:
    try:
        name = dns.name.from_text(text.strip().rstrip(".") + ".")
    except dns.exception.DNSException as error:
        raise UsageError(f"{text!r} is not a domain name: {error}") from None
    # A mail domain is a host name (RFC 5321 §2.3.5): letters, digits and hyphens in each label
    # (internationalised names arrive here as their xn-- form).
    if len(name) < 2 or not all(_LABEL.match(label) for label in name.labels[:-1]):
        raise UsageError(f"{text!r} is not a domain name to check")
    return name


class _Run:
    """One check: the transport, the resolver and the counters its steps share."""

    def __init__(self, config: CheckConfig, progress: Progress | None) -> None:
        self.config = config
        self.progress = progress
        self.transport = WireTransport(
            config.destinations, dns_port=config.dns_port, smtp_port=config.smtp_port,
            rate=config.rate if config.rate > 0 else None, max_in_flight=config.max_in_flight,
            smtp_timeout=config.smtp_timeout,
        )
        self.clock = self.transport.clock
        self.budget = Budget(config.budget)
        self.rng = random.Random(f"{config.seed}:check")
        self.resolver = RecursiveResolver(list(config.root_hints), self.clock, self.rng)
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
        return self.transport.dns_sent

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


def _servers(run: _Run, delegation: Delegation) -> tuple[dict[str, list[dns.name.Name]], list[dns.name.Name]]:
    """Every address of every server name: parent's set with glue, then the zone's own set."""
    addresses: dict[str, set[dns.name.Name]] = {}
    for name, address in delegation.glue:
        addresses.setdefault(address, set()).add(name)
    known = set(delegation.parent_ns)
    without: list[dns.name.Name] = []

    def add(names: Iterable[dns.name.Name]) -> None:
        todo = sorted(set(names))
        steps: list[Step[object]] = [run.addresses_of(name) for name in todo]
        for name, found in zip(todo, run.run(steps), strict=True):
            assert isinstance(found, list)
            for address in found:
                addresses.setdefault(address, set()).add(name)
            lost = any((name, t) in run.lost for t in (dns.rdatatype.A, dns.rdatatype.AAAA))
            if not found and not lost and not any(name in names for names in addresses.values()):
                without.append(name)  # answered, without an address (a lookup that failed is unknown)

    add(known)  # glue too: the parent's glue may hold only some of a server's addresses
    # The zone's own NS set, from each address once (RD clear): names the parent did not give.
    how = run.asking()
    steps: list[Step[object]] = [
        ask(Query(address, delegation.zone, dns.rdatatype.NS, rd=False), how)
        for address in sorted(addresses)
    ]
    child: set[dns.name.Name] = set()
    for sample in run.run(steps):
        assert isinstance(sample, Sample)
        if sample.reply is not None and sample.reply.aa:
            child |= {r.target for rrset in sample.reply.answer if rrset.rdtype == dns.rdatatype.NS
                      and rrset.name == delegation.zone for r in rrset}
    add(child - known)
    return {a: sorted(n) for a, n in sorted(addresses.items())}, sorted(set(without))


Question = tuple[dns.name.Name, dns.rdatatype.RdataType]
HOST_TYPES = (dns.rdatatype.MX, dns.rdatatype.A, dns.rdatatype.AAAA)


def _resolve_all(run: _Run, facts: dict[Question, DnsReply | None], wanted: Iterable[Question],
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


def _probe_jobs(run: _Run, addresses: list[str],
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
class _EarlyProbes:
    """Probes started from the first round of samples, running while the rest are taken."""

    addresses: list[str]
    running: Background[SmtpSession]

    def sessions(self) -> dict[str, SmtpSession]:
        return dict(zip(self.addresses, self.running.result(), strict=True))

    def settled(self) -> dict[str, SmtpSession]:
        """The probes that have ended so far; does not wait."""
        return {self.addresses[i]: session for i, session in self.running.finished().items()}


def _start_early_probes(run: _Run, facts: Mapping[Question, DnsReply | None]) -> _EarlyProbes | None:
    """Probe every address the first samples lead to (MX hosts, where a CNAME ends), now."""
    addresses = sorted(owners(facts))[:MAX_PROBES]
    if not addresses:
        return None
    tick = run.ticker("SMTP probes", len(addresses))
    # The jobs may run in a child process: the progress is ticked here, as each result arrives.
    on_result = (lambda _index, _session: tick()) if tick is not None else None
    return _EarlyProbes(addresses, Background(_probe_jobs(run, addresses, None), on_result))


def _first_round_wanted(samples: Iterable[Sample], domain: dns.name.Name) -> set[Question]:
    """What the first samples say MTAs will look up: the MX hosts' addresses, where a CNAME leads."""
    wanted: set[Question] = set()
    for sample in samples:
        if sample.reply is None:
            continue
        for rrset in sample.reply.answer:
            if rrset.name != domain:
                continue
            if rrset.rdtype == dns.rdatatype.MX:
                wanted |= {(r.exchange, t) for r in rrset if r.exchange != dns.name.root
                           for t in (dns.rdatatype.A, dns.rdatatype.AAAA)}
            elif rrset.rdtype == dns.rdatatype.CNAME:
                wanted |= {(rrset[0].target, t) for t in HOST_TYPES}
    return wanted


def run_check(config: CheckConfig, progress: Progress | None = None) -> CheckResult:
    domain = _domain(config.domain)
    if not 1 <= config.samples <= MAX_SAMPLES:
        raise UsageError(f"--samples {config.samples}: expected 1 to {MAX_SAMPLES}")
    if config.smtp_timeout <= 0 or config.dns_timeout <= 0:
        raise UsageError("timeouts must be positive")
    mtas = tuple(m.lower() for m in config.mtas) or PROFILE_NAMES
    for name in mtas:
        check_profile_name(name)
    run = _Run(config, progress)
    delegation_step = find_delegation(domain, list(config.root_hints), run.asking(), run.addresses_of)
    (delegation,) = run.run([delegation_step])
    assert isinstance(delegation, Delegation)
    if delegation.unknown is not None or delegation.nxdomain:
        from mxsim.commands.check_paths import unmeasured

        return unmeasured(run, domain, delegation, mtas)
    addresses, without = _servers(run, delegation)
    plan = Plan(delegation.zone, domain, {a: list(n) for a, n in addresses.items()}, config.samples)
    queries = plan.queries()
    tick = run.ticker(f"DNS samples ({len(addresses)} addresses)", len(queries))
    how = run.asking(tick)
    # The first round (every address, type and RD setting once) shows the MX hosts and any
    # CNAME: those are resolved and their hosts probed beside the rest of the samples.
    first = plan.first_round()
    samples = [s for s in run.run([ask(q, how) for q in queries[:first]]) if isinstance(s, Sample)]
    facts: dict[Question, DnsReply | None] = {}
    _resolve_all(run, facts, _first_round_wanted(samples, domain), domain)
    early = _start_early_probes(run, facts) if config.smtp else None
    # The model's modules are imported only now, while the first probes already run.
    from mxsim.commands.check_paths import conclude

    return conclude(run, domain, delegation, addresses, without, mtas, samples, queries[first:], how, facts, early)
