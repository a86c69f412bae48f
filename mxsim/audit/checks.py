"""The checks: measurements in, findings out. Pure functions, no I/O.

`dns_findings` reads the delegation and the grouped samples; `mail_findings` reads the
resolved facts about the MX hosts, the SMTP probes and the modelled delivery paths.
Every finding names the server address and the backend it rests on, with the share of
replies that showed it. Samples that got no reply are unknown: they never count as an
answer without records.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from mxsim.audit.behaviour import (
    ANSWERING,
    Analysis,
    Behaviour,
    Content,
    Flavour,
    PathGroup,
    rrset_text,
)
from mxsim.audit.finding import Evidence, Finding, finding, pct
from mxsim.audit.probes import SAMPLE_TYPES, Delegation, Query, RRsetKey, Sample, rd_text
from mxsim.mta.results import Delivery, Outcome
from mxsim.names import ip_literal
from mxsim.names import text as name_text
from mxsim.scenario.mta_sts import StsMode, StsPolicy
from mxsim.transport.base import ConnectResult, DnsReply, FetchStatus, ProbeStep, SmtpSession, Stop
from mxsim.units import format_duration

LOSS_THRESHOLD = 0.05  # below this, a lost UDP packet now and then is the network, not the server
MIN_LOST = 2
MX = dns.rdatatype.MX
TXT = dns.rdatatype.TXT
SOA = dns.rdatatype.SOA
NS = dns.rdatatype.NS


def _types(qtypes: Iterable[dns.rdatatype.RdataType]) -> str:
    found = sorted(set(qtypes), key=SAMPLE_TYPES.index)
    if set(found) >= set(SAMPLE_TYPES):
        return "any type"
    return ", ".join(dns.rdatatype.to_text(t) for t in found)


class _Where:
    """Server names per address, for evidence and arguments."""

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis

    def ns(self, address: str) -> str:
        return self.analysis.view(address).server_text

    def evidence(self, sample: Sample, backend: str, share: float | None, detail: str = "") -> Evidence:
        return Evidence(sample.query.address, self.ns(sample.query.address), backend, sample.query.text(),
                        share, detail)


# ---- DNS ----------------------------------------------------------------------------------


def dns_findings(domain: dns.name.Name, delegation: Delegation, analysis: Analysis,
                 ns_without_address: Iterable[dns.name.Name]) -> list[Finding]:
    where = _Where(analysis)
    found: list[Finding] = []
    found += _delegation(domain, delegation, analysis, ns_without_address)
    found += _servers(domain, analysis, where)
    for behaviour in analysis.behaviours:
        found += _authority(domain, analysis, behaviour, where)
        found += _ttl_countdown(behaviour, where)
        found += _apex(domain, analysis, behaviour, where)
    found += _ttl_skew(analysis)
    found += _consistency(domain, analysis, where)
    found += _spf(domain, analysis, where)
    return found


def _delegation(domain: dns.name.Name, delegation: Delegation, analysis: Analysis,
                ns_without_address: Iterable[dns.name.Name]) -> list[Finding]:
    found = []
    if delegation.nxdomain:
        parent = delegation.parent or dns.name.root
        return [finding("DEL01_NXDOMAIN", domain=name_text(domain), parent=name_text(parent))]
    if delegation.zone != domain:
        found.append(finding("DEL02_NOT_A_ZONE", domain=name_text(domain), zone=name_text(delegation.zone)))
    child = analysis.child_ns()
    if delegation.parent is not None and delegation.parent_ns and child and set(child) != set(delegation.parent_ns):
        found.append(finding(
            "DEL03_PARENT_CHILD_NS", domain=name_text(delegation.zone), parent=name_text(delegation.parent),
            parent_ns=", ".join(name_text(n) for n in delegation.parent_ns),
            child_ns=", ".join(name_text(n) for n in child),
        ))
    for name in sorted(set(ns_without_address)):
        found.append(finding("DEL04_NS_NO_ADDRESS", ns=name_text(name), domain=name_text(delegation.zone)))
    return found


def _servers(domain: dns.name.Name, analysis: Analysis, where: _Where) -> list[Finding]:
    found = []
    for address, view in sorted(analysis.addresses.items()):
        if view.tries and not view.answered:
            failures = ", ".join(f"{kind} {count}" for kind, count in sorted(view.failures.items()))
            found.append(finding(
                "NS01_SILENT", [Evidence(address, view.server_text, "", "every query", None, failures)],
                ns=view.server_text, ns_ip=address, queries=view.tries, domain=name_text(domain),
            ))
            continue
        if view.lost >= MIN_LOST and view.loss >= LOSS_THRESHOLD:
            failures = ", ".join(f"{kind} {count}" for kind, count in sorted(view.failures.items()))
            found.append(finding(
                "NS03_PACKET_LOSS",
                [Evidence(address, view.server_text, "", f"{view.tries} queries", view.loss,
                          f"{failures}; {view.unknown} samples unknown after retries")],
                ns=view.server_text, ns_ip=address, loss=pct(view.loss),
            ))
        tcp = view.tcp
        if tcp is not None and tcp.reply is None and not tcp.skipped and _answered_over_udp(analysis, tcp.query):
            error = ", ".join(sorted({f.value for f in tcp.failures})) or "no reply"
            found.append(finding("NS04_NO_TCP", [where.evidence(tcp, "", None, error)],
                                 ns=view.server_text, ns_ip=address, error=error))
        if view.edns_refused is not None:
            found.append(finding("NS05_NO_EDNS", [Evidence(address, view.server_text, "", "EDNS queries")],
                                 ns=view.server_text, ns_ip=address, rcode=dns.rcode.to_text(view.edns_refused)))
        if view.answered and not view.nsid_seen:
            found.append(finding("NS06_NO_NSID", [Evidence(address, view.server_text)],
                                 ns=view.server_text, ns_ip=address))
        backends = sorted({key[0] for key in view.by_behaviour})
        if len(backends) > 1:
            shares = Counter[str]()
            for key, count in view.by_behaviour.items():
                shares[key[0]] += count
            total = sum(shares.values())
            text = ", ".join(f"{b} {pct(shares[b] / total)}" for b in backends)
            found.append(finding(
                "NS07_FARM",
                [Evidence(address, view.server_text, b, "every query", shares[b] / total) for b in backends],
                ns=view.server_text, ns_ip=address, count=len(backends), backends=text,
            ))
        for key in sorted(view.by_behaviour):
            behaviour = analysis.behaviour(key)
            if behaviour.flavour not in (Flavour.RCODE, Flavour.REFERRAL):
                continue
            share = view.share(key)
            sample = behaviour.at(address)[0]
            what = behaviour.detail if behaviour.flavour == Flavour.RCODE else f"a referral to {behaviour.detail}"
            found.append(finding(
                "NS02_LAME", [where.evidence(sample, behaviour.backend, share, what)],
                ns=view.server_text, ns_ip=address, domain=name_text(domain), backend=behaviour.backend,
                rcode=what, share=pct(share),
            ))
    return found


def _answered_over_udp(analysis: Analysis, query: Query) -> bool:
    """Whether the address answered the TCP sample's question over UDP: only then does
    silence over TCP say something about TCP (a server that drops MX drops it on both)."""
    return any(s.query.qtype == query.qtype and not s.query.tcp
               for b in analysis.behaviours for s in b.at(query.address))


def _authority(domain: dns.name.Name, analysis: Analysis, behaviour: Behaviour, where: _Where) -> list[Finding]:
    """AA on answers for the zone (by RD setting), and upward referrals in the authority section."""
    if behaviour.flavour not in (Flavour.ZONE, Flavour.CNAME):
        return []
    found = []
    for address in behaviour.addresses():
        samples = [s for s in behaviour.at(address) if s.reply is not None and s.reply.rcode in ANSWERING]
        flags: dict[bool, list[Sample]] = {False: [], True: []}
        for sample in samples:
            flags[sample.query.rd].append(sample)
        missing = {rd: [s for s in group if s.reply is not None and not s.reply.aa] for rd, group in flags.items()}
        ns = where.ns(address)
        for rd, level_id in ((False, "AA01_NOT_AUTHORITATIVE"), (True, "AA02_NOT_AUTHORITATIVE_RD")):
            if not missing[rd] or (rd and missing[False]):
                continue  # AA01 covers a backend that never sets AA
            share = len(missing[rd]) / len(flags[rd])
            qtypes = _types(s.query.qtype for s in missing[rd])
            evidence = [where.evidence(missing[rd][0], behaviour.backend, share, "flags without aa")]
            args = {"backend": behaviour.backend, "ns": ns, "ns_ip": address, "domain": name_text(domain),
                    "qtype": qtypes, "share": pct(share)}
            if level_id == "AA01_NOT_AUTHORITATIVE":
                args["rd"] = rd_text(rd)
            found.append(finding(level_id, evidence, **args))
        upward = [s for s in samples if s.reply is not None and any(
            r.rdtype == NS and analysis.zone.is_subdomain(r.name) and r.name != analysis.zone
            for r in s.reply.authority)]
        if upward:
            share = len(upward) / len(samples)
            reply = upward[0].reply
            assert reply is not None
            cut = next(r.name for r in reply.authority if r.rdtype == NS and analysis.zone.is_subdomain(r.name)
                       and r.name != analysis.zone)
            found.append(finding(
                "AA03_UPWARD_REFERRAL",
                [where.evidence(upward[0], behaviour.backend, share, f"authority: NS of {name_text(cut)}")],
                backend=behaviour.backend, ns=ns, ns_ip=address, zone=name_text(cut), share=pct(share),
            ))
    return found


def countdown(seen: list[tuple[float, int]]) -> bool:
    """TTLs that only fall as time passes (a refill back to the top allowed), by about the time passed."""
    points = sorted(seen)
    ttls = {ttl for _, ttl in points}
    if len(ttls) < 2:
        return False
    top = max(ttls)
    fell = False
    for (t0, ttl0), (t1, ttl1) in itertools.pairwise(points):
        if ttl1 > ttl0:
            if ttl1 != top:
                return False  # up, but not a refill: not a cache's countdown
            continue
        if ttl1 < ttl0:
            if ttl0 - ttl1 > (t1 - t0) + 2:
                return False  # fell faster than time: different TTLs, not a clock
            fell = True
    return fell


def _ttl_points(samples: Iterable[Sample]) -> dict[RRsetKey, list[tuple[float, int]]]:
    points: dict[RRsetKey, list[tuple[float, int]]] = defaultdict(list)
    for sample in samples:
        if sample.reply is None:
            continue
        for rrset, key in sample.reply.keyed():
            points[key].append((sample.reply.at, rrset.ttl))
    return points


def counts_down(behaviour: Behaviour, address: str | None = None) -> tuple[str, list[int]] | None:
    """The first RRset whose TTLs count down at this behaviour (at one address, or any)."""
    addresses = [address] if address is not None else behaviour.addresses()
    for where in addresses:
        samples = behaviour.at(where)
        for key, seen in sorted(_ttl_points(samples).items(), key=lambda item: repr(item[0])):
            if countdown(seen):
                rrset = next(r for s in samples if s.reply is not None for r, k in s.reply.keyed() if k == key)
                return f"{name_text(rrset.name)} {dns.rdatatype.to_text(rrset.rdtype)}", sorted(
                    {ttl for _, ttl in seen}, reverse=True)
    return None


def _ttl_countdown(behaviour: Behaviour, where: _Where) -> list[Finding]:
    found = []
    for address in behaviour.addresses():
        hit = counts_down(behaviour, address)
        if hit is None:
            continue
        rrset, ttls = hit
        shown = ", ".join(str(t) for t in ttls[:6]) + (", …" if len(ttls) > 6 else "")
        sample = behaviour.at(address)[0]
        found.append(finding(
            "TTL01_COUNTDOWN", [where.evidence(sample, behaviour.backend, None, f"{rrset}: TTL {shown}")],
            backend=behaviour.backend, ns=where.ns(address), ns_ip=address, rrset=rrset, ttls=shown,
        ))
    return found


def _ttl_skew(analysis: Analysis) -> list[Finding]:
    """The same RRset (data equal) with different TTLs from different addresses or backends."""
    ttls: dict[RRsetKey, dict[tuple[str, str], int]] = defaultdict(dict)
    names: dict[RRsetKey, str] = {}
    for behaviour in analysis.behaviours:
        if counts_down(behaviour) is not None:
            continue  # a countdown is its own finding
        for sample in behaviour.samples:
            if sample.reply is None:
                continue
            for rrset, key in sample.reply.keyed():
                slot = (sample.query.address, behaviour.backend)
                ttls[key][slot] = max(ttls[key].get(slot, 0), rrset.ttl)
                names[key] = f"{name_text(rrset.name)} {dns.rdatatype.to_text(rrset.rdtype)}"
    found = []
    for key, by_slot in sorted(ttls.items(), key=lambda item: names[item[0]]):
        if len(set(by_slot.values())) < 2:
            continue
        text = "; ".join(f"{ttl} ({backend} at {address})" for (address, backend), ttl in sorted(by_slot.items()))
        evidence = [Evidence(address, analysis.view(address).server_text, backend, names[key], None, f"TTL {ttl}")
                    for (address, backend), ttl in sorted(by_slot.items())]
        found.append(finding("TTL02_SKEW", evidence, rrset=names[key], ttls=text))
    return found


def _apex(domain: dns.name.Name, analysis: Analysis, behaviour: Behaviour, where: _Where) -> list[Finding]:
    found = []
    if behaviour.flavour == Flavour.CNAME and domain == analysis.zone:
        for address in behaviour.addresses():
            view = analysis.view(address)
            share = view.share(behaviour.key)
            sample = _typical(behaviour, address)
            assert sample.reply is not None
            chain = "; ".join(rrset_text(r) for r in sample.reply.answer)
            found.append(finding(
                "APEX01_CNAME", [where.evidence(sample, behaviour.backend, share, chain)],
                backend=behaviour.backend, ns=view.server_text, ns_ip=address, domain=name_text(domain),
                target=behaviour.detail, share=pct(share),
            ))
    # CNAME and other data at the name: in one reply, or by type at one backend (NSID).
    if behaviour.flavour == Flavour.CNAME or (behaviour.flavour == Flavour.ZONE and behaviour.nsid is not None):
        return found + _cname_and_other(domain, analysis, behaviour, where)
    return found


def _typical(behaviour: Behaviour, address: str) -> Sample:
    """An example for evidence: MX over UDP with RD clear (as resolvers ask) when there is one."""
    samples = behaviour.at(address)
    return next((s for s in samples if s.query.qtype == MX and not s.query.rd and not s.query.tcp), samples[0])


def _cname_and_other(domain: dns.name.Name, analysis: Analysis, behaviour: Behaviour, where: _Where) -> list[Finding]:
    found = []
    for address in behaviour.addresses():
        mixed: set[str] = set()
        example: Sample | None = None
        for sample in behaviour.at(address):
            reply = sample.reply
            if reply is None:
                continue
            owned = {r.rdtype for r in reply.answer if r.name == domain}
            if dns.rdatatype.CNAME in owned and len(owned) > 1:
                mixed |= {dns.rdatatype.to_text(t) for t in owned}
                example = example or sample
        if behaviour.flavour == Flavour.ZONE and behaviour.nsid is not None:
            # The same NSID answering some types with a CNAME and others with data at the name.
            twin = [b for b in analysis.behaviours if b.backend == behaviour.backend and b.flavour == Flavour.CNAME]
            with_data = {s.query.qtype for s in behaviour.at(address)
                         if s.reply is not None and any(r.name == domain for r in s.reply.answer)}
            cname_types = {s.query.qtype for b in twin for s in b.at(address)}
            if twin and with_data and not (with_data & cname_types):
                mixed |= {"CNAME"} | {dns.rdatatype.to_text(t) for t in with_data}
                example = example or behaviour.at(address)[0]
        if mixed and example is not None:
            found.append(finding(
                "APEX02_CNAME_AND_OTHER_DATA", [where.evidence(example, behaviour.backend, None)],
                backend=behaviour.backend, ns=where.ns(address), ns_ip=address, domain=name_text(domain),
                types=", ".join(sorted(mixed)),
            ))
    return found


# ---- consistency ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Variant:
    content: Content
    slots: tuple[tuple[str, str, int], ...]  # (address, backend, replies)
    share: float


def variants(analysis: Analysis, qtype: dns.rdatatype.RdataType,
             view: Callable[[Sample], Content] | None = None) -> list[Variant]:
    """The distinct contents of the replies to `qtype` (lame and failed replies left out)."""
    read = view or (lambda sample: Content.of(sample.reply))  # type: ignore[arg-type]
    counts: dict[Content, Counter[tuple[str, str]]] = defaultdict(Counter)
    total = 0
    for behaviour in analysis.behaviours:
        if behaviour.flavour not in (Flavour.ZONE, Flavour.CNAME):
            continue
        for sample in behaviour.samples:
            if sample.query.qtype != qtype or sample.reply is None:
                continue
            counts[read(sample)][(sample.query.address, behaviour.backend)] += 1
            total += 1
    found = [
        Variant(content, tuple((a, b, n) for (a, b), n in sorted(slots.items())), sum(slots.values()) / total)
        for content, slots in counts.items()
    ]
    return sorted(found, key=lambda v: (-v.share, v.content.text))


def _variant_text(variant: Variant, analysis: Analysis) -> str:
    backends = sorted({backend for _, backend, _ in variant.slots})
    servers = sorted({analysis.view(address).server_text for address, _, _ in variant.slots})
    return f"{variant.content.text} ({pct(variant.share)}, {', '.join(backends)} on {', '.join(servers)})"


def _variant_evidence(variant: Variant, analysis: Analysis, qtype: dns.rdatatype.RdataType) -> list[Evidence]:
    evidence = []
    for address, backend, replies in variant.slots:
        view = analysis.view(address)
        answered = sum(
            1 for b in analysis.behaviours for s in b.at(address) if s.query.qtype == qtype and s.reply is not None
            and b.flavour in (Flavour.ZONE, Flavour.CNAME)
        )
        query = Query(address, analysis.domain, qtype, False).text().rsplit(",", 1)[0]
        evidence.append(Evidence(address, view.server_text, backend, query, replies / answered if answered else None,
                                 variant.content.text))
    return evidence


def _consistency(domain: dns.name.Name, analysis: Analysis, where: _Where) -> list[Finding]:
    found = []
    ids = {MX: "CONS01_MX", TXT: "CONS02_TXT", SOA: "CONS03_SOA", NS: "CONS04_NS",
           dns.rdatatype.A: "CONS05_ADDRESS", dns.rdatatype.AAAA: "CONS05_ADDRESS"}
    for qtype in SAMPLE_TYPES:
        seen = variants(analysis, qtype)
        if len(seen) < 2:
            continue
        text = "; ".join(_variant_text(v, analysis) for v in seen)
        evidence = [e for v in seen for e in _variant_evidence(v, analysis, qtype)]
        args: dict[str, object] = {"domain": name_text(domain), "variants": text}
        if qtype == SOA:
            args["serials"] = ", ".join(_serials(analysis)) or "none"
        if ids[qtype] == "CONS05_ADDRESS":
            args["qtype"] = dns.rdatatype.to_text(qtype)
        found.append(finding(ids[qtype], evidence, **args))
    return found


def _serials(analysis: Analysis) -> list[str]:
    serials: set[int] = set()
    for behaviour in analysis.behaviours:
        for sample in behaviour.samples:
            if sample.query.qtype == SOA and sample.reply is not None:
                for rrset in sample.reply.answer:
                    if rrset.rdtype == SOA:
                        serials.update(r.serial for r in rrset)
    return [str(s) for s in sorted(serials)]


def spf_records(sample: Sample, domain: dns.name.Name) -> list[str]:
    """The v=spf1 strings a TXT reply holds at the domain itself (RFC 7208 §4.5)."""
    if sample.reply is None:
        return []
    found = []
    for rrset in sample.reply.answer:
        if rrset.rdtype != TXT or rrset.name != domain:
            continue
        for rdata in rrset:
            text = b"".join(rdata.strings).decode("utf-8", "replace")
            if text.lower() == "v=spf1" or text.lower().startswith("v=spf1 "):
                found.append(text)
    return sorted(found)


def _spf(domain: dns.name.Name, analysis: Analysis, where: _Where) -> list[Finding]:
    per: dict[tuple[str, str, str], dict[str, tuple[tuple[str, ...], float, Sample]]] = {}
    for behaviour in analysis.behaviours:
        if behaviour.flavour not in (Flavour.ZONE, Flavour.CNAME):
            continue
        for address in behaviour.addresses():
            replies = [s for s in behaviour.at(address) if s.query.qtype == TXT and s.reply is not None]
            if not replies:
                continue
            counts = Counter(tuple(spf_records(s, domain)) for s in replies)
            records, count = max(counts.items(), key=lambda item: (item[1], item[0]))
            sample = next(s for s in replies if tuple(spf_records(s, domain)) == records)
            per.setdefault(behaviour.key, {})[address] = (records, count / len(replies), sample)
    if not per:
        return []
    found = []
    published = {records for by_address in per.values() for records, _, _ in by_address.values() if records}
    if not published:
        first = next(iter(next(iter(per.values())).values()))[2]
        return [finding("SPF04_NONE", [where.evidence(first, "", None, "no v=spf1 record")], domain=name_text(domain))]
    for key, by_address in sorted(per.items()):
        backend = key[0]
        for address, (records, share, sample) in sorted(by_address.items()):
            if not records:
                found.append(finding(
                    "SPF01_MISSING", [where.evidence(sample, backend, share, "no v=spf1 record at the name")],
                    backend=backend, ns=where.ns(address), ns_ip=address, domain=name_text(domain), share=pct(share),
                ))
            elif len(records) > 1:
                found.append(finding(
                    "SPF03_MULTIPLE", [where.evidence(sample, backend, share, " | ".join(records))],
                    domain=name_text(domain), count=len(records), backend=backend, ns=where.ns(address),
                    ns_ip=address,
                ))
    if len(published) > 1:
        texts = []
        evidence = []
        for records in sorted(published):
            holders = sorted({(a, k[0]) for k, by in per.items() for a, (r, _, _) in by.items() if r == records})
            texts.append(f"{' | '.join(records)} ({', '.join(sorted({b for _, b in holders}))})")
            evidence += [Evidence(a, where.ns(a), b, f"{name_text(domain)} TXT", None, " | ".join(records))
                         for a, b in holders]
        found.append(finding("SPF02_DIFFERS", evidence, domain=name_text(domain), variants="; ".join(texts)))
    return found


# ---- mail: MX hosts, SMTP probes, delivery paths -----------------------------------------------

Facts = Mapping[tuple[dns.name.Name, dns.rdatatype.RdataType], DnsReply | None]


def mx_exchanges(analysis: Analysis) -> list[tuple[int, dns.name.Name]]:
    """Every (preference, exchange) any serving behaviour gave for the domain's MX."""
    return analysis.mx_exchanges()


def mx_findings(analysis: Analysis, facts: Facts) -> list[Finding]:
    domain = name_text(analysis.domain)
    found = []
    exchanges = mx_exchanges(analysis)
    null = [e for p, e in exchanges if e == dns.name.root and p == 0]
    if null and len(exchanges) > 1:
        text = ", ".join(f"{p} {name_text(e)}" for p, e in exchanges)
        found.append(finding("MX04_NULL_MX_MIXED", domain=domain, variants=text))
    zone_mx = variants(analysis, MX)
    noerror = [v for v in zone_mx if v.content.rcode == "NOERROR"]
    if noerror and not exchanges and all(not v.content.rrsets for v in noerror):
        found.append(finding("MX05_NO_MX", domain=domain))
    for _preference, exchange in exchanges:
        if exchange == dns.name.root:
            continue
        mx = name_text(exchange)
        if ip_literal(exchange) is not None:
            found.append(finding("MX02_TARGET_IP_LITERAL", domain=domain, mx=mx))
            continue
        replies = [facts.get((exchange, t)) for t in (dns.rdatatype.A, dns.rdatatype.AAAA)]
        known = [r for r in replies if r is not None and r.rcode() in ANSWERING]  # SERVFAIL says nothing
        cname = next((rr for r in known for rr in r.answer
                      if rr.rdtype == dns.rdatatype.CNAME and rr.name == exchange), None)
        if cname is not None:
            found.append(finding("MX01_TARGET_CNAME", domain=domain, mx=mx, target=name_text(cname[0].target)))
        if len(known) < len(replies):
            continue  # a lookup failed: whether it has an address is unknown
        if not any(rr.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA) for r in known for rr in r.answer):
            nx = any(r.rcode() == dns.rcode.NXDOMAIN for r in known)
            found.append(finding("MX03_TARGET_NO_ADDRESS", domain=domain, mx=mx,
                                 reason="the name does not exist" if nx else "no A or AAAA record"))
    return found


class ProbeState:
    ACCEPTED = "accepted"
    FAILED = "failed"
    UNKNOWN = "unknown"


def probe_state(session: SmtpSession) -> tuple[str, str]:
    """Tri-state: accepted, failed (the host said no or broke the conversation), unknown (no
    answer: a timeout, a refused or unreachable connect).

    A host counts as accepting once it greeted with 2xx and answered EHLO: that is all a
    sender needs before MAIL. What STARTTLS came to is told apart (SMTP04), and so is QUIT:
    a sender sends QUIT after the message, or not at all, and Postfix does not even wait for
    its reply (smtp_skip_quit_response = yes), so a missing QUIT reply costs no mail.
    """
    if session.connect != ConnectResult.CONNECTED:
        return ProbeState.UNKNOWN, f"connect {session.connect.value}"
    stopped = session.stopped
    if session.greeting is None:
        if session.greeting_timeout:
            return ProbeState.UNKNOWN, stopped.describe() if stopped else "no greeting (timeout)"
        return ProbeState.FAILED, stopped.describe() if stopped else "closed before the greeting"
    if not 200 <= session.greeting.code < 300:
        return ProbeState.FAILED, f"greeting {session.greeting.line}"
    if stopped is not None and stopped.step == ProbeStep.EHLO:
        state = ProbeState.UNKNOWN if stopped.how == Stop.TIMEOUT else ProbeState.FAILED
        return state, stopped.describe()
    if stopped is not None and stopped.step == ProbeStep.QUIT:
        return ProbeState.ACCEPTED, f"{session.greeting.line}; {stopped.describe()} (after EHLO: costs no mail)"
    return ProbeState.ACCEPTED, session.greeting.line


def smtp_findings(probes: Mapping[str, tuple[str, SmtpSession]]) -> list[Finding]:
    found = []
    for address, (host, session) in sorted(probes.items()):
        state, detail = probe_state(session)
        evidence = [Evidence(address, host, "", "port 25", None, detail)]
        if state == ProbeState.UNKNOWN:
            found.append(finding("SMTP01_NO_ANSWER", evidence, host=host, address=address, result=detail))
        elif state == ProbeState.FAILED and session.greeting is not None and not 200 <= session.greeting.code < 300:
            found.append(finding("SMTP02_GREETING_REFUSED", evidence, host=host, address=address,
                                 reply=session.greeting.line))
        elif state == ProbeState.FAILED:
            found.append(finding("SMTP05_CONVERSATION_FAILS", evidence, host=host, address=address, reason=detail))
        elif not session.starttls_offered:
            found.append(finding("SMTP03_NO_STARTTLS", evidence, host=host, address=address))
        elif session.starttls_refused or session.tls_error:
            reason = (f"STARTTLS answered {session.starttls_refused.line}" if session.starttls_refused
                      else str(session.tls_error))
            found.append(finding("SMTP04_STARTTLS_FAILS", evidence, host=host, address=address, reason=reason))
    return found


def tls_text(session: SmtpSession) -> str:
    """What STARTTLS came to, in a few words (empty when it was not offered)."""
    if not session.starttls_offered:
        return ""
    if session.tls_version:
        return f"STARTTLS: {session.tls_version}"
    if session.starttls_refused:
        return f"STARTTLS offered, refused: {session.starttls_refused.line}"
    if session.tls_error:
        return f"STARTTLS offered, but {session.tls_error}"
    return "STARTTLS offered"


def path_outcome(delivery: Delivery) -> tuple[str, str, str]:
    """(outcome, where, why) of one modelled delivery, in the report's words."""
    if delivery.delivered_to is not None:
        return "delivered", delivery.delivered_to.host, delivery.reason
    last = delivery.attempts[-1] if delivery.attempts else None
    host = last.host if last is not None else delivery.route.domain
    outcome = last.result.value if last is not None else delivery.outcome.value
    if last is not None and last.result.value == "timeout":
        outcome = "times out"
    return outcome, host, delivery.reason


def path_findings(domain: dns.name.Name, group: PathGroup, deliveries: tuple[Delivery, ...],
                  mx_hosts: set[str], named: Mapping[str, set[str]]) -> list[Finding]:
    """`named`: address -> the names that own it (an MTA may log the domain or a CNAME instead)."""
    found = []
    backends = ", ".join(group.backends()) + f": {group.behaviours[0].describe()}"
    evidence = [Evidence(a, "", b.backend, f"{name_text(domain)} MX, RD clear", None, b.describe())
                for b in group.behaviours for a in b.addresses()]
    failed = [d for d in deliveries if d.outcome != Outcome.DELIVERED]
    if failed:
        outcome, host, reason = path_outcome(failed[0])
        last = failed[0].attempts[-1] if failed[0].attempts else None
        if last is not None and named.get(last.address):
            host = ", ".join(sorted(named[last.address]))
        found.append(finding(
            "PATH01_NOT_DELIVERED", evidence, share=pct(group.share), backends=backends, domain=name_text(domain),
            mtas=", ".join(d.mta for d in failed), outcome=outcome, host=host, reason=reason,
        ))
    elsewhere = sorted({d.delivered_to.mx for d in deliveries if d.delivered_to is not None
                        and d.delivered_to.mx.lower() not in mx_hosts})
    if elsewhere and mx_hosts:
        found.append(finding("PATH02_ELSEWHERE", evidence, share=pct(group.share), backends=backends,
                             domain=name_text(domain), host=", ".join(elsewhere)))
    # MTAs name a host differently (Postfix logs the domain, Exim the CNAME target): compare
    # what happened and the MX host delivered to, not the words.
    outcomes = {d.mta: (d.outcome.value, d.delivered_to.mx if d.delivered_to else "") for d in deliveries}
    if len(set(outcomes.values())) > 1:
        text = "; ".join(f"{mta}: {o}" + (f" to {h}" if h else "") for mta, (o, h) in outcomes.items())
        found.append(finding("PATH03_MTAS_DIFFER", evidence, share=pct(group.share), backends=backends,
                             outcome=text))
    return found


# -- MTA-STS (RFC 8461) -------------------------------------------------------------------

MIGRATION_WINDOW = 86400  # seconds: a day, about how long an MX move is prepared for


@dataclass(frozen=True, slots=True)
class StsFacts:
    """What a check saw of a domain's MTA-STS: the TXT record's id, the fetch and the policy."""

    policy_id: str | None  # None: no usable `v=STSv1` record (nothing more is looked at)
    url: str = ""
    address: str = ""  # of the policy host, when it had one
    fetched: FetchStatus | None = None  # None: not fetched (no address for the policy host)
    policy: StsPolicy | None = None
    problem: str = ""  # why no policy came of it, in a few words


def sts_findings(domain: str, facts: StsFacts | None, mx_hosts: Iterable[str],
                 window: int = MIGRATION_WINDOW) -> list[Finding]:
    if facts is None or facts.policy_id is None:
        return []
    evidence = [Evidence(facts.address or "-", f"mta-sts.{domain}", query=facts.url,
                         detail=f"id={facts.policy_id}; {facts.fetched or 'not fetched'}")]
    policy = facts.policy
    if policy is None:
        return [finding("STS01_POLICY_UNREACHABLE", evidence, domain=domain, url=facts.url, reason=facts.problem)]
    found = []
    if policy.mode != StsMode.NONE:
        which = "STS02_ENFORCE_MX_MISMATCH" if policy.mode == StsMode.ENFORCE else "STS03_TESTING_MX_MISMATCH"
        for mx in sorted(set(mx_hosts)):
            if not policy.allows(mx):
                found.append(finding(which, evidence, mx=mx, domain=domain, patterns=", ".join(policy.mx)))
    if policy.max_age > window:
        found.append(finding("STS04_MAX_AGE_LONG", evidence, domain=domain, max_age=format_duration(policy.max_age),
                             window=format_duration(window)))
    return found


def ordered(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Worst first, then by ID and message: the same order on every run."""
    unique = {(f.id, f.args): f for f in findings}
    return tuple(sorted(unique.values(), key=Finding.sort_key))
