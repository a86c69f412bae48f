"""What could not be measured: questions that got no usable reply, and why (pure).

A question without a usable reply is unknown: nothing was said about the name, so it is
never "no records" (NODATA) nor "no such name" (NXDOMAIN). A reply is unusable when it
never came (timeout, refusal), came but answered nothing (SERVFAIL, REFUSED, a referral
to the zone itself or above it: a lame server, RFC 8499 §7), came truncated even over
TCP, or came as something the transport dropped (another question, unparsable).

A delivery path rests on the answers its MTAs used. When one is unknown, the path's
verdict is unknown too; the model then follows what the MTAs do when a lookup times out
or fails (glibc and libasr report TRY_AGAIN, and every profile defers: "try again later"),
and the report says so rather than give that deferral as the domain's fate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import dns.name
import dns.rcode
import dns.rdatatype

from mxsim.audit.behaviour import ANSWERING, Analysis, Content, Flavour, PathGroup
from mxsim.audit.probes import Sample, Unusable, failures_text
from mxsim.mta.results import Delivery, Outcome
from mxsim.mta.stub import Herrno
from mxsim.names import text as name_text
from mxsim.resolver.recursive import Resolved
from mxsim.transport.base import DnsReply

Question = tuple[dns.name.Name, dns.rdatatype.RdataType]
Dropped = Mapping[str, Mapping[str, int]]  # name server address -> why a reply was dropped -> how many
FAILED_LOOKUP = (Herrno.TRY_AGAIN, Herrno.NO_RECOVERY)  # what a library makes of a timeout or SERVFAIL
MX = dns.rdatatype.MX
ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)


@dataclass(frozen=True, slots=True)
class Lost:
    """A question that got no usable reply: why, and whether replies came (lame) or none did."""

    qname: dns.name.Name
    qtype: dns.rdatatype.RdataType
    why: str  # says the question too: "ns1.example.org [192.0.2.1] never answered MX (timeout 6)"
    lame: bool = False  # replies came and none was usable (a server that fails), rather than silence
    # Empty where every MTA meets it as a failed lookup and defers; else how they part ways on
    # it, as no one modelled path stands for them all.
    parting: str = ""


def _dropped_text(dropped: Dropped | None, address: str) -> str:
    found = (dropped or {}).get(address, {})
    if not found:
        return ""
    counts = ", ".join(f"{why} {count}" for why, count in sorted(found.items()))
    return f"; replies that came were unusable ({counts})"


def lame_phrase(flavour: str, detail: str, zone: dns.name.Name) -> str:
    """What a server does instead of answering: `answered SERVFAIL`, `referred the zone to itself`."""
    if flavour == Flavour.RCODE:
        return f"answered {detail}"
    if flavour != Flavour.REFERRAL:
        return "served the zone"
    cut = dns.name.from_text(detail)
    if cut == zone:
        return f"referred {name_text(zone)} to itself"
    if zone.is_subdomain(cut):
        return f"referred upward to {detail}"
    return f"referred to {detail}"


def _at_address(analysis: Analysis, address: str, qtype: dns.rdatatype.RdataType,
                dropped: Dropped | None) -> tuple[str, bool] | None:
    """Why `address` gave no usable reply to the domain's `qtype` (None: it gave one, or was not asked)."""
    view = analysis.view(address)
    where = f"{view.server_text} [{address}]"
    kind = dns.rdatatype.to_text(qtype)
    replies = [(b, s) for b in analysis.behaviours for s in b.at(address) if s.query.qtype == qtype]
    if any(b.flavour in (Flavour.ZONE, Flavour.CNAME) for b, _ in replies):
        return None
    silent = [s for s in analysis.unanswered if s.query.address == address and s.query.qtype == qtype]
    lame = sorted({lame_phrase(b.flavour, b.detail, analysis.zone) for b, _ in replies})
    if lame:
        return f"{where} {' and '.join(lame)} when asked {kind} (a lame server)", True
    if not silent:
        return None
    failures = tuple(f for s in silent for f in s.failures)
    truncated = Unusable.TRUNCATED in failures
    what = f"answered {kind} only truncated, even over TCP" if truncated else f"never answered {kind}"
    return f"{where} {what} ({failures_text(failures)}{_dropped_text(dropped, address)})", truncated


def lost_at_domain(analysis: Analysis, addresses: Iterable[str], qtype: dns.rdatatype.RdataType,
                   dropped: Dropped | None = None) -> Lost | None:
    """The domain's `qtype` as lost at these addresses: why each gave no usable reply."""
    found = [why for address in sorted(set(addresses)) if (why := _at_address(analysis, address, qtype, dropped))]
    if not found:
        return None
    return Lost(analysis.domain, qtype, "; ".join(text for text, _ in found), any(lame for _, lame in found))


def group_lost(analysis: Analysis, group: PathGroup, dropped: Dropped | None = None) -> Lost | None:
    """The first of the domain's questions a group's path needs that got no usable reply there.

    MX first (every MTA asks it first). With no MX records (NODATA), the domain's own A and
    AAAA make the implicit MX (RFC 5321 §5.1): a lost one is unknown unless the other
    holds an address. A CNAME group's chain answers every type: nothing more is asked there.
    """
    if group.flavour != Flavour.ZONE:
        return None
    addresses = sorted({a for b in group.behaviours for a in b.addresses()})
    mx = [b.majority(MX) for b in group.behaviours]
    answered = [s for s in mx if s is not None and s.reply is not None]
    if not answered:
        return lost_at_domain(analysis, addresses, MX, dropped) or _not_drawn(analysis, group, MX)
    content = Content.of(answered[0].reply)  # type: ignore[arg-type]
    if content.rcode == "NXDOMAIN":
        return _contradicted(analysis, group, addresses)
    if content.rrsets or content.rcode != "NOERROR":
        return None  # MX records (or a CNAME): the domain's addresses are not asked
    known: list[Sample] = []
    missing: list[dns.rdatatype.RdataType] = []
    for qtype in ADDRESS_TYPES:
        samples = [s for b in group.behaviours if (s := b.majority(qtype)) is not None and s.reply is not None]
        if samples:
            known += samples
        else:
            missing.append(qtype)
    if not missing or any(s.reply is not None and s.reply.answer for s in known):
        return None
    return lost_at_domain(analysis, addresses, missing[0], dropped) or _not_drawn(analysis, group, missing[0])


def _contradicted(analysis: Analysis, group: PathGroup, addresses: list[str]) -> Lost | None:
    """NXDOMAIN to MX from servers that answer another type at the same name.

    The resolver libraries the MTAs use take NXDOMAIN as "no such domain" whatever the
    answer section holds (glibc's res_query and OpenSMTPD's libasr return HOST_NOT_FOUND),
    and the MTAs part ways there: Postfix goes on to the implicit MX (smtp_addr.c), Exim
    fails the address ("Unrouteable address"), Sendmail calls the host unknown. A world
    rebuilt as zones holds a name with records or without, not both, and would give every
    MTA the NODATA path (the domain's own address). Such a path is unknown rather than
    given a fate some MTAs would not reach.
    """
    others = sorted({dns.rdatatype.to_text(s.query.qtype) for b in group.behaviours for s in b.samples
                     if s.query.qtype != MX and s.query.qname == analysis.domain and s.reply is not None
                     and s.reply.rcode == dns.rcode.NOERROR})
    if not others:
        return None
    servers = ", ".join(f"{analysis.view(a).server_text} [{a}]" for a in addresses)
    return Lost(analysis.domain, MX, f"{servers} answered NXDOMAIN when asked MX but NOERROR when asked "
                f"{' and '.join(others)} at {name_text(analysis.domain)} (a server that contradicts itself; "
                f"the MTAs' resolvers take NXDOMAIN as no such domain)", lame=True,
                parting="Postfix goes on to the domain's own address, Exim and Sendmail fail the address")


def _not_drawn(analysis: Analysis, group: PathGroup, qtype: dns.rdatatype.RdataType) -> Lost:
    """The servers answered the question, but never from this group's backends (a farm
    member drawn too seldom for the samples taken): its answer is unknown."""
    return Lost(analysis.domain, qtype, f"backend {', '.join(group.backends())} was never drawn for "
                f"{name_text(analysis.domain)} {dns.rdatatype.to_text(qtype)} (more --samples would tell)")


def nothing_usable(analysis: Analysis, dropped: Dropped | None = None, lost: Iterable[Lost] = ()) -> str:
    """Why no behaviour serves the zone: each address, what it did instead; with no address,
    the name servers' address lookups that failed (`lost`)."""
    if not analysis.addresses:
        failed = "; ".join(sorted(item.why for item in lost))
        return "no address of any name server was found" + (f" ({failed})" if failed else "")
    parts = []
    for address, view in sorted(analysis.addresses.items()):
        where = f"{view.server_text} [{address}]"
        if view.skipped and not view.tries:
            parts.append(f"{where} was not asked (the query budget was spent)")
            continue
        lame = sorted({lame_phrase(flavour, detail, analysis.zone) for _, flavour, detail in view.by_behaviour})
        if lame:
            parts.append(f"{where} {' and '.join(lame)} (a lame server)")
            continue
        failures = tuple(f for s in analysis.unanswered if s.query.address == address for f in s.failures)
        parts.append(f"{where} never answered usably ({failures_text(failures)}{_dropped_text(dropped, address)})")
    return "; ".join(parts)


def fact_lost(qname: dns.name.Name, qtype: dns.rdatatype.RdataType, reply: DnsReply | None,
              why: str | None = None) -> Lost | None:
    """A name resolved for the paths (an MX host, a CNAME target): lost unless it was answered."""
    if reply is not None and reply.rcode() in ANSWERING:
        return None
    if why is None:
        why = "no answer (timeout)" if reply is None else f"the resolver answered {dns.rcode.to_text(reply.rcode())}"
    return Lost(qname, qtype, f"{name_text(qname)} {dns.rdatatype.to_text(qtype)}: {why}", lame=reply is not None)


def resolution_why(resolved: Resolved, waited: float) -> str | None:
    """Why a recursive resolution on the wire gave no answer (None: it gave one)."""
    if not resolved.timed_out and resolved.response.rcode() in ANSWERING:
        return None
    by_address: dict[str, list[str]] = {}
    for upstream in resolved.upstream:
        if upstream.error is not None:
            by_address.setdefault(upstream.address, []).append(upstream.error.value)
        elif upstream.rcode is not None and upstream.rcode not in ANSWERING:
            by_address.setdefault(upstream.address, []).append(dns.rcode.to_text(upstream.rcode))
    tried = "; ".join(f"{address}: {_counted(kinds)}" for address, kinds in sorted(by_address.items()))
    head = f"no answer within {waited:g} s" if resolved.timed_out else "no server gave a usable answer"
    return f"{head} ({tried})" if tried else head


def _counted(kinds: list[str]) -> str:
    return ", ".join(f"{kind} {kinds.count(kind)}" for kind in sorted(set(kinds)))


def path_unknown(deliveries: Iterable[Delivery], lost: Mapping[Question, Lost]) -> Lost | None:
    """The lost answer a path's verdict rests on: a delivery that did not deliver, after a
    lookup its library reported as failed (TRY_AGAIN, NO_RECOVERY), about a name whose
    answer was lost (asked by the MTA, or by its resolver on the way)."""
    for delivery in deliveries:
        if delivery.outcome == Outcome.DELIVERED:
            continue
        for answer in delivery.dns:
            if answer.status not in FAILED_LOOKUP:
                continue
            # A lost name fails for every type in the model's world (its server fails alike).
            names = {answer.qname} | {u.qname for r in answer.resolved for u in r.upstream}
            for (qname, _qtype), found in sorted(lost.items(), key=lambda item: (item[0][0], item[0][1])):
                if qname in names:
                    return found
    return None
