"""What `mxsim check` asks the servers, as engine steps: no I/O here.

Each step yields `DnsExchange` effects (a driver fulfils them over the wire) and returns
what was seen. A sample retries a query that got no reply, and when every try fails the
sample says so: it is unknown, never "no records"
(docs/architecture.md#a-timeout-is-never-an-absence). Replies are kept whole (flags,
sections, NSID, the time they came), so the checks can compare RRsets without TTL and
order and look at TTLs on their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import overload

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from mxsim.memo import IdentityMemo
from mxsim.transport.base import DnsExchange, DnsResult, NetError, Step
from mxsim.transport.queries import make_query as template_query

EDNS_PAYLOAD = 1232  # the DNS flag day 2020 default: no fragmentation
SAMPLE_TYPES = (
    dns.rdatatype.MX, dns.rdatatype.TXT, dns.rdatatype.SOA,
    dns.rdatatype.NS, dns.rdatatype.A, dns.rdatatype.AAAA,
)
MAX_REFERRALS = 16  # delegation steps from the root before giving up


@dataclass(frozen=True, slots=True)
class Query:
    """One question to one server address, with the flags it went out with."""

    address: str
    qname: dns.name.Name
    qtype: dns.rdatatype.RdataType
    rd: bool
    tcp: bool = False

    def text(self) -> str:
        transport = ", TCP" if self.tcp else ""
        return f"{_text(self.qname)} {dns.rdatatype.to_text(self.qtype)}, {rd_text(self.rd)}{transport}"


def rd_text(rd: bool) -> str:
    return "RD set" if rd else "RD clear"


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower() or "."


RRsetKey = tuple[str, str, tuple[str, ...]]  # owner, type, rdata in canonical text (sorted)
# Types whose rdata holds names: DNS compares those names without case (RFC 4343).
_NAME_TYPES = {dns.rdatatype.MX, dns.rdatatype.NS, dns.rdatatype.CNAME, dns.rdatatype.SOA,
               dns.rdatatype.PTR, dns.rdatatype.SRV, dns.rdatatype.DNAME}


def rrset_key(rrset: dns.rrset.RRset) -> RRsetKey:
    """An RRset as DNS compares it: TTL and order left out, names without case."""
    fold = rrset.rdtype in _NAME_TYPES
    rdatas = sorted(r.to_text().lower() if fold else r.to_text() for r in rrset)
    return (_text(rrset.name), dns.rdatatype.to_text(rrset.rdtype), tuple(rdatas))


@dataclass(frozen=True, slots=True)
class Observed:
    """One reply as it came back; `keys` are its answer RRsets' keys, computed once."""

    rcode: dns.rcode.Rcode
    aa: bool
    tc: bool
    nsid: str | None
    answer: tuple[dns.rrset.RRset, ...]
    authority: tuple[dns.rrset.RRset, ...]
    additional: tuple[dns.rrset.RRset, ...]
    at: float  # the transport's clock when the reply came, seconds
    edns: bool  # the query carried EDNS (False after a FORMERR fallback)
    keys: tuple[RRsetKey, ...] = ()

    @classmethod
    def reading(cls, message: dns.message.Message) -> Observed:
        """The message read once (its rcode, flags, sections, keys); the time, NSID and EDNS
        fields are those of the first reading: `of` sets them for each sample."""
        # The wire transport hands out one message per distinct reply: its reading is kept too.
        r = _READ.get(message)
        if r is None:
            r = _READ.put(message, cls(
                message.rcode(), bool(message.flags & dns.flags.AA), bool(message.flags & dns.flags.TC), None,
                tuple(message.answer), tuple(message.authority), tuple(message.additional), 0.0, True,
                tuple(rrset_key(r) for r in message.answer),
            ))
        return r

    @classmethod
    def of(cls, message: dns.message.Message, nsid: str | None, at: float, edns: bool) -> Observed:
        return cls.reading(message).at_time(nsid, at, edns)

    def at_time(self, nsid: str | None, at: float, edns: bool) -> Observed:
        """This reading as one sample saw it: with its NSID, its time and whether it asked with EDNS."""
        return Observed(self.rcode, self.aa, self.tc, nsid, self.answer, self.authority, self.additional, at, edns,
                        self.keys)

    def keyed(self) -> list[tuple[dns.rrset.RRset, RRsetKey]]:
        return list(zip(self.answer, self.keys or [rrset_key(r) for r in self.answer], strict=True))


_READ: IdentityMemo[Observed] = IdentityMemo(4096)  # a message's reading, its time and NSID aside


class Unusable(StrEnum):
    """A reply came, but it cannot answer the question (a try that failed, as a timeout does)."""

    TRUNCATED = "truncated even over TCP"  # TC set on the TCP reply: there is no further transport


Failure = NetError | Unusable


@dataclass(frozen=True, slots=True)
class Sample:
    """One sample: the reply, or only failures (every try timed out, was refused or unusable)."""

    query: Query
    reply: Observed | None
    failures: tuple[Failure, ...] = ()  # one per try that got no usable reply, in order
    edns_refused: dns.rcode.Rcode | None = None  # the rcode an EDNS query got before the plain retry
    skipped: bool = False  # not sent: the query budget was spent

    @property
    def tries(self) -> int:
        return len(self.failures) + (1 if self.reply is not None else 0)


@dataclass(slots=True)
class Budget:
    """The total number of queries one check may send (politeness); shared by its steps."""

    limit: int
    spent: int = 0

    def take(self) -> bool:
        if self.spent >= self.limit:
            return False
        self.spent += 1
        return True


def make_query(qname: dns.name.Name, qtype: dns.rdatatype.RdataType, *, rd: bool, edns: bool) -> dns.message.Message:
    """The query for a question, made once and shared: the transport gives each send its own ID."""
    # Keyed by the name object (hashing a dns.name.Name walks its labels): a check asks
    # about one domain name object hundreds of times.
    known = _QUERIES.get(qname, (qtype, rd, edns))
    return known if known is not None else _QUERIES.put(qname, _make_query(qname, qtype, rd=rd, edns=edns),
                                                         (qtype, rd, edns))


_QUERIES: IdentityMemo[dns.message.Message] = IdentityMemo(1024)


def _make_query(qname: dns.name.Name, qtype: dns.rdatatype.RdataType, *, rd: bool, edns: bool) -> dns.message.Message:
    return template_query(qname, qtype, rd=rd, payload=EDNS_PAYLOAD if edns else None)


@dataclass(frozen=True, slots=True)
class Asking:
    """How each sample asks: the wait per try, tries after a failure, the clock, the budget."""

    timeout: float
    retries: int
    now: Callable[[], float]
    budget: Budget
    done: Callable[[], None] | None = None  # called once per finished sample (progress)


_NO_EDNS = (dns.rcode.FORMERR, dns.rcode.NOTIMP, dns.rcode.BADVERS)  # a server that does not speak EDNS


def ask(query: Query, how: Asking) -> Step[Sample]:
    """One sample: retried on silence or refusal, over TCP after TC, without EDNS after FORMERR."""
    failures: list[Failure] = []
    edns = True
    edns_refused: dns.rcode.Rcode | None = None
    tcp = query.tcp
    tries = 0
    result: Sample | None = None
    while tries <= how.retries:
        if not how.budget.take():
            result = Sample(query, None, tuple(failures), edns_refused, skipped=not failures)
            break
        tries += 1
        message = make_query(query.qname, query.qtype, rd=query.rd, edns=edns)
        got: DnsResult = yield DnsExchange(query.address, message, tcp, how.timeout)
        if got.message is None:
            failures.append(got.error or NetError.TIMEOUT)
            continue
        reply = Observed.reading(got.message)  # read once per distinct reply, not per sample
        if reply.tc and not tcp:
            tcp = True  # as a resolver does; the truncated reply is not a sample
            tries -= 1
            continue
        if reply.tc:
            failures.append(Unusable.TRUNCATED)  # a part of an answer over TCP is no answer
            continue
        if edns and reply.rcode in _NO_EDNS:
            edns, edns_refused = False, reply.rcode  # a pre-EDNS server: ask plainly
            tries -= 1
            continue
        result = Sample(query, reply.at_time(got.nsid, how.now(), edns), tuple(failures), edns_refused)
        break
    if result is None:
        result = Sample(query, None, tuple(failures), edns_refused)
    if how.done is not None:
        how.done()
    return result


# ---- the delegation, from the root -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delegation:
    """How the domain hangs from the root, as the parent's servers say it."""

    zone: dns.name.Name  # the zone checked: the domain, or the zone it lies in
    parent: dns.name.Name | None  # the zone that delegates it (None: none seen)
    parent_ns: tuple[dns.name.Name, ...] = ()
    glue: tuple[tuple[dns.name.Name, str], ...] = ()
    nxdomain: bool = False  # the parent says the domain does not exist
    unknown: str | None = None  # why the delegation could not be measured
    samples: tuple[Sample, ...] = ()  # every query sent on the way down


def _glue(message: Observed, names: set[dns.name.Name]) -> list[tuple[dns.name.Name, str]]:
    found: list[tuple[dns.name.Name, str]] = []
    for rrset in message.additional:
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA) and rrset.name in names:
            found.extend((rrset.name, str(rdata.address)) for rdata in rrset)
    return found


Addresses = Callable[[dns.name.Name], Step[list[str]]]


def failures_text(failures: tuple[Failure, ...]) -> str:
    """`timeout 3` or `timeout 2, truncated even over TCP 1`: how the tries failed."""
    counts: dict[str, int] = {}
    for failure in failures:
        counts[failure.value] = counts.get(failure.value, 0) + 1
    return ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items())) or "no try sent"


def _unusable_on_the_way(sample: Sample, zone: dns.name.Name) -> str | None:
    """Why a reply met walking down from the root is no step down (None: it is one).

    A step is an answer (NXDOMAIN, or data, AA or an SOA), or a referral to a zone below
    `zone`. A referral to `zone` itself, above it or beside it, or an empty answer that
    claims no authority, is lame: a resolver tries another server (unbound's iterator
    treats a referral that is not down as lame).
    """
    reply = sample.reply
    if reply is None:
        return f"gave no usable reply ({failures_text(sample.failures)})"
    if reply.rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return f"answered {dns.rcode.to_text(reply.rcode)}"
    if reply.rcode == dns.rcode.NXDOMAIN or reply.answer or reply.aa:
        return None
    if any(r.rdtype == dns.rdatatype.SOA for r in reply.authority):
        return None
    cut = next((r.name for r in reply.authority if r.rdtype == dns.rdatatype.NS), None)
    if cut is None:
        return "answered without authority (no AA, no SOA, no referral)"
    if cut.is_subdomain(zone) and cut != zone and sample.query.qname.is_subdomain(cut):
        return None
    if cut == zone:
        return f"referred {_text(zone)} to itself (a lame delegation)"
    if zone.is_subdomain(cut):
        return f"referred upward to {_text(cut)} (a lame delegation)"
    return f"referred sideways to {_text(cut)} (a lame delegation)"


@dataclass(frozen=True, slots=True)
class Referral:
    """A zone's servers as its parent referred to them, until the referral's NS TTL runs out."""

    names: tuple[dns.name.Name, ...]
    servers: tuple[tuple[dns.name.Name, str], ...]  # (server name, address) to ask
    expires: float  # on the clock of `Asking.now`


@dataclass(slots=True)
class Referrals:
    """The referrals met walking down, shared by the checks of one run: a TLD's delegation is
    asked once per its TTL, not once per domain (as a resolver's cache keeps it)."""

    known: dict[dns.name.Name, Referral] = field(default_factory=dict)

    def closest(self, domain: dns.name.Name, now: float) -> tuple[dns.name.Name, Referral] | None:
        """The deepest live referral strictly above `domain` (its own delegation is always asked)."""
        zone = domain.parent() if domain != dns.name.root else None
        while zone is not None:
            found = self.known.get(zone)
            if found is not None and found.expires > now:
                return zone, found
            zone = zone.parent() if zone != dns.name.root else None
        return None

    def learn(self, zone: dns.name.Name, referral: Referral) -> None:
        self.known[zone] = referral


def find_delegation(
    domain: dns.name.Name,
    root_hints: list[tuple[dns.name.Name, str]],
    how: Asking,
    addresses_of: Addresses,
    referrals: Referrals | None = None,
) -> Step[Delegation]:
    """Walk referrals from the root down to the cut above `domain` (RD clear, as resolvers do).

    `addresses_of` finds a name server's addresses when a referral gives no glue (a
    recursive resolution, fulfilled by the same driver). With `referrals`, the walk starts
    at the deepest zone above `domain` already referred to, and each referral met on the
    way is kept for its NS TTL.
    """
    zone = dns.name.root
    servers: list[tuple[dns.name.Name, str]] = list(root_hints)
    sent: list[Sample] = []
    last_ns: tuple[dns.name.Name, ...] = tuple(dict.fromkeys(name for name, _ in root_hints))
    cached = referrals.closest(domain, how.now()) if referrals is not None else None
    if cached is not None:
        zone, servers, last_ns = cached[0], list(cached[1].servers), cached[1].names
    for _step in range(MAX_REFERRALS):
        reply: Observed | None = None
        lame: list[str] = []
        for _server, address in servers:
            sample = yield from ask(Query(address, domain, dns.rdatatype.NS, rd=False), how)
            sent.append(sample)
            why = _unusable_on_the_way(sample, zone)
            if why is None:
                reply = sample.reply
                break
            lame.append(f"{address} {why}")
        if reply is None:
            return Delegation(domain, None, unknown=f"no server of zone {_text(zone)} gave a usable answer "
                              f"({'; '.join(lame)})", samples=tuple(sent))
        if reply.rcode == dns.rcode.NXDOMAIN:
            return Delegation(domain, zone, last_ns, nxdomain=True, samples=tuple(sent))
        referral = next(
            (r for r in reply.authority if r.rdtype == dns.rdatatype.NS and domain.is_subdomain(r.name)
             and r.name != zone and r.name.is_subdomain(zone)),
            None,
        )
        if referral is not None and not reply.aa:
            names = [rdata.target for rdata in referral]
            glue = _glue(reply, set(names))
            if referral.name == domain:
                return Delegation(domain, zone, tuple(sorted(names)), tuple(sorted(glue)), samples=tuple(sent))
            zone = referral.name
            last_ns = tuple(sorted(names))
            servers = sorted(glue)
            if not servers:
                for name in sorted(names):
                    for address in (yield from addresses_of(name)):
                        servers.append((name, address))
            if not servers:
                return Delegation(domain, None, unknown=f"no address for any server of {_text(zone)}",
                                  samples=tuple(sent))
            if referrals is not None:
                referrals.learn(zone, Referral(last_ns, tuple(servers), how.now() + referral.ttl))
            continue
        # An answer from the servers of `zone` itself: either `domain` is that zone's apex
        # (its servers also serve the parent) or a name inside it.
        apex_ns = next((r for r in reply.answer if r.rdtype == dns.rdatatype.NS and r.name == domain), None)
        if apex_ns is not None:
            return Delegation(domain, zone if zone != domain else None,
                              tuple(sorted(r.target for r in apex_ns)), samples=tuple(sent))
        soa = next((r for r in reply.authority if r.rdtype == dns.rdatatype.SOA), None)
        inside = soa.name if soa is not None else zone
        return Delegation(inside, inside.parent() if inside != dns.name.root else None, last_ns, samples=tuple(sent))
    return Delegation(domain, None, unknown="too many referrals", samples=tuple(sent))


@dataclass(slots=True)
class Plan:
    """What to sample: every address of every server name, each type, both RD settings."""

    zone: dns.name.Name
    domain: dns.name.Name
    addresses: dict[str, list[dns.name.Name]] = field(default_factory=dict)  # address -> server names
    samples: int = 20

    def first_round(self) -> int:
        """How many of `queries()` make the first round (the TCP queries and one of each kind)."""
        return self.through_round(1)

    def through_round(self, rounds: int) -> int:
        """How many of `queries()` make the first `rounds` rounds (the TCP queries included)."""
        return len(self.addresses) * (1 + len(SAMPLE_TYPES) * 2 * rounds)

    def queries(self) -> Planned:
        # Round robin: every address, type and RD setting in each round, so the samples of
        # each spread over the whole run (TTL countdowns show) and every address is busy at once.
        addresses = tuple(sorted(self.addresses, key=_address_key))
        return Planned(addresses, self.domain, range(len(addresses) * (1 + len(SAMPLE_TYPES) * 2 * self.samples)))


class Planned(Sequence[Query]):
    """`Plan.queries()`: the TCP MX query to each address, then each round's types, RD clear
    then set, each to every address. Made when taken: a plan of 20 rounds over two addresses
    is 482 queries, and `--samples auto` takes about 150 of them."""

    __slots__ = ("_addresses", "_domain", "_span")

    def __init__(self, addresses: tuple[str, ...], domain: dns.name.Name, span: range) -> None:
        self._addresses = addresses
        self._domain = domain
        self._span = span  # positions in the whole plan

    def __len__(self) -> int:
        return len(self._span)

    @overload
    def __getitem__(self, index: int) -> Query: ...

    @overload
    def __getitem__(self, index: slice) -> Planned: ...

    def __getitem__(self, index: int | slice) -> Query | Planned:
        if isinstance(index, slice):
            return Planned(self._addresses, self._domain, self._span[index])
        at, count = self._span[index], len(self._addresses)
        if at < count:
            return Query(self._addresses[at], self._domain, dns.rdatatype.MX, rd=False, tcp=True)
        kind, address = divmod(at - count, count)  # kind: (round, type, RD) in that order
        qtype, rd = divmod(kind % (len(SAMPLE_TYPES) * 2), 2)
        return Query(self._addresses[address], self._domain, SAMPLE_TYPES[qtype], rd=bool(rd))


def _address_key(address: str) -> tuple[int, str]:
    return (1 if ":" in address else 0, address)
