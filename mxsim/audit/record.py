"""What was measured, as a scenario (docs/scenario-format.md): the world `record` writes.

One backend per observed behaviour, its observed share as its weight, its NSID, AA by
RD, authority and TTL modes, drops; the domain's zone from the behaviour most replies
came from; every other name the MTAs asked, as it resolved on the wire, in a zone of
its own (the SOA owner when a negative answer named it, else the name's last two
labels); each probed SMTP address with what it did. `check` runs the model engine over
the same spec, one behaviour at a time, for the delivery paths.

What the format cannot say is left out and listed (`Recording.notes`): a backend that
serves other zone data than the recorded zone (the format overrides a name for every
type, not one type), a referral from a backend (written as REFUSED, which resolvers
treat alike).
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone

from mxsim.audit.behaviour import ANSWERING, Analysis, Behaviour, Content, Flavour, PathGroup
from mxsim.audit.checks import ProbeState, counts_down, mx_exchanges, probe_state
from mxsim.audit.finding import pct
from mxsim.audit.lost import Lost, group_lost
from mxsim.audit.probes import SAMPLE_TYPES, Sample, rrset_key
from mxsim.memo import IdentityMemo
from mxsim.names import text as name_text
from mxsim.rrsets import rrset_of
from mxsim.scenario.spec import (
    AaSpec,
    AuthorityMode,
    BackendSpec,
    CaseSpec,
    ExpectSpec,
    HostSpec,
    ScenarioSpec,
    ServerSpec,
    SmtpKind,
    TlsMode,
    TtlMode,
    ZoneSpec,
)
from mxsim.transport.base import ConnectResult, DnsReply, SmtpSession

UNRESOLVED_NETWORK = ipaddress.ip_network("192.0.2.0/24")  # TEST-NET-1: stands for servers that failed
MIN_DROP = 0.01
EXISTS_LABEL = "_mxsim-exists"  # a child that makes an empty name exist (NODATA, not NXDOMAIN)

Facts = Mapping[tuple[dns.name.Name, dns.rdatatype.RdataType], DnsReply | None]
Probes = Mapping[str, tuple[str, SmtpSession]]


@dataclass(slots=True)
class Recording:
    spec: ScenarioSpec
    notes: list[str] = field(default_factory=list)
    comments: dict[str, list[str]] = field(default_factory=dict)  # server name -> comment lines


@dataclass(frozen=True, slots=True)
class Measured:
    """Everything the recorder reads."""

    domain: dns.name.Name
    zone: dns.name.Name
    analysis: Analysis
    addresses: Mapping[str, list[dns.name.Name]]  # name server address -> names
    facts: Facts
    mtas: tuple[str, ...]
    lost: Mapping[tuple[dns.name.Name, dns.rdatatype.RdataType], Lost] = field(default_factory=dict)  # facts unanswered


def zone_guess(owner: dns.name.Name) -> dns.name.Name:
    """The zone a name with no other evidence is put in: its last two labels."""
    owner = owner.canonicalize()
    return owner.split(3)[1] if len(owner) >= 3 else owner


def _origins(measured: Measured) -> list[dns.name.Name]:
    origins = {measured.zone}
    for reply in measured.facts.values():
        if reply is not None:
            origins.update(r.name.canonicalize() for r in reply.authority if r.rdtype == dns.rdatatype.SOA)
    for (qname, _), reply in measured.facts.items():
        owners = [qname] + ([r.name for r in reply.answer] if reply is not None else [])
        for owner in owners:
            if not any(owner.is_subdomain(o) for o in origins):
                origins.add(zone_guess(owner))
    return sorted(origins, key=lambda o: (len(o), o))


def _closest(owner: dns.name.Name, origins: list[dns.name.Name]) -> dns.name.Name | None:
    found = [o for o in origins if owner.is_subdomain(o)]
    return max(found, key=len) if found else None


class _Zones:
    def __init__(self, origins: list[dns.name.Name]) -> None:
        self.origins = origins
        self.zones = {o: dns.zone.Zone(o, relativize=False) for o in origins}

    def put(self, rrset: dns.rrset.RRset, *, replace: bool = False) -> None:
        rrset = canonical(rrset)
        origin = _closest(rrset.name, self.origins)
        if origin is None:
            return
        zone = self.zones[origin]
        existing = zone.get_rdataset(rrset.name, rrset.rdtype)
        ttl = rrset.ttl
        if existing is not None and not replace:
            if rrset_key(rrset_of(rrset.name, existing)) != rrset_key(rrset) or ttl <= existing.ttl:
                return  # the first answer stands: a name's data is recorded once
            rrset = rrset_of(rrset.name, existing)  # the same data seen with a longer TTL
        rdataset = dns.rdataset.from_rdata_list(ttl, list(rrset))
        zone.replace_rdataset(rrset.name, rdataset)

    def exists(self, name: dns.name.Name) -> None:
        """Make `name` exist without data of its own (an empty non-terminal)."""
        origin = _closest(name, self.origins)
        if origin is None or self.zones[origin].get_node(name) is not None:
            return
        if any(n.is_subdomain(name) for n in self.zones[origin].nodes):
            return
        child = dns.name.Name((EXISTS_LABEL.encode(), *name.labels))
        self.put(dns.rrset.from_text(child, 300, "IN", "TXT", '"recorded: the name above exists, empty"'))


def canonical(rrset: dns.rrset.RRset) -> dns.rrset.RRset:
    """Names in lower case, owner and rdata: the case a reply happened to carry (name
    compression copies an earlier name's case) is noise, and DNS compares without it."""
    # `check` builds a world per behaviour group from the same replies: each RRset once.
    known = _CANONICAL.get(rrset)
    if known is not None:
        return known
    owner = rrset.name.canonicalize()
    texts = [r.to_text() for r in rrset]
    rdatas = texts if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.TXT) else [
        t.lower() for t in texts]
    if owner.labels == rrset.name.labels and rdatas == texts and rrset.covers == dns.rdatatype.NONE:
        return _CANONICAL.put(rrset, rrset)  # in lower case already: its text read back is this RRset
    made = dns.rrset.from_text_list(owner, rrset.ttl, rrset.rdclass, rrset.rdtype, rdatas)
    return _CANONICAL.put(rrset, made)


_CANONICAL: IdentityMemo[dns.rrset.RRset] = IdentityMemo(4096)


def _max_ttl(samples: list[Sample], rrset: dns.rrset.RRset) -> int:
    key = rrset_key(rrset)
    return max((r.ttl for s in samples if s.reply is not None for r, k in s.reply.keyed() if k == key),
               default=rrset.ttl)


def _apex_records(domain: dns.name.Name, behaviours: list[Behaviour]) -> list[dns.rrset.RRset]:
    """The domain's own RRsets by type, as most RD-clear replies of these behaviours said them."""
    found = []
    for qtype in SAMPLE_TYPES:
        samples = [s for b in behaviours for s in b.samples
                   if s.query.qtype == qtype and not s.query.rd and s.reply is not None
                   and s.reply.rcode == dns.rcode.NOERROR]
        if not samples:
            continue
        counts = Counter(Content.of(s.reply) for s in samples if s.reply is not None)
        best = max(counts.items(), key=lambda item: (item[1], item[0].text))[0]
        chosen = [s for s in samples if s.reply is not None and Content.of(s.reply) == best]
        reply = chosen[0].reply
        assert reply is not None
        for rrset in reply.answer:
            if rrset.name == domain and rrset.rdtype == qtype:
                copy = rrset.copy()
                copy.ttl = _max_ttl(chosen, rrset)
                found.append(copy)
    return found


def _label(behaviour: Behaviour, taken: set[str]) -> str:
    base = behaviour.nsid.split(".")[0] if behaviour.nsid else behaviour.backend
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", base).strip("-") or "backend"
    if behaviour.flavour != Flavour.ZONE and behaviour.nsid and any(
            t.split("~")[0] == base for t in taken):
        base = f"{base}~{behaviour.flavour}"
    label, n = base, 1
    while label in taken:
        n += 1
        label = f"{base}-{n}"
    taken.add(label)
    return label


def _upward_share(behaviour: Behaviour, zone: dns.name.Name) -> float:
    replies = [s.reply for s in behaviour.samples if s.reply is not None and s.reply.rcode in ANSWERING]
    if not replies:
        return 0.0
    upward = [r for r in replies if any(
        rr.rdtype == dns.rdatatype.NS and zone.is_subdomain(rr.name) and rr.name != zone for rr in r.authority)]
    return len(upward) / len(replies)


@dataclass(frozen=True, slots=True)
class _ServerFacts:
    loss: float
    tcp: bool
    edns: bool


def _server_facts(analysis: Analysis, addresses: list[str]) -> _ServerFacts:
    views = [analysis.view(a) for a in addresses if a in analysis.addresses]
    tries = sum(v.tries for v in views)
    lost = sum(v.lost for v in views)
    tcp = all(v.tcp is None or v.tcp.reply is not None or v.tcp.skipped for v in views)
    edns = all(v.edns_refused is None for v in views)
    return _ServerFacts(lost / tries if tries else 0.0, tcp, edns)


def backend_spec(
    behaviour: Behaviour, name: str, weight: float, domain: dns.name.Name, zone: dns.name.Name,
    server: _ServerFacts, *, with_drop: bool = True,
) -> BackendSpec:
    answer: tuple[tuple[dns.name.Name, tuple[dns.rrset.RRset, ...]], ...] = ()
    rcode: dns.rcode.Rcode | None = None
    if behaviour.flavour == Flavour.CNAME:
        sample = behaviour.majority(dns.rdatatype.MX) or behaviour.samples[0]
        assert sample.reply is not None
        chain = []
        for rrset in sample.reply.answer:
            copy = rrset.copy()
            copy.ttl = _max_ttl(behaviour.samples, rrset)
            chain.append(copy)
        answer = ((domain, tuple(chain)),)
    elif behaviour.flavour == Flavour.RCODE:
        rcode = dns.rcode.from_text(behaviour.detail)
    elif behaviour.flavour == Flavour.REFERRAL:
        rcode = dns.rcode.REFUSED  # a referral away is lame to a resolver, as REFUSED is
    aa_rd, aa_nord = behaviour.aa_share(True), behaviour.aa_share(False)
    return BackendSpec(
        name=name, line=0, weight=round(max(weight, 0.0001), 4), nsid=behaviour.nsid, answer=answer,
        aa=AaSpec(rd=aa_rd is None or aa_rd >= 0.5, nord=aa_nord is None or aa_nord >= 0.5),
        authority=AuthorityMode.ROOT_REFERRAL if _upward_share(behaviour, zone) >= 0.5 else AuthorityMode.NORMAL,
        ttl=TtlMode.COUNTDOWN if counts_down(behaviour) is not None else TtlMode.FIXED,
        rcode=rcode, drop=round(server.loss, 3) if with_drop and server.loss >= MIN_DROP else 0.0,
        tcp=server.tcp, edns=server.edns,
    )


def _plain(backend: BackendSpec) -> bool:
    return (not backend.answer and backend.aa == AaSpec() and backend.authority == AuthorityMode.NORMAL
            and backend.ttl == TtlMode.FIXED and backend.rcode is None and not backend.drop
            and backend.tcp and backend.edns)


def host_spec(address: str, session: SmtpSession) -> HostSpec:
    """What a probe saw, as the `hosts` entry that makes the model and the lab do the same."""
    state, _detail = probe_state(session)
    greeting = session.greeting
    if state == ProbeState.ACCEPTED and greeting is not None:
        # A handshake that failed otherwise than by a refusal is recorded as a refusal too:
        # the format knows two outcomes of STARTTLS, and senders treat both as "no TLS".
        tls = TlsMode.HANDSHAKE if session.tls_version and not session.tls_error else TlsMode.REFUSE
        return HostSpec(address, 0, SmtpKind.ACCEPT, banner=greeting.line, starttls=session.starttls_offered,
                        tls=tls)
    if greeting is not None and greeting.code >= 500:
        return HostSpec(address, 0, SmtpKind.REJECT, code=greeting.code, text=greeting.text)
    if greeting is not None and greeting.code >= 400:
        return HostSpec(address, 0, SmtpKind.TEMPFAIL, code=greeting.code, text=greeting.text)
    if session.connect == ConnectResult.CONNECTED and state == ProbeState.UNKNOWN:
        # No greeting, or no reply to EHLO, in time: a sender waits, then gives the host up.
        return HostSpec(address, 0, SmtpKind.TARPIT)
    if session.connect in (ConnectResult.REFUSED, ConnectResult.CONNECTED):
        return HostSpec(address, 0, SmtpKind.REFUSE)  # refused, or closed or broke the conversation
    return HostSpec(address, 0, SmtpKind.DROP)  # timeout or unreachable: nothing answers


def _deliver_to(measured: Measured) -> tuple[str, ...]:
    exchanges = [name_text(e) for _, e in mx_exchanges(measured.analysis) if e != dns.name.root]
    return tuple(dict.fromkeys(exchanges)) or (name_text(measured.domain),)


def hosts_for(probes: Probes | None) -> tuple[HostSpec, ...]:
    """The `hosts` of a recorded world: as probed (what no probe reached refuses), or, with
    no probes, every host accepting."""
    if probes is None:
        return (HostSpec("default", 0, SmtpKind.ACCEPT),)
    return (*(host_spec(address, session) for address, (_, session) in sorted(probes.items())),
            HostSpec("default", 0, SmtpKind.REFUSE))


def build(
    measured: Measured,
    probes: Probes | None,
    *,
    group: PathGroup | None = None,
    name: str | None = None,
) -> Recording:
    """The recorded world; with `group`, the world where only that group's behaviour answers."""
    analysis = measured.analysis
    domain, zone = measured.domain, measured.zone
    notes: list[str] = []
    comments: dict[str, list[str]] = {}
    origins = _origins(measured)
    zones = _Zones(origins)
    lost = {g.key: found for g in analysis.groups if (found := group_lost(analysis, g)) is not None}
    # The zone's data from a group that answered what paths need: a lost MX is no "no MX".
    main = max((g for g in analysis.groups if g.flavour == Flavour.ZONE and g.key not in lost),
               key=lambda g: (g.share, g.key), default=analysis.main_zone_group())
    source = group if group is not None and group.flavour == Flavour.ZONE else main
    if source is not None:
        for rrset in _apex_records(domain, source.behaviours):
            zones.put(rrset, replace=True)
        asked = {s.query.qtype for b in source.behaviours for s in b.samples}
        unanswered = [dns.rdatatype.to_text(t) for t in SAMPLE_TYPES if t not in asked]
        if unanswered and group is None:
            notes.append(f"{name_text(domain)} {', '.join(unanswered)}: no usable reply, so unknown; "
                         "left out of the recorded zone, where a replay reads it as absent")
    failed: dict[dns.name.Name, dns.rcode.Rcode | None] = {}
    for (qname, qtype), reply in sorted(measured.facts.items(), key=lambda item: (item[0][0], item[0][1])):
        if qname == domain:
            continue  # the domain itself comes from the samples
        if reply is None or reply.rcode() not in ANSWERING:
            failed[qname] = reply.rcode() if reply is not None else None
            continue
        for rrset in reply.answer:
            if rrset.name != domain:
                zones.put(rrset)
        for rrset in reply.authority:
            if rrset.rdtype == dns.rdatatype.SOA:
                zones.put(rrset)
        if reply.rcode() == dns.rcode.NOERROR:
            # NODATA: the name (or the chain's last target) exists, even with no data recorded.
            if not reply.answer:
                zones.exists(qname)
            elif reply.answer[-1].rdtype == dns.rdatatype.CNAME and qtype != dns.rdatatype.CNAME:
                zones.exists(reply.answer[-1][0].target)
    servers: list[ServerSpec] = []
    names: dict[dns.name.Name, list[str]] = {}
    for address, ns_names in measured.addresses.items():
        for ns in ns_names:
            names.setdefault(ns, []).append(address)
    for ns in sorted(names):
        for address in names[ns]:
            rdtype = "AAAA" if ":" in address else "A"
            if ns.is_subdomain(zone) or _closest(ns, origins) is not None:
                zones.put(dns.rrset.from_text(ns, 3600, "IN", rdtype, address))
    for ns, addresses in sorted(names.items()):
        server, lines = _server(measured, ns, sorted(addresses), group, notes, lost)
        if server is not None:
            servers.append(server)
            comments[name_text(ns)] = lines
    servers += _failing_servers(failed, origins, zones, notes, {a for a in measured.addresses})
    for why in sorted({f.why for f in lost.values()}) if group is None else ():
        notes.append(f"{why}: the backends behind that are recorded as failing every query "
                     "(the format cannot fail one type alone), as senders then defer")
    for origin in origins:
        # A zone with no server of its own gets `ns1.<zone>` made up; never one of the recorded servers.
        default = dns.name.from_text("ns1", origin)
        if origin != zone and default in names and zones.zones[origin].get_rdataset(origin, dns.rdatatype.NS) is None:
            zones.put(dns.rrset.from_text(origin, 3600, "IN", "NS", f"ns-recorded.{origin}"))
    zone_specs = tuple(ZoneSpec(o, zones.zones[o], 0) for o in origins)
    cases = () if group is not None else _cases(analysis, servers, set(lost))
    spec = ScenarioSpec(
        name=name or f"{name_text(domain)}-recorded",
        source="<recorded>",
        description=_description(measured),
        recipient=f"postmaster@{name_text(domain)}",
        expect=ExpectSpec(deliver_to=_deliver_to(measured), min_success=0.99),
        zones=zone_specs,
        servers=tuple(servers),
        hosts=hosts_for(probes),
        mta=measured.mtas,
        cases=cases,
    )
    return Recording(spec, notes, comments)


def failing(backend: BackendSpec, lost: Lost) -> BackendSpec:
    """A backend whose answer to a question a path needs was lost: failing every query, as
    that question did (SERVFAIL when replies came and none was usable, else silence).
    A sender's lookup then fails (TRY_AGAIN) and it defers, as it would on the wire."""
    if lost.lame:
        return replace(backend, answer=(), rcode=dns.rcode.SERVFAIL, drop=0.0)
    return replace(backend, answer=(), rcode=None, drop=1.0)


def _server(
    measured: Measured, ns: dns.name.Name, addresses: list[str], group: PathGroup | None, notes: list[str],
    lost: Mapping[str, Lost],
) -> tuple[ServerSpec | None, list[str]]:
    analysis = measured.analysis
    counts: Counter[tuple[str, str, str]] = Counter()
    for address in addresses:
        if address in analysis.addresses:
            counts.update(analysis.view(address).by_behaviour)
    facts = _server_facts(analysis, addresses)
    if group is not None:
        member = group.behaviours[0]
        backend = backend_spec(member, "observed", 1.0, measured.domain, measured.zone, facts, with_drop=False)
        if group.key in lost:
            backend = failing(backend, lost[group.key])
        return ServerSpec(ns, 0, tuple(addresses), (measured.zone,), (backend,)), []
    total = sum(counts.values())
    if not total:
        notes.append(f"{name_text(ns)} answered no query: recorded as a server that drops every query")
        silent = BackendSpec("silent", 0, drop=1.0)
        return ServerSpec(ns, 0, tuple(addresses), (measured.zone,), (silent,)), [
            "answered none of the queries sent to it"]
    taken: set[str] = set()
    backends = []
    lines = []
    lost_by_behaviour = {b.key: lost[g.key] for g in analysis.groups if g.key in lost for b in g.behaviours}
    for key, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        behaviour = analysis.behaviour(key)
        label = _label(behaviour, taken)
        backend = backend_spec(behaviour, label, count / total, measured.domain, measured.zone, facts)
        backends.append(failing(backend, lost_by_behaviour[key]) if key in lost_by_behaviour else backend)
        lines.append(f"{label}: {pct(count / total)} of {total} replies, {behaviour.describe()}"
                     + (f" (NSID {behaviour.nsid})" if behaviour.nsid else " (no NSID: a fingerprint)"))
        if behaviour.flavour == Flavour.REFERRAL:
            notes.append(f"backend {label} on {name_text(ns)} refers to {behaviour.detail}: recorded as REFUSED")
        main = analysis.main_zone_group()
        if behaviour.flavour == Flavour.ZONE and main is not None and behaviour not in main.behaviours:
            notes.append(f"backend {label} on {name_text(ns)} serves other zone data than the recorded zone; "
                         "the format cannot say so per type, so it is recorded as serving the recorded zone")
    if len(backends) == 1 and _plain(backends[0]):
        return ServerSpec(ns, 0, tuple(addresses), (measured.zone,), nsid=backends[0].nsid), lines
    return ServerSpec(ns, 0, tuple(addresses), (measured.zone,), tuple(backends)), lines


def _failing_servers(
    failed: dict[dns.name.Name, dns.rcode.Rcode | None], origins: list[dns.name.Name], zones: _Zones,
    notes: list[str], used: set[str],
) -> list[ServerSpec]:
    """A name that did not resolve: its zone gets a server that fails the same way."""
    servers = []
    pool = (str(a) for a in UNRESOLVED_NETWORK.hosts() if str(a) not in used)
    done: set[dns.name.Name] = set()
    for name, rcode in sorted(failed.items()):
        origin = _closest(name, origins) or zone_guess(name)
        how = dns.rcode.to_text(rcode) if rcode else "timeout"
        if origin in zones.zones and len(zones.zones[origin].nodes) > 0:
            # Other names of its zone resolved: the name alone fails, as a zone of its own
            # (a lost answer is no "no such name"). Records it did get are kept instead.
            if name == origin or _holds_data(zones.zones[origin], name):
                notes.append(f"{name_text(name)} did not resolve for every type ({how}): "
                             "the records it did get are kept, the rest recorded as missing")
                continue
            origin = name
        if origin in done:
            continue
        done.add(origin)
        if origin not in zones.zones:
            zones.origins.append(origin)
            zones.zones[origin] = dns.zone.Zone(origin, relativize=False)
        server = dns.name.from_text("unresolved", origin)
        backend = BackendSpec("failing", 0, rcode=rcode) if rcode is not None else BackendSpec("silent", 0, drop=1.0)
        servers.append(ServerSpec(server, 0, (next(pool),), (origin,), (backend,)))
        notes.append(f"{name_text(name)} did not resolve ({how}): "
                     f"zone {name_text(origin)} is recorded with a server that fails alike")
    zones.origins.sort(key=lambda o: (len(o), o))
    return servers


def _holds_data(zone: dns.zone.Zone, name: dns.name.Name) -> bool:
    """Whether the name, or a name below it, holds records in the zone (the existence marker aside)."""
    marker = EXISTS_LABEL.encode()
    return any(owner.is_subdomain(name) and owner.labels[0] != marker for owner in zone.nodes)


def _cases(analysis: Analysis, servers: list[ServerSpec], lost: set[str]) -> tuple[CaseSpec, ...]:
    """A case per path group: each server pinned to its backend of that group."""
    cases = []
    for group in analysis.groups:
        nsids = {b.nsid for b in group.behaviours}
        pins = []
        for server in servers:
            chosen = next((b.name for b in server.backends if b.nsid in nsids
                           and _same_flavour(b, group, group.key in lost)), None)
            if chosen is not None:
                pins.append((server.name, chosen))
        if pins and len(pins) == len([s for s in servers if s.backends]):
            text = f"{', '.join(group.backends())}: {group.behaviours[0].describe()} ({pct(group.share)})"
            cases.append(CaseSpec(group.key, 0, tuple(pins), text))
    return tuple(cases)


def _same_flavour(backend: BackendSpec, group: PathGroup, lost: bool) -> bool:
    if lost:  # recorded as failing: no answer of its own left to tell it by
        return not backend.answer and (backend.rcode == dns.rcode.SERVFAIL or backend.drop == 1.0)
    return bool(backend.answer) == (group.flavour == Flavour.CNAME) and backend.rcode is None


def _description(measured: Measured) -> str:
    analysis = measured.analysis
    lines = [f"Recorded by `mxsim record {name_text(measured.domain)}`: what its name servers answered and"
             " what its mail hosts did, as seen from one vantage point."]
    for group in analysis.groups:
        lines.append(f"- {pct(group.share)} of replies: {', '.join(group.backends())} "
                     f"{group.behaviours[0].describe()}.")
    return "\n".join(lines)
