"""Authoritative answers: RFC 1034 §4.3.2 over a server's zones, then the farm's quirks.

`ZoneData.lookup` is what a correct server says. `AuthoritativeServer.handle` draws a
backend for each query and lets it bend that answer as its keys say
(`answer`, `aa`, `authority`, `ttl`, `rcode`, `drop`, `delay`, `tcp`, `edns`;
docs/scenario-format.md#backends), and
reports which backend answered so that evidence can always name it.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from typing import Final

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone

from mxsim.pickling import by_fields
from mxsim.rrsets import rrset_of
from mxsim.scenario.spec import AuthorityMode, BackendSpec, ServerSpec, TtlMode

MAX_CNAME_HOPS_IN_ZONE: Final = 16  # a server stops chasing an in-zone chain somewhere; BIND uses 16


@dataclass(slots=True)
class Lookup:
    """A correct server's answer, before any backend bends it."""

    rcode: dns.rcode.Rcode = dns.rcode.NOERROR
    aa: bool = True
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    additional: list[dns.rrset.RRset] = field(default_factory=list)


class ZoneData:
    """One zone's data with the indexes a lookup needs: existing names and cuts."""

    def __init__(self, origin: dns.name.Name, zone: dns.zone.Zone) -> None:
        self.origin = origin
        self.zone = zone
        # RRsets are built once: building one hashes every rdata's wire form (slow in dnspython).
        # Callers never change them; the resolver and the countdown copy before they edit.
        self._rrsets: dict[tuple[dns.name.Name, dns.rdatatype.RdataType], dns.rrset.RRset] = {}
        self._soa_negative: dns.rrset.RRset | None = None
        self.names: set[dns.name.Name] = set()
        self.cuts: set[dns.name.Name] = set()
        for name, node in zone.nodes.items():
            if node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS) and name != origin:
                self.cuts.add(name)
            # Empty non-terminals exist too: NODATA there, not NXDOMAIN (RFC 8020).
            ancestor = name
            while ancestor != origin and ancestor.is_subdomain(origin):
                self.names.add(ancestor)
                ancestor = ancestor.parent()
        self.names.add(origin)

    def rrset(self, name: dns.name.Name, rdataset: dns.rdataset.Rdataset) -> dns.rrset.RRset:
        slot = (name, rdataset.rdtype)
        found = self._rrsets.get(slot)
        if found is None:
            found = self._rrsets[slot] = rrset_of(name, rdataset)
        return found

    def soa_negative(self) -> dns.rrset.RRset:
        if self._soa_negative is None:
            soa = self.zone.get_rdataset(self.origin, dns.rdatatype.SOA)
            assert soa is not None  # delegation.complete() gave every zone one
            rrset = rrset_of(self.origin, soa)
            # RFC 2308 §5: the negative TTL is the lesser of the SOA's TTL and its minimum.
            rrset.ttl = min(soa.ttl, soa[0].minimum)
            self._soa_negative = rrset
        return self._soa_negative

    def cut_above(self, qname: dns.name.Name) -> dns.name.Name | None:
        """The highest delegation point between the apex (exclusive) and qname (inclusive)."""
        if not self.cuts:
            return None
        labels = len(self.origin)
        for depth in range(labels + 1, len(qname) + 1):
            candidate = qname.split(depth)[1]
            if candidate in self.cuts:
                return candidate
        return None

    def referral(self, cut: dns.name.Name) -> Lookup:
        ns = self.zone.get_rdataset(cut, dns.rdatatype.NS)
        assert ns is not None
        result = Lookup(aa=False, authority=[self.rrset(cut, ns)])
        for rdata in ns:
            if rdata.target.is_subdomain(cut) or rdata.target.is_subdomain(self.origin):
                result.additional.extend(self._addresses(rdata.target))
        return result

    def _addresses(self, name: dns.name.Name) -> list[dns.rrset.RRset]:
        found = []
        node = self.zone.get_node(name)
        if node is not None:
            for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                rdataset = node.get_rdataset(dns.rdataclass.IN, rdtype)
                if rdataset is not None:
                    found.append(self.rrset(name, rdataset))
        return found

    def _wildcard(self, qname: dns.name.Name) -> dns.name.Name | None:
        """RFC 4592: the source of synthesis, `*.<closest encloser>`, if it exists."""
        encloser = qname.parent()
        while encloser.is_subdomain(self.origin):
            if encloser in self.names:
                star = dns.name.from_text("*", encloser)
                return star if self.zone.get_node(star) is not None else None
            encloser = encloser.parent()
        return None

    def lookup(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> Lookup:
        result = Lookup()
        for _hop in range(MAX_CNAME_HOPS_IN_ZONE):
            cut = self.cut_above(qname)
            if cut is not None and not (cut == qname and qtype == dns.rdatatype.DS):
                if result.answer:
                    return result  # a chain into a child zone: the resolver goes on from here
                return self.referral(cut)
            node = self.zone.get_node(qname)
            owner = qname
            if node is None and qname not in self.names:
                star = self._wildcard(qname)
                if star is None:
                    result.rcode = dns.rcode.NXDOMAIN
                    result.authority.append(self.soa_negative())
                    return result
                node = self.zone.get_node(star)
            if node is None:
                result.authority.append(self.soa_negative())  # empty non-terminal: NODATA
                return result
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is not None and qtype not in (dns.rdatatype.CNAME, dns.rdatatype.ANY):
                result.answer.append(self.rrset(owner, cname))
                qname = cname[0].target
                if not qname.is_subdomain(self.origin):
                    return result
                continue
            if qtype == dns.rdatatype.ANY:
                result.answer.extend(self.rrset(owner, rds) for rds in node.rdatasets)
                return result
            rdataset = node.get_rdataset(dns.rdataclass.IN, qtype)
            if rdataset is None:
                result.authority.append(self.soa_negative())
                return result
            result.answer.append(self.rrset(owner, rdataset))
            if qtype == dns.rdatatype.MX:
                for rdata in rdataset:
                    if rdata.exchange.is_subdomain(self.origin):
                        result.additional.extend(self._addresses(rdata.exchange))
            return result
        result.rcode = dns.rcode.SERVFAIL  # an in-zone CNAME loop
        return result


@dataclass(slots=True, init=False)  # not frozen, `__init__` written out: one per query sent (mxsim/mta/results.py)
class Draw:
    """A server's random choice for one query (`AuthoritativeServer.draw`)."""

    backend: BackendSpec | None
    dropped: bool

    def __init__(self, backend: BackendSpec | None, dropped: bool = False) -> None:
        self.backend = backend
        self.dropped = dropped


@dataclass(frozen=True, slots=True)
class Served:
    """What one query to one server address did. `message` None: never answered."""

    message: dns.message.Message | None
    delay: float
    server: dns.name.Name
    address: str
    backend: str | None
    nsid: str | None
    tcp_refused: bool = False


def _response(query: dns.message.Message) -> dns.message.Message:
    """make_response without its EDNS: building an OPT record per answer is most of its cost."""
    response = dns.message.QueryMessage(id=query.id)
    response.flags = dns.flags.QR | (query.flags & (dns.flags.RD | dns.flags.CD))
    response.question = list(query.question)
    return response


@functools.lru_cache(maxsize=256)
def _opt(payload: int, nsid: str | None) -> dns.rrset.RRset:
    """One OPT record per (payload, NSID), shared by every response that carries it."""
    options: list[dns.edns.Option] = [dns.edns.NSIDOption(nsid.encode())] if nsid is not None else []
    holder = dns.message.QueryMessage()
    holder.use_edns(0, 0, payload, options=options)
    assert holder.opt is not None
    return holder.opt


def _wants_nsid(query: dns.message.Message) -> bool:
    return any(option.otype == dns.edns.OptionType.NSID for option in query.options)


def _countdown(rrsets: list[dns.rrset.RRset], now: float) -> list[dns.rrset.RRset]:
    """TTLs as a cache would show them: counting down, then refilled, every TTL seconds."""
    out = []
    for rrset in rrsets:
        copy = rrset.copy()
        if rrset.ttl > 0:
            copy.ttl = rrset.ttl - int(now) % rrset.ttl
        out.append(copy)
    return out


class AuthoritativeServer:
    """A server name with its addresses, its zones and, maybe, a farm behind them."""

    def __init__(
        self,
        spec: ServerSpec,
        zones: list[ZoneData],
        root_ns: dns.rrset.RRset,
        pin: str | None = None,
    ) -> None:
        self.spec = spec
        self.zones = sorted(zones, key=lambda z: len(z.origin), reverse=True)
        # Origin -> zone, the first of the list above for each origin: a registrar's farm serves
        # thousands of zones, and the closest enclosing one is found by walking up the name.
        self._by_origin: dict[dns.name.Name, ZoneData] = {}
        for zone in self.zones:
            self._by_origin.setdefault(zone.origin, zone)
        self.root_ns = root_ns
        self.pinned: BackendSpec | None = None
        if pin is not None:
            by_name = {backend.name: backend for backend in spec.backends}
            self.pinned = by_name[pin]
        self._weights = [backend.weight for backend in spec.backends]

    def choose_backend(self, rng: random.Random) -> BackendSpec | None:
        if self.pinned is not None:
            return self.pinned
        if not self.spec.backends:
            return None
        if len(self.spec.backends) == 1:
            return self.spec.backends[0]
        return rng.choices(self.spec.backends, weights=self._weights)[0]

    def zone_for(self, qname: dns.name.Name) -> ZoneData | None:
        """The closest enclosing zone: the longest origin `qname` is at or under."""
        name = qname
        while True:
            zone = self._by_origin.get(name)
            if zone is not None:
                return zone
            if len(name) <= 1:  # the root, or a relative name's last label
                return None
            name = name.parent()

    def correct_answer(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> Lookup:
        zone = self.zone_for(qname)
        if zone is None:
            return Lookup(rcode=dns.rcode.REFUSED, aa=False)
        return zone.lookup(qname, qtype)

    def handle(
        self,
        query: dns.message.Message,
        *,
        address: str,
        tcp: bool,
        now: float,
        rng: random.Random,
    ) -> Served:
        return self.build(self.draw(rng), query, address=address, tcp=tcp, now=now)

    def draw(self, rng: random.Random) -> Draw:
        """The per-query random part: which backend answers, and whether it drops the query.

        Split from `build` so that the lab can draw for every query (seeded, as the
        model does) and reuse the answer bytes it built before for that backend.
        """
        backend = self.choose_backend(rng)
        dropped = backend is not None and backend.drop > 0 and rng.random() < backend.drop
        return Draw(backend, dropped)

    def build(
        self,
        drawn: Draw,
        query: dns.message.Message,
        *,
        address: str,
        tcp: bool,
        now: float,
    ) -> Served:
        """The answer of the drawn backend to `query`: no randomness here."""
        backend = drawn.backend
        name = backend.name if backend else None
        nsid = backend.nsid if backend and backend.nsid else self.spec.nsid
        delay = backend.delay if backend else 0.0

        def served(message: dns.message.Message | None, *, tcp_refused: bool = False) -> Served:
            return Served(message, delay, self.spec.name, address, name, nsid, tcp_refused)

        if drawn.dropped:
            return served(None)
        if tcp and backend is not None and not backend.tcp:
            return Served(None, 0.0, self.spec.name, address, name, nsid, tcp_refused=True)
        response = _response(query)
        if query.edns >= 0 and backend is not None and not backend.edns:
            response.set_rcode(dns.rcode.FORMERR)  # what a pre-EDNS server says to an OPT record
            return served(response)
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return served(response)
        question = query.question[0]
        result = self._answer(backend, question.name, question.rdtype, query)
        if backend is not None and backend.ttl == TtlMode.COUNTDOWN:
            result.answer = _countdown(result.answer, now)
            result.authority = _countdown(result.authority, now)
            result.additional = _countdown(result.additional, now)
        response.set_rcode(result.rcode)
        if result.aa:
            response.flags |= dns.flags.AA
        response.answer = result.answer
        response.authority = result.authority
        response.additional = result.additional
        if query.edns >= 0:
            # After set_rcode: the shared OPT record must never be edited (extended rcode bits).
            response.opt = _opt(query.payload, nsid if nsid is not None and _wants_nsid(query) else None)
        return served(response)

    def _answer(
        self,
        backend: BackendSpec | None,
        qname: dns.name.Name,
        qtype: dns.rdatatype.RdataType,
        query: dns.message.Message,
    ) -> Lookup:
        if backend is not None and backend.rcode is not None:
            return Lookup(rcode=backend.rcode, aa=False)
        override = backend.answer_for(qname) if backend is not None else None
        if override is not None:
            result = Lookup(answer=[rrset.copy() for rrset in override])
        else:
            result = self.correct_answer(qname, qtype)
        if backend is None:
            return result
        if result.aa:  # a referral or a refusal never claims authority, whatever the farm says
            asked_recursion = bool(query.flags & dns.flags.RD)
            result.aa = backend.aa.rd if asked_recursion else backend.aa.nord
        if backend.authority == AuthorityMode.ROOT_REFERRAL and result.rcode == dns.rcode.NOERROR:
            result.authority = [self.root_ns.copy()]
        elif backend.authority == AuthorityMode.EMPTY:
            result.authority = []
        return result


by_fields(globals())  # frozen dataclasses pickle alike in the compiled build (mxsim/pickling.py)
