"""Samples grouped into behaviours: who answered (NSID or fingerprint) and what it said.

A reply's *content* is its rcode and answer RRsets compared as DNS compares them:
owner and rdata in canonical form, TTL and order left out (Zonemaster's
Z09_INCONSISTENT_MX_DATA once fired on a server answering TTL 3599 beside 3600,
zonemaster/zonemaster#1515; docs/architecture.md#evidence-names-the-server-and-the-backend).
Its *flavour* is what a farm member does whatever the type asked: serve the zone,
answer the name with a CNAME chain, fail with an rcode, or refer away.
A *behaviour* is one backend (NSID, or a fingerprint of the flavour when the server
sends no NSID) with one flavour; a *path group* joins behaviours that lead a resolver
to the same answers, so each group gets one delivery path.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from mxsim.audit.probes import Delegation, Observed, RRsetKey, Sample, rrset_key
from mxsim.memo import IdentityMemo
from mxsim.names import text as name_text

ANSWERING = (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)



def key_text(key: RRsetKey, *, limit: int = 3) -> str:
    """`wa-students.org MX 1 aspmx.l.google.com., 5 alt1...` (sorted, shortened)."""
    owner, rdtype, rdatas = key
    shown = ", ".join(rdatas[:limit]) + (f", … ({len(rdatas)} records)" if len(rdatas) > limit else "")
    return f"{owner} {rdtype} {shown}"


def rrset_text(rrset: dns.rrset.RRset, *, limit: int = 3) -> str:
    return key_text(rrset_key(rrset), limit=limit)


@dataclass(frozen=True, slots=True)
class Content:
    """What a reply says about the question: rcode and answer, without TTL or order."""

    rcode: str
    rrsets: tuple[RRsetKey, ...]

    @classmethod
    def of(cls, reply: Observed) -> Content:
        # The samples of one distinct reply share its keys tuple: its content is made once.
        keys = reply.keys if reply.keys or not reply.answer else None
        known = _CONTENTS.get(keys, reply.rcode) if keys is not None else None
        if known is not None:
            return known
        made = cls(dns.rcode.to_text(reply.rcode), tuple(sorted(reply.keys or [rrset_key(r) for r in reply.answer])))
        return made if keys is None else _CONTENTS.put(keys, made, reply.rcode)

    @property
    def text(self) -> str:
        """For people: the records, or what the rcode says."""
        if self.rrsets:
            return "; ".join(key_text(key) for key in self.rrsets)
        return "no records (NOERROR)" if self.rcode == "NOERROR" else self.rcode


_CONTENTS: IdentityMemo[Content] = IdentityMemo(4096)  # by the reply's keys tuple and rcode


class Flavour:
    ZONE = "zone"  # serves the zone's data (right or wrong, by type)
    CNAME = "cname"  # answers the name with a CNAME whatever the type
    RCODE = "rcode"  # answers with an error rcode
    REFERRAL = "referral"  # neither answers nor claims the name: refers elsewhere


def flavour_of(sample: Sample, zone: dns.name.Name) -> tuple[str, str]:
    """(flavour, detail): detail is the rcode, the CNAME target, or the referral's cut."""
    reply = sample.reply
    assert reply is not None
    qname = sample.query.qname
    if reply.rcode not in ANSWERING:
        return Flavour.RCODE, dns.rcode.to_text(reply.rcode)
    cname = next((r for r in reply.answer if r.rdtype == dns.rdatatype.CNAME and r.name == qname), None)
    if cname is not None and sample.query.qtype != dns.rdatatype.CNAME:
        return Flavour.CNAME, name_text(cname[0].target)
    if not reply.answer and not reply.aa:
        # Refers away, even to the zone itself: no answer, no claim to one (lame, RFC 8499 §7).
        ns = next((r for r in reply.authority if r.rdtype == dns.rdatatype.NS), None)
        if ns is not None and qname.is_subdomain(ns.name):
            return Flavour.REFERRAL, name_text(ns.name)
    return Flavour.ZONE, ""


def fingerprint(flavour: str, detail: str) -> str:
    return "fp-" + hashlib.sha1(f"{flavour}:{detail}".encode()).hexdigest()[:6]


@dataclass(slots=True)
class Behaviour:
    """One backend with one flavour, over every address it answered from."""

    backend: str  # NSID, or a fingerprint
    nsid: str | None
    flavour: str
    detail: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.backend, self.flavour, self.detail)

    def at(self, address: str) -> list[Sample]:
        return [s for s in self.samples if s.query.address == address]

    def addresses(self) -> list[str]:
        return sorted({s.query.address for s in self.samples})

    def describe(self) -> str:
        if self.flavour == Flavour.CNAME:
            return f"answers with a CNAME to {self.detail}"
        if self.flavour == Flavour.RCODE:
            return f"answers {self.detail}"
        if self.flavour == Flavour.REFERRAL:
            return f"refers to {self.detail}"
        return "serves the zone"

    def majority(self, qtype: dns.rdatatype.RdataType, rd: bool | None = False) -> Sample | None:
        """The most common reply of this behaviour to `qtype` (RD clear: as resolvers ask)."""
        chosen = [s for s in self.samples if s.query.qtype == qtype and s.reply is not None
                  and (rd is None or s.query.rd == rd)]
        if not chosen and rd is not None:
            return self.majority(qtype, None)
        if not chosen:
            return None
        counts = Counter(Content.of(s.reply) for s in chosen if s.reply is not None)
        best = max(counts.items(), key=lambda item: (item[1], item[0].text))[0]
        return next(s for s in chosen if s.reply is not None and Content.of(s.reply) == best)

    def aa_share(self, rd: bool) -> float | None:
        """Share of AA among its answering replies with that RD setting; None if none."""
        replies = [s.reply for s in self.samples if s.query.rd == rd and s.reply is not None
                   and s.reply.rcode in ANSWERING]
        if not replies:
            return None
        return sum(r.aa for r in replies) / len(replies)


@dataclass(slots=True)
class AddressView:
    """One name server address: what was sent, what came back, from whom."""

    address: str
    servers: tuple[str, ...]  # the NS names with this address
    tries: int = 0
    lost: int = 0
    answered: int = 0  # samples with a reply
    unknown: int = 0  # samples with no reply at all (every try failed)
    skipped: int = 0  # samples never sent: the query budget was spent
    failures: Counter[str] = field(default_factory=Counter)
    tcp: Sample | None = None
    edns_refused: dns.rcode.Rcode | None = None
    nsid_seen: bool = False
    by_behaviour: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    @property
    def loss(self) -> float:
        return self.lost / self.tries if self.tries else 0.0

    @property
    def server_text(self) -> str:
        return ", ".join(self.servers) or "?"

    def share(self, key: tuple[str, str, str]) -> float:
        total = sum(self.by_behaviour.values())
        return self.by_behaviour[key] / total if total else 0.0


@dataclass(slots=True)
class PathGroup:
    """Behaviours that lead a resolver to the same answers; one delivery path each."""

    key: str
    flavour: str
    behaviours: list[Behaviour]
    share: float  # of the replies, averaged over the addresses that answered

    def backends(self) -> list[str]:
        return sorted({b.backend for b in self.behaviours})


@dataclass(slots=True)
class Analysis:
    domain: dns.name.Name
    zone: dns.name.Name
    addresses: dict[str, AddressView]
    behaviours: list[Behaviour]
    groups: list[PathGroup]
    unanswered: list[Sample] = field(default_factory=list)  # sent, and no usable reply to any try
    _exchanges: list[tuple[int, dns.name.Name]] | None = field(default=None, init=False, repr=False, compare=False)

    def mx_exchanges(self) -> list[tuple[int, dns.name.Name]]:
        """Every (preference, exchange) any serving behaviour gave for the domain's MX (read once)."""
        if self._exchanges is None:
            found: set[tuple[int, dns.name.Name]] = set()
            for behaviour in self.behaviours:
                if behaviour.flavour != Flavour.ZONE:
                    continue
                for sample in behaviour.samples:
                    if sample.query.qtype != dns.rdatatype.MX or sample.reply is None:
                        continue
                    for rrset in sample.reply.answer:
                        if rrset.rdtype == dns.rdatatype.MX and rrset.name == self.domain:
                            found.update((r.preference, r.exchange) for r in rrset)
            self._exchanges = sorted(found, key=lambda item: (item[0], name_text(item[1])))
        return list(self._exchanges)

    def view(self, address: str) -> AddressView:
        return self.addresses[address]

    def behaviour(self, key: tuple[str, str, str]) -> Behaviour:
        return next(b for b in self.behaviours if b.key == key)

    def main_zone_group(self) -> PathGroup | None:
        zones = [g for g in self.groups if g.flavour == Flavour.ZONE]
        return max(zones, key=lambda g: (g.share, g.key)) if zones else None

    def child_ns(self) -> tuple[dns.name.Name, ...]:
        """The zone's own NS set, as the main zone group serves it."""
        group = self.main_zone_group()
        if group is None:
            return ()
        counts: Counter[tuple[dns.name.Name, ...]] = Counter()
        for behaviour in group.behaviours:
            for sample in behaviour.samples:
                if sample.query.qtype == dns.rdatatype.NS and sample.reply is not None:
                    for rrset in sample.reply.answer:
                        if rrset.rdtype == dns.rdatatype.NS and rrset.name == sample.query.qname:
                            counts[tuple(sorted(r.target for r in rrset))] += 1
        return max(counts.items(), key=lambda item: (item[1], item[0]))[0] if counts else ()


def analyse(
    domain: dns.name.Name,
    delegation: Delegation,
    addresses: dict[str, list[dns.name.Name]],
    samples: list[Sample],
) -> Analysis:
    zone = delegation.zone
    views = {
        address: AddressView(address, tuple(sorted(name_text(n) for n in names)))
        for address, names in addresses.items()
    }
    behaviours: dict[tuple[str, str, str], Behaviour] = {}
    unanswered: list[Sample] = []
    for sample in samples:
        view = views[sample.query.address]
        if sample.skipped:
            view.skipped += 1
            continue
        view.tries += sample.tries
        view.lost += len(sample.failures)
        view.failures.update(f.value for f in sample.failures)
        if sample.edns_refused is not None:
            view.edns_refused = sample.edns_refused
        if sample.query.tcp:
            view.tcp = sample
        if sample.reply is None:
            view.unknown += 1
            unanswered.append(sample)
            continue
        view.answered += 1
        nsid = sample.reply.nsid
        view.nsid_seen = view.nsid_seen or nsid is not None
        flavour, detail = flavour_of(sample, zone)
        backend = nsid if nsid is not None else fingerprint(flavour, detail)
        key = (backend, flavour, detail)
        behaviour = behaviours.setdefault(key, Behaviour(backend, nsid, flavour, detail))
        behaviour.samples.append(sample)
        view.by_behaviour[key] += 1
    ordered = sorted(behaviours.values(), key=lambda b: b.key)
    return Analysis(domain, zone, views, ordered, _groups(ordered, views), unanswered)


def _group_key(behaviour: Behaviour) -> str:
    """Behaviours a resolver cannot tell apart by their answers share a key."""
    if behaviour.flavour != Flavour.ZONE:
        return f"{behaviour.flavour}:{behaviour.detail}"
    parts = []
    for qtype in (dns.rdatatype.MX, dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.TXT):
        sample = behaviour.majority(qtype)
        if sample is not None and sample.reply is not None:
            parts.append(repr(Content.of(sample.reply).rrsets))
    return "zone:" + hashlib.sha1("|".join(parts).encode()).hexdigest()[:8]


def _groups(behaviours: list[Behaviour], views: dict[str, AddressView]) -> list[PathGroup]:
    by_key: dict[str, list[Behaviour]] = defaultdict(list)
    for behaviour in behaviours:
        if behaviour.flavour in (Flavour.ZONE, Flavour.CNAME):
            by_key[_group_key(behaviour)].append(behaviour)
    groups = []
    # Over every reply, RD set or clear: a farm draws its backend whatever the flags say, and
    # twice the replies halve the noise of the share.
    answering = [v for v in views.values() if sum(v.by_behaviour.values())]
    for key, members in by_key.items():
        shares = []
        for view in answering:
            total = sum(view.by_behaviour.values())
            shares.append(sum(view.by_behaviour[b.key] for b in members) / total)
        share = sum(shares) / len(shares) if shares else 0.0
        groups.append(PathGroup(key, members[0].flavour, members, share))
    groups.sort(key=lambda g: (-g.share, g.key))
    # Readable, stable keys: zone, zone-2, cname, cname-2 ... (largest share first).
    seen: Counter[str] = Counter()
    for group in groups:
        seen[group.flavour] += 1
        group.key = group.flavour if seen[group.flavour] == 1 else f"{group.flavour}-{seen[group.flavour]}"
    return groups
