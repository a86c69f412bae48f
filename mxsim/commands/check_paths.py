"""What `mxsim check` concludes from its measurements, in the model: the delivery paths of
each behaviour group under every profile, the probes they call for, the findings and the
summary (steps 3 to 5 of `commands.check`).

Imported by `run_check` only once the first probes run: the model's modules (profiles,
world, scenario) then load while the probes wait, rather than before they start.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import dns.name
import dns.rdatatype

from mxsim.audit.behaviour import Analysis, Flavour, PathGroup, analyse
from mxsim.audit.checks import (
    ProbeState,
    dns_findings,
    mx_exchanges,
    mx_findings,
    ordered,
    path_findings,
    probe_state,
    smtp_findings,
    sts_findings,
)
from mxsim.audit.finding import pct
from mxsim.audit.lost import Lost, group_lost, nothing_usable, path_unknown
from mxsim.audit.probes import Delegation, Query, Sample, ask
from mxsim.audit.record import Measured, Probes, build, hosts_for
from mxsim.audit.sampling import PER_ROUND, Agreement, agreement
from mxsim.audit.sts_history import sts_history_findings
from mxsim.audit.summary import summary_line
from mxsim.clock import VirtualClock
from mxsim.commands.check_run import (
    HOST_TYPES,
    MAX_PROBES,
    MAX_ROUNDS,
    PATH_TYPES,
    CheckResult,
    CheckRun,
    HostProbe,
    Question,
    Sampled,
    host,
    owners,
    probed,
    probes_of,
    resolve_all,
)
from mxsim.commands.check_sts import sts_facts
from mxsim.engine import emulated_ask, resolver_for, send
from mxsim.mta.profiles import make_profile
from mxsim.mta.results import Delivery
from mxsim.names import text as name_text
from mxsim.scenario.spec import HostSpec
from mxsim.transport.base import ConnectResult, DnsReply, SmtpSession
from mxsim.transport.model import ModelTransport
from mxsim.world import World


@dataclass(frozen=True, slots=True)
class PathResult:
    group: PathGroup
    deliveries: tuple[Delivery, ...]
    unknown: Lost | None = None  # the answer never obtained that the path rests on: its verdict is unknown

def _questions(deliveries: Iterable[Delivery]) -> set[tuple[dns.name.Name, dns.rdatatype.RdataType]]:
    """Every (name, type) the MTAs asked, and every one their resolvers asked upstream."""
    found = set()
    for delivery in deliveries:
        for answer in delivery.dns:
            found.add((answer.qname, answer.qtype))
            for resolved in answer.resolved:
                found |= {(u.qname, u.qtype) for u in resolved.upstream}
    return found


def _paths(
    run: CheckRun, measured: Measured, probes: Probes | None,
) -> list[PathResult]:
    """Each behaviour group's world in the model, under every profile (as `trace` runs one)."""
    recipient = f"postmaster@{name_text(measured.domain)}"
    results = []
    dropped = run.dropped(measured.addresses)
    for group in measured.analysis.groups:
        made = run.worlds.get(group.key)
        if made is not None and made[0] is measured:
            # The same answers, now with what the probes saw: only the hosts are new.
            world = made[1].with_hosts(hosts_for(probes))
        else:
            spec = build(measured, probes, group=group, name=f"{name_text(measured.domain)}-{group.key}").spec
            # Answers depend only on the query, the clock and the rng: one world serves all MTAs. The
            # spec is made for it alone, so its zones are completed in place, not copied.
            world = World(spec, copy_zones=False)
            run.worlds[group.key] = (measured, world)
        spec = world.spec
        lost = group_lost(measured.analysis, group, dropped)
        if lost is not None and lost.parting:
            # The MTAs part ways on the lost answer: no one modelled deferral stands for them.
            results.append(PathResult(group, (), lost))
            continue
        # One recursive resolver for the group's MTAs, as senders sharing a site resolver: in a
        # world of one backend per server its cache changes no answer, only what is asked upstream.
        clock = VirtualClock()
        ask = emulated_ask(resolver_for(world, clock, random.Random(f"{run.config.seed}:resolver")))
        deliveries = []
        for mta in measured.mtas:
            profile = make_profile(mta)
            rng = random.Random(f"{run.config.seed}:{mta}")
            model = ModelTransport(world, clock, rng)
            deliveries.append(model.run(send(profile, ask, rng, recipient, clock.now)))
        # The world made the lost answer fail as it did on the wire, so the MTAs deferred as they
        # would: still, where mail goes is unknown, not that deferral.
        unknown = lost or path_unknown(deliveries, measured.lost)
        results.append(PathResult(group, tuple(deliveries), unknown))
    return results

def _probed_hosts(run: CheckRun, facts: dict[Question, DnsReply | None]) -> Probes | None:
    """The probes this run already made of the hosts these facts name (None: no probes, or no SMTP)."""
    if not run.config.smtp:
        return None
    known = probed(run, owners(facts))
    return {a: ("", session) for a, session in known.items()} or None


async def _discover(run: CheckRun, measured: Measured) -> tuple[Measured, list[PathResult], Probes | None]:
    """Resolve on the wire what the model's MTAs ask about, until they ask nothing new.

    The domain's own name comes from the samples and its servers' addresses are known:
    neither is asked again (the model's resolver looks servers up when it has no glue).
    Hosts this run probed already (for other domains) are modelled as they answered, so
    when the probes add nothing new the last paths are the final ones; the probes used
    are returned with them.
    """
    facts: dict[Question, DnsReply | None] = dict(measured.facts)
    servers = {name for names in measured.addresses.values() for name in names}
    wanted = {(e, t) for _, e in mx_exchanges(measured.analysis) if e != dns.name.root
              for t in (dns.rdatatype.A, dns.rdatatype.AAAA)}
    for group in measured.analysis.groups:  # where a CNAME answer sends the MTAs: asked right away
        if group.flavour == Flavour.CNAME:
            for behaviour in group.behaviours:
                wanted |= {(dns.name.from_text(behaviour.detail), t) for t in HOST_TYPES}
    # A sender applying MTA-STS asks the domain's `_mta-sts` TXT record (RFC 8461 §3.1), and the
    # check looks at it too: known before the paths run, it spares them a second run to learn it.
    sts = (dns.name.Name((b"_mta-sts", *measured.domain.labels)), dns.rdatatype.TXT)
    if sts not in facts:
        (reply,) = await run.gather([run.prefetch(*sts)])
        if isinstance(reply, DnsReply):
            facts[sts] = reply
    paths: list[PathResult] = []
    used: Probes | None = None
    for _round in range(MAX_ROUNDS):
        new = [q for q in wanted if q not in facts and q[0] != measured.domain and q[1] in PATH_TYPES
               and q[0] not in servers]
        if not new and paths:
            break
        await resolve_all(run, facts, new, measured.domain)
        measured = Measured(measured.domain, measured.zone, measured.analysis, measured.addresses, facts,
                            measured.mtas, measured.lost)
        used = _probed_hosts(run, facts)
        paths = _paths(run, measured, used)
        wanted = _questions(d for p in paths for d in p.deliveries)
    return measured, paths, used

def _probe_targets(measured: Measured, paths: list[PathResult]) -> dict[str, set[str]]:
    """Every address on any path, and every address of every MX host (profiles cap what they try)."""
    named = owners(measured.facts)
    hosts: dict[str, set[str]] = {}
    for path in paths:
        for delivery in path.deliveries:
            for target in delivery.route.targets:
                hosts.setdefault(target.address, set()).update(named.get(target.address, {target.mx.lower()}))
    for _, exchange in mx_exchanges(measured.analysis):
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            reply = measured.facts.get((exchange, rdtype))
            for rrset in reply.answer if reply is not None else ():
                if rrset.rdtype == rdtype:
                    for rdata in rrset:
                        hosts.setdefault(str(rdata.address), set()).add(name_text(rrset.name))
    return hosts

async def _probed(run: CheckRun, hosts: dict[str, set[str]]) -> dict[str, SmtpSession]:
    """The probes of `_probe_targets`: those running (for this domain or another) waited for,
    the rest made now."""
    return await probes_of(run, sorted(hosts)[:MAX_PROBES])


def _probe(hosts: dict[str, set[str]], sessions: dict[str, SmtpSession]) -> dict[str, tuple[str, SmtpSession]]:
    """Each probed address with the host names that lead to it."""
    return {a: (", ".join(sorted(hosts[a])), sessions[a]) for a in sorted(hosts)[:MAX_PROBES]}


@dataclass(frozen=True, slots=True)
class _Guess:
    hosts: tuple[HostSpec, ...]
    paths: list[PathResult]


def _guess(run: CheckRun, measured: Measured, hosts: dict[str, set[str]]) -> _Guess | None:
    """The final paths, made while the last probes still run, on the guess that their connects time out.

    When everything else is done, a probe still running is nearly always a connect to a host
    that drops SYNs: a reachable host answers in a round trip, a dropping one only ends at
    the timeout. The paths are made in that wait; if the guess was right they are ready when
    the probes end, if not they are made again. Sound because the paths see the probes only
    through `hosts_for`: the same hosts give the same world, hence the same paths.
    """
    addresses = sorted(hosts)[:MAX_PROBES]
    settled = probed(run, addresses)
    if not run.wire.probes.covers(host(run, a) for a in addresses) or set(addresses) <= set(settled):
        return None  # probes still to start, or none left to wait for: nothing to guess
    timed_out = SmtpSession(ConnectResult.TIMEOUT, run.config.smtp_timeout)
    guessed = {a: (", ".join(sorted(hosts[a])), settled.get(a, timed_out)) for a in addresses}
    return _Guess(hosts_for(guessed), _paths(run, measured, guessed))

def _unmeasured(domain: dns.name.Name, paths: Sequence[PathResult], nothing: str) -> list[str]:
    """Where mail goes, for which share of lookups, could not be measured, and why."""
    if not paths:
        return [f"mail to {name_text(domain)}: no name server gave a usable answer: {nothing}"]
    every = all(p.unknown is not None for p in paths)  # as the summary says it: no lookup was measured
    return [f"mail to {name_text(domain)} for {'every lookup' if every else f'{pct(p.group.share)} of lookups'} "
            f"({p.group.key}) is unknown: {p.unknown.why}" for p in paths if p.unknown is not None]


def _unknowns(analysis: Analysis, probes: dict[str, tuple[str, SmtpSession]], smtp: bool,
              lost: Iterable[Lost] = ()) -> list[str]:
    # Names resolved for the check (name servers, MX hosts, CNAME targets) that got no answer.
    found = [item.why for item in sorted(lost, key=lambda item: (item.qname, item.qtype))]
    for address, view in sorted(analysis.addresses.items()):
        if view.skipped and not view.tries:
            found.append(f"{view.server_text} [{address}] was not asked: the query budget (--budget) was spent")
        elif view.tries and not view.answered:
            found.append(f"{view.server_text} [{address}] answered nothing")
        elif view.unknown:
            found.append(f"{view.server_text} [{address}]: {view.unknown} samples unknown (no reply after retries)")
    if smtp and probes and all(probe_state(s)[0] == ProbeState.UNKNOWN and s.greeting is None  # none greeted
                               for _, s in probes.values()):
        found.append("no mail host answered on port 25: it may be blocked at this vantage point")
    return found


def unmeasured(run: CheckRun, domain: dns.name.Name, delegation: Delegation, mtas: tuple[str, ...]) -> CheckResult:
    """The result when there is no zone to sample: the domain does not exist, or no parent answered."""
    config = run.config
    findings = ordered(dns_findings(domain, delegation, analyse(domain, delegation, {}, []), ()))
    if delegation.nxdomain:
        summary = f"mail to {name_text(domain)} bounces: the domain does not exist (NXDOMAIN)"
    else:
        summary = f"could not measure {name_text(domain)}: {delegation.unknown}"
    unknown = () if delegation.nxdomain else (str(delegation.unknown),)
    return CheckResult(name_text(domain), name_text(delegation.zone), config.seed, config.samples, mtas,
                       config.fail_on, delegation, addresses={}, ns_without_address=(), analysis=None,
                       paths=(), probes=(), findings=findings, summary=summary, unknown=unknown,
                       recording=None, queries=run.sent, smtp_probed=False, unmeasured=unknown)


async def _take(run: CheckRun, queries: Sequence[Query], sampled: Sampled) -> list[Sample]:
    return [s for s in await run.gather([ask(q, sampled.how) for q in queries]) if isinstance(s, Sample)]


async def _detect(run: CheckRun, sampled: Sampled) -> tuple[list[Sample], Sequence[Query], int]:
    """`--samples auto`: the detection rounds, then (samples, what is left to take, rounds).

    Nothing is left when every reply agrees; everything (the full count) when something
    differs; while all agrees but a backend has not yet been compared on every type, one
    more round at a time.
    """
    assert sampled.detect is not None
    samples, rest, rounds = sampled.samples, sampled.rest, sampled.detect_rounds
    per_round = len(sampled.addresses) * PER_ROUND  # the plan asks round robin: a round is this many queries
    samples += await _take(run, rest[:sampled.detect], sampled)
    rest = rest[sampled.detect:]
    while rest:
        found = agreement(samples)
        if found == Agreement.AGREE:
            return samples, [], rounds
        if found == Agreement.DIFFERS:
            break
        samples += await _take(run, rest[:per_round], sampled)
        rest, rounds = rest[per_round:], rounds + 1
    return samples, rest, run.config.samples


async def conclude(run: CheckRun, sampled: Sampled) -> CheckResult:
    """The rest of the samples, then the analysis, the paths, the probes' results and the findings."""
    config = run.config
    domain, delegation, addresses, without = sampled.domain, sampled.delegation, sampled.addresses, sampled.without
    mtas, samples = sampled.mtas, sampled.samples
    rest, rounds = sampled.rest, config.samples
    if sampled.detect is not None:
        samples, rest, rounds = await _detect(run, sampled)
    samples += await _take(run, rest, sampled)
    analysis = analyse(domain, delegation, {a: list(n) for a, n in addresses.items()}, samples)
    found = dns_findings(domain, delegation, analysis, without)
    measured = Measured(domain, delegation.zone, analysis, addresses, sampled.facts, mtas, run.lost)
    measured, paths, used = await _discover(run, measured)
    probes: dict[str, tuple[str, SmtpSession]] = {}
    if config.smtp and paths:
        hosts = _probe_targets(measured, paths)
        guess = _guess(run, measured, hosts)
        probes = _probe(hosts, await _probed(run, hosts))
        if used is not None and hosts_for(used) == hosts_for(probes):
            pass  # every host on the paths was probed before, for another domain: they are final
        elif guess is not None and guess.hosts == hosts_for(probes):
            paths = guess.paths
        else:
            paths = _paths(run, measured, probes)
    found += mx_findings(analysis, measured.facts)
    found += smtp_findings(probes)
    mx_hosts = {name_text(e) for _, e in mx_exchanges(analysis)}
    found += sts_findings(name_text(domain), await sts_facts(run, domain), mx_hosts)
    if config.history is not None:
        found += sts_history_findings(config.history, domain)
    named = owners(measured.facts)
    if config.smtp:
        for path in paths:
            if path.unknown is None:  # an unknown path's deferral is no finding about the domain
                found += path_findings(domain, path.group, path.deliveries, mx_hosts, named)
    findings = ordered(found)
    recording = build(measured, probes if config.smtp else None) if config.record else None
    probe_rows = tuple(
        HostProbe(address, host, *probe_state(session), session) for address, (host, session) in sorted(probes.items())
    )
    nothing = nothing_usable(analysis, run.dropped(addresses), run.lost.values())
    summary = summary_line(name_text(domain), [(p.group, p.deliveries, p.unknown.why if p.unknown else None)
                                               for p in paths], analysis, config.smtp, findings, named, nothing)
    unmeasured = tuple(_unmeasured(domain, paths, nothing))
    return CheckResult(
        name_text(domain), name_text(delegation.zone), config.seed, rounds, mtas, config.fail_on, delegation,
        addresses=addresses, ns_without_address=tuple(without), analysis=analysis, paths=tuple(paths),
        probes=probe_rows, findings=findings, summary=summary,
        unknown=(*unmeasured, *_unknowns(analysis, probes, config.smtp,
                                           set(run.lost.values()) - {p.unknown for p in paths})),
        recording=recording,
        queries=run.sent, smtp_probed=config.smtp, unmeasured=unmeasured,
    )

