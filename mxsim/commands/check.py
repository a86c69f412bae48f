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
that the model's modules load while the probes wait rather than before they start. What
both sides share (the settings, the run over the wire, the result) is `check_run`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import dns.exception
import dns.name
import dns.rdatatype
import dns.zonefile

from mxsim.audit.probes import Delegation, Plan, Query, Sample, ask, find_delegation
from mxsim.audit.sampling import detection_rounds
from mxsim.commands.check_run import (
    HOST_TYPES,
    CheckConfig,
    CheckResult,
    CheckRun,
    Hints,
    HostProbe,
    Progress,
    Question,
    Sampled,
    SharedWire,
    resolve_all,
    shared_wire,
    start_early_probes,
)
from mxsim.errors import UsageError, shown
from mxsim.mta import PROFILE_NAMES, check_profile_name
from mxsim.transport.base import DnsReply, Step

__all__ = ["CheckConfig", "CheckResult", "HostProbe", "Progress", "check_domain", "default_root_hints",
           "parse_root_hints", "run_check"]

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
# named.root has under 100 lines. dnspython merges the records of one set one by one, each
# compared with those before it: 20,000 root NS records took 12 minutes to read.
MAX_ROOT_HINT_LINES = 1000
_LABEL = re.compile(rb"^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?$")


def parse_root_hints(text: str, source: str = "root hints") -> Hints:
    """named.root text -> (server name, address) for each A/AAAA of a root NS name."""
    if text.count("\n") > MAX_ROOT_HINT_LINES:
        raise UsageError(f"{source}: more than {MAX_ROOT_HINT_LINES} lines, not a root hints file")
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


def domain_name(text: str) -> dns.name.Name:
    try:
        name = dns.name.from_text(text.strip().rstrip(".") + ".")
    except dns.exception.DNSException as error:
        raise UsageError(f"'{shown(text)}' is not a domain name: {error}") from None
    # A mail domain is a host name (RFC 5321 §2.3.5): letters, digits and hyphens in each label
    # (internationalised names arrive here as their xn-- form).
    if len(name) < 2 or not all(_LABEL.match(label) for label in name.labels[:-1]):
        raise UsageError(f"{text!r} is not a domain name to check")
    return name


async def _servers(run: CheckRun, delegation: Delegation) -> tuple[dict[str, list[dns.name.Name]], list[dns.name.Name]]:
    """Every address of every server name: parent's set with glue, then the zone's own set."""
    addresses: dict[str, set[dns.name.Name]] = {}
    for name, address in delegation.glue:
        addresses.setdefault(address, set()).add(name)
    known = set(delegation.parent_ns)
    without: list[dns.name.Name] = []

    async def add(names: Iterable[dns.name.Name]) -> None:
        todo = sorted(set(names))
        steps: list[Step[object]] = [run.addresses_of(name) for name in todo]
        for name, found in zip(todo, await run.gather(steps), strict=True):
            assert isinstance(found, list)
            for address in found:
                addresses.setdefault(address, set()).add(name)
            lost = any((name, t) in run.lost for t in (dns.rdatatype.A, dns.rdatatype.AAAA))
            if not found and not lost and not any(name in names for names in addresses.values()):
                without.append(name)  # answered, without an address (a lookup that failed is unknown)

    await add(known)  # glue too: the parent's glue may hold only some of a server's addresses
    # The zone's own NS set, from each address once (RD clear): names the parent did not give.
    how = run.asking()
    steps: list[Step[object]] = [
        ask(Query(address, delegation.zone, dns.rdatatype.NS, rd=False), how)
        for address in sorted(addresses)
    ]
    child: set[dns.name.Name] = set()
    for sample in await run.gather(steps):
        assert isinstance(sample, Sample)
        if sample.reply is not None and sample.reply.aa:
            child |= {r.target for rrset in sample.reply.answer if rrset.rdtype == dns.rdatatype.NS
                      and rrset.name == delegation.zone for r in rrset}
    await add(child - known)
    return {a: sorted(n) for a, n in sorted(addresses.items())}, sorted(set(without))


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


async def _delegation(run: CheckRun, domain: dns.name.Name) -> Delegation:
    """The walk from the root to the domain's parent; while another domain walks to the same
    parent (a TLD), this one waits and starts from the referral it learned."""
    referrals = run.wire.referrals

    async def walk() -> Delegation:
        step = find_delegation(domain, list(run.config.root_hints), run.asking(), run.addresses_of, referrals)
        (found,) = await run.gather([step])
        assert isinstance(found, Delegation)
        return found

    return await run.wire.walks.run(domain.parent(), lambda: referrals.closest(domain, run.clock.now()) is not None,
                                    walk)


def run_check(config: CheckConfig, progress: Progress | None = None, shared: SharedWire | None = None) -> CheckResult:
    """Check one domain; checks given the same `shared` wire share its pacing and cache."""
    wire = shared or shared_wire(config)
    return wire.transport.run_all([lambda: check_domain(config, progress, wire, many=shared is not None)],
                                  wire.finish)[0]


async def check_domain(config: CheckConfig, progress: Progress | None, shared: SharedWire, *,
                       many: bool = True) -> CheckResult:
    """Check one domain in the running event loop, beside any others checked over the same wire
    (`many`: one of many domains, whose mail hosts were mostly probed for the others)."""
    domain = domain_name(config.domain)
    if not 1 <= config.samples <= MAX_SAMPLES:
        raise UsageError(f"--samples {config.samples}: expected 1 to {MAX_SAMPLES}")
    if config.smtp_timeout <= 0 or config.dns_timeout <= 0:
        raise UsageError("timeouts must be positive")
    mtas = tuple(m.lower() for m in config.mtas) or PROFILE_NAMES
    for name in mtas:
        check_profile_name(name)
    run = CheckRun(config, progress, shared)
    delegation = await _delegation(run, domain)
    if delegation.unknown is not None or delegation.nxdomain:
        from mxsim.commands.check_paths import unmeasured

        return unmeasured(run, domain, delegation, mtas)
    addresses, without = await _servers(run, delegation)
    plan = Plan(delegation.zone, domain, {a: list(n) for a, n in addresses.items()}, config.samples)
    queries = plan.queries()
    tick = run.ticker(f"DNS samples ({len(addresses)} addresses)", len(queries))
    how = run.asking(tick)
    # The first round (every address, type and RD setting once) shows the MX hosts and any
    # CNAME: those are resolved and their hosts probed beside the rest of the samples.
    first = plan.first_round()
    detect, rounds = None, config.samples
    if config.auto is not None:
        # `--samples auto`: the rounds that find a backend of share --min-share at the --miss rate.
        rounds = min(detection_rounds(*config.auto, len(addresses)), config.samples)
        detect = plan.through_round(rounds) - first
        if many:
            # Over many domains most mail hosts were probed for earlier ones: the detection
            # rounds go out with the first, one wait instead of two, and new hosts are probed after.
            first, detect = first + detect, 0
    samples = [s for s in await run.gather([ask(q, how) for q in queries[:first]]) if isinstance(s, Sample)]
    facts: dict[Question, DnsReply | None] = {}
    await resolve_all(run, facts, _first_round_wanted(samples, domain), domain)
    if config.smtp:
        start_early_probes(run, facts)
    # The model's modules are imported only now, while the first probes already run.
    from mxsim.commands.check_paths import conclude

    return await conclude(run, Sampled(domain, delegation, addresses, without, mtas, samples, queries[first:], detect,
                                       rounds, how, facts))
