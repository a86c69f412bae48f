"""A recursive resolver, as unbound 1.17 behaves towards the MTA that asks it.

It iterates from the root with RD clear, keeps only in-bailiwick records of each reply
(unbound's scrubber: the 2017 farm's second, out-of-zone CNAME and its root NS authority
are dropped), chases CNAMEs itself across zones, caches by TTL on the clock, and
answers the stub with the whole chain, NXDOMAIN/NODATA with the SOA, or SERVFAIL when
no server gave a usable answer. It never does I/O: `resolve` yields `DnsExchange`
effects and a driver fulfils them.
"""

from __future__ import annotations

import functools
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from mxsim.clock import Clock
from mxsim.memo import IdentityMemo
from mxsim.names import NameKey, key
from mxsim.pickling import by_fields
from mxsim.resolver.cache import Cache, Key, Negative
from mxsim.scenario.server_choice import ServerChoice
from mxsim.transport.base import DnsExchange, DnsReply, DnsResult, NetError, Step
from mxsim.transport.queries import make_query

MAX_RESTARTS: Final = 11  # unbound iterator.h MAX_RESTART_COUNT: CNAME links it will chase
MAX_REFERRALS: Final = 30  # unbound MAX_REFERRAL_COUNT
MAX_SENDS_PER_STEP: Final = 8  # sends per delegation step before SERVFAIL (timeouts are retried)
MAX_TRIES_PER_SERVER: Final = 3  # sends to one silent address within one step
MAX_TARGET_DEPTH: Final = 4  # nested lookups of name-server addresses
UNKNOWN_SERVER_TIMEOUT: Final = 0.376  # unbound's UNKNOWN_SERVER_NICENESS, seconds
MAX_TIMEOUT: Final = 120.0
SRTT_BAND: Final = 0.400  # unbound picks at random among servers within 400 ms of the fastest
EDNS_PAYLOAD: Final = 1232


@dataclass(slots=True, init=False, eq=False)  # not frozen: one per query sent (see mxsim/mta/results.py)
class Upstream:
    """Evidence: one query the resolver sent to an authoritative server, and what came back.

    The reply is kept whole and read only when a report asks: replay sends hundreds of
    thousands of queries and reads none of it. Two are equal when they say the same: the
    reply's ID (a random query ID, echoed) is not part of what was seen."""

    at: float
    address: str
    server: dns.name.Name | None
    backend: str | None
    nsid: str | None
    qname: dns.name.Name
    qtype: dns.rdatatype.RdataType
    tcp: bool
    error: NetError | None
    reply: dns.message.Message | None

    def __init__(self, at: float, address: str, server: dns.name.Name | None, backend: str | None, nsid: str | None,
                 qname: dns.name.Name, qtype: dns.rdatatype.RdataType, tcp: bool, error: NetError | None = None,
                 reply: dns.message.Message | None = None) -> None:
        self.at = at
        self.address = address
        self.server = server
        self.backend = backend
        self.nsid = nsid
        self.qname = qname
        self.qtype = qtype
        self.tcp = tcp
        self.error = error
        self.reply = reply

    @property
    def rcode(self) -> dns.rcode.Rcode | None:
        return _rcode(self.reply) if self.reply is not None else None

    @property
    def aa(self) -> bool:
        return bool(int(self.reply.flags) & _AA) if self.reply is not None else False

    @property
    def answer_rrsets(self) -> tuple[dns.rrset.RRset, ...]:
        return tuple(self.reply.answer) if self.reply is not None else ()

    @property
    def authority_rrsets(self) -> tuple[dns.rrset.RRset, ...]:
        return tuple(self.reply.authority) if self.reply is not None else ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Upstream) and self._said() == other._said()

    def _said(self) -> tuple[object, ...]:
        return (self.at, self.address, self.server, self.backend, self.nsid, self.qname, self.qtype, self.tcp,
                self.error, self.rcode, self.aa, self.answer_rrsets, self.authority_rrsets)

    @property
    def answer(self) -> tuple[str, ...]:
        return _texts(self.answer_rrsets)

    @property
    def authority(self) -> tuple[str, ...]:
        return _texts(self.authority_rrsets)


@dataclass(slots=True, init=False)  # not frozen: one per question a cache cannot answer (see mxsim/mta/results.py)
class Resolved:
    """What the resolver handed the stub, and how it got there."""

    qname: dns.name.Name
    qtype: dns.rdatatype.RdataType
    response: DnsReply  # rcode; answer = CNAME chain + data; authority = SOA when negative
    started: float
    elapsed: float
    upstream: tuple[Upstream, ...]
    timed_out: bool  # the asker's budget ran out first: it saw no answer at all

    def __init__(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType, response: DnsReply, started: float,
                 elapsed: float, upstream: tuple[Upstream, ...], timed_out: bool = False) -> None:
        self.qname = qname
        self.qtype = qtype
        self.response = response
        self.started = started
        self.elapsed = elapsed
        self.upstream = upstream
        self.timed_out = timed_out

    @property
    def from_cache(self) -> bool:
        return not self.upstream


SharedQueries = dict[tuple[tuple[bytes, ...], dns.rdatatype.RdataType, bool], dns.message.Message]


class _Run:
    """One resolution's own state: the evidence so far, and when the asker stops waiting.

    Kept out of the resolver: in a replay one resolver serves interleaved resolutions.
    """

    __slots__ = ("deadline", "log")

    def __init__(self, deadline: float | None) -> None:
        self.log: list[Upstream] = []
        self.deadline = deadline

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline


# What one delegation step found. Plain numbers, not an Enum: each question compares
# several, and an Enum member read through its class is a call (enum.py).
_ANSWER: Final = 0
_CNAME: Final = 1
_NEGATIVE: Final = 2
_REFERRAL: Final = 3
_LAME: Final = 4
_SERVFAIL: Final = 5


class _Step:
    __slots__ = ("cut", "kind", "negative", "ns", "rrsets")

    def __init__(self, kind: int, rrsets: list[dns.rrset.RRset] | None = None, negative: Negative | None = None,
                 cut: dns.name.Name | None = None, ns: dns.rrset.RRset | None = None) -> None:
        self.kind = kind
        self.rrsets: list[dns.rrset.RRset] = [] if rrsets is None else rrsets
        self.negative = negative
        self.cut = cut
        self.ns = ns


def _texts(rrsets: Iterable[dns.rrset.RRset]) -> tuple[str, ...]:
    return tuple(line for rrset in rrsets for line in rrset.to_text().splitlines())


def scrub(
    response: dns.message.Message,
    zone: dns.name.Name,
    qname: dns.name.Name,
    qtype: dns.rdatatype.RdataType,
) -> tuple[list[dns.rrset.RRset], list[dns.rrset.RRset], list[dns.rrset.RRset]]:
    """Keep the CNAME chain from qname and records inside `zone`, as unbound's scrubber does."""
    by_owner: dict[tuple[NameKey, int], dns.rrset.RRset] = {
        (key(rrset.name), rrset.rdtype): rrset for rrset in response.answer
    }
    answer: list[dns.rrset.RRset] = []
    current = qname
    for _ in range(len(response.answer) + 1):
        if not current.is_subdomain(zone):
            break  # out of bailiwick: the server has no authority to say this
        owner = key(current)
        data = by_owner.get((owner, qtype))
        if data is not None:
            answer.append(data)
            break
        cname = by_owner.get((owner, dns.rdatatype.CNAME))
        if cname is None or qtype == dns.rdatatype.CNAME:
            break
        answer.append(cname)
        current = cname[0].target
    authority = [
        rrset for rrset in response.authority
        if rrset.name.is_subdomain(zone)
        and rrset.rdtype in (dns.rdatatype.NS, dns.rdatatype.SOA)
    ]
    additional = [
        rrset for rrset in response.additional
        if rrset.name.is_subdomain(zone)
        and rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
    ]
    return answer, authority, additional


class RecursiveResolver:
    """One resolver (one cache) shared by the messages of one sender."""

    def __init__(
        self,
        root_hints: list[tuple[dns.name.Name, str]],
        clock: Clock,
        rng: random.Random,
        *,
        cache: bool = True,
        server_choice: ServerChoice = ServerChoice.RANDOM,
    ) -> None:
        if not root_hints:
            raise ValueError("a recursive resolver needs at least one root server address")
        self.root_hints = root_hints
        self.clock = clock
        self.rng = rng
        self.cache = Cache(enabled=cache)
        self.server_choice = server_choice
        self._srtt: dict[str, float] = {}
        self._no_edns: set[str] = set()
        self._queries: dict[tuple[NameKey, dns.rdatatype.RdataType, bool], dns.message.Message] = {}
        # Query messages made by any of a population of resolvers, by the name as written:
        # a replay's senders then ask the world with the same objects (`share_queries`).
        self._shared: SharedQueries | None = None

    def share_queries(self, shared: SharedQueries) -> None:
        """Make each query message once for every resolver given the same `shared`: the model
        reads a query and never changes it, and its ID is not seeded, so nothing reads that.
        The model transport remembers answers per query object, so they are built once too."""
        self._shared = shared

    def resolve(
        self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType, budget: float | None = None
    ) -> Step[Resolved]:
        """Answer (qname, qtype) as a recursive resolver answers a stub.

        `budget`: how long the asker waits. Past it the asker has given up (glibc after
        timeout x attempts); the resolver stops there too rather than run on unseen.
        """
        hit = self.cached(qname, qtype)
        if hit is not None:
            return hit
        started = self.clock.now()
        run = _Run(deadline=started + budget if budget is not None else None)
        answer, rcode, authority = yield from self._resolve(qname, qtype, run, depth=0)
        now = self.clock.now()
        if run.expired(now):
            reply = DnsReply(dns.rcode.SERVFAIL)
            return Resolved(qname, qtype, reply, started, now - started, tuple(run.log), timed_out=True)
        reply = DnsReply(rcode, tuple(answer), tuple(authority))
        if rcode != dns.rcode.SERVFAIL:
            self.cache.put_message(qname, qtype, reply, now)
        return Resolved(qname, qtype, reply, started, now - started, tuple(run.log))

    def cached(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> Resolved | None:
        """The reply in the message cache, if one is alive: no server is asked, no time passes."""
        started = self.clock.now()
        reply = self.cache.get_message(qname, qtype, started)
        return None if reply is None else Resolved(qname, qtype, reply, started, 0.0, ())

    def _resolve(
        self,
        qname: dns.name.Name,
        qtype: dns.rdatatype.RdataType,
        run: _Run,
        depth: int,
    ) -> Step[tuple[list[dns.rrset.RRset], dns.rcode.Rcode, list[dns.rrset.RRset]]]:
        chain: list[dns.rrset.RRset] = []
        name = qname
        for _restart in range(MAX_RESTARTS + 1):
            found = self._from_cache(name, qtype)
            if found is None:
                found = yield from self._iterate(name, qtype, run, depth)
            if found.kind == _SERVFAIL:
                return [], dns.rcode.SERVFAIL, []
            if found.kind == _NEGATIVE:
                assert found.negative is not None
                soa = [found.negative.soa] if found.negative.soa is not None else []
                return chain, found.negative.rcode, soa
            chain.extend(found.rrsets)
            if found.kind == _ANSWER:
                return chain, dns.rcode.NOERROR, []
            name = found.rrsets[-1][0].target  # CNAME: restart at the target
        return [], dns.rcode.SERVFAIL, []  # chain longer than the resolver will chase

    def _from_cache(self, name: dns.name.Name, qtype: dns.rdatatype.RdataType) -> _Step | None:
        now = self.clock.now()
        cache = self.cache
        if not cache.enabled:
            return None
        name_key = key(name)
        data = cache.get_at((name_key, qtype), now)
        if data is not None:
            return _Step(_ANSWER, [data])
        if qtype != dns.rdatatype.CNAME:
            cname = cache.get_at((name_key, dns.rdatatype.CNAME), now)
            if cname is not None:
                return _Step(_CNAME, [cname])
        negative = cache.negative_at(name_key, qtype, now)
        if negative is not None:
            return _Step(_NEGATIVE, negative=negative)
        return None

    def _closest_delegation(self, name: dns.name.Name) -> tuple[dns.name.Name, dns.rrset.RRset | None]:
        now = self.clock.now()
        peek = self.cache.peek_at
        for zone, slot in _ancestors(name.labels):
            ns = peek(slot, now)
            if ns is not None:
                return zone, ns
        return dns.name.root, None

    def _addresses(
        self,
        zone: dns.name.Name,
        ns: dns.rrset.RRset | None,
        run: _Run,
        depth: int,
        skip: set[NameKey] | None = None,
    ) -> Step[list[tuple[str, dns.name.Name]]]:
        """Addresses of the zone's servers: cached ones (glue) first; with none, resolve
        the next server name not in `skip`. Called again when every known server failed,
        so a lame first server does not hide a healthy second one (unbound's targets)."""
        if ns is None:
            return [(address, name) for name, address in self.root_hints if not skip or key(name) not in skip]
        skip = skip or set()
        now = self.clock.now()
        targets = [target for target in _targets(ns) if target[1] not in skip]
        found: list[tuple[str, dns.name.Name]] = []
        peek = self.cache.peek_at
        for server, server_key in targets:
            for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                rrset = peek((server_key, rdtype), now)
                if rrset is not None:
                    found.extend(_addresses_of(rrset, server))
        if found or depth >= MAX_TARGET_DEPTH:
            return found
        for server, _server_key in targets:
            if server.is_subdomain(zone):
                continue  # needs glue we do not have: asking would loop through this zone
            answer, _rcode, _ = yield from self._resolve(server, dns.rdatatype.A, run, depth + 1)
            for rrset in answer:
                if rrset.rdtype == dns.rdatatype.A:
                    found.extend((str(r.address), server) for r in rrset)
            if found:
                break
        return found

    def _order(self, targets: list[tuple[str, dns.name.Name]]) -> list[tuple[str, dns.name.Name]]:
        if self.server_choice == _FIRST:
            return list(targets)
        shuffled = list(targets)
        self.rng.shuffle(shuffled)
        if self.server_choice == _RANDOM:
            return shuffled
        best = min(self._srtt.get(a, UNKNOWN_SERVER_TIMEOUT) for a, _ in shuffled)
        near = [t for t in shuffled if self._srtt.get(t[0], UNKNOWN_SERVER_TIMEOUT) <= best + SRTT_BAND]
        far = [t for t in shuffled if t not in near]
        return near + far

    def _timeout(self, address: str, failures: int) -> float:
        base = max(self._srtt.get(address, UNKNOWN_SERVER_TIMEOUT) * 4, UNKNOWN_SERVER_TIMEOUT)
        return float(min(base * (2**failures), MAX_TIMEOUT))

    def _query(self, name: dns.name.Name, qtype: dns.rdatatype.RdataType, address: str) -> dns.message.Message:
        """A query to an authority; the model reads but never changes it, so one per question serves."""
        plain = address in self._no_edns
        slot = (key(name), qtype, plain)
        query = self._queries.get(slot)
        if query is None:
            shared = self._shared
            if shared is None:
                query = self._make_query(name, qtype, plain)
            else:
                exact = (name.labels, qtype, plain)
                query = shared.get(exact)
                if query is None:
                    query = shared[exact] = self._make_query(name, qtype, plain)
            self._queries[slot] = query
        return query

    def _make_query(self, name: dns.name.Name, qtype: dns.rdatatype.RdataType, plain: bool) -> dns.message.Message:
        # Iteration: the resolver asks authorities with RD clear.
        return make_query(name, qtype, rd=False, payload=None if plain else EDNS_PAYLOAD)

    def _send(
        self,
        name: dns.name.Name,
        qtype: dns.rdatatype.RdataType,
        address: str,
        server: dns.name.Name,
        timeout: float,
        run: _Run,
    ) -> Step[DnsResult]:
        tcp = False
        for _ in range(3):  # UDP, then TCP after TC, then without EDNS after FORMERR
            at = self.clock.now()
            query = self._query(name, qtype, address)
            result: DnsResult = yield DnsExchange(address, query, tcp, timeout)
            message = result.message
            run.log.append(Upstream(at, address, result.server or server, result.backend, result.nsid, name, qtype,
                                    tcp, result.error, message))
            if result.error is None:
                old = self._srtt.get(address)
                self._srtt[address] = result.elapsed if old is None else 0.7 * old + 0.3 * result.elapsed
            if message is None:
                return result
            if int(message.flags) & _TC and not tcp:
                tcp = True
                continue
            # The rcode's low bits first: FORMERR is rare, and the whole rcode is read in a call.
            if (int(message.flags) & 0xF) == _FORMERR and _rcode(message) == _FORMERR and query.edns >= 0:
                self._no_edns.add(address)
                continue
            return result
        return result

    def _iterate(
        self, name: dns.name.Name, qtype: dns.rdatatype.RdataType, run: _Run, depth: int
    ) -> Step[_Step]:
        zone, ns = self._closest_delegation(name)
        for _referral in range(MAX_REFERRALS):
            outcome = yield from self._ask_servers(zone, ns, name, qtype, run, depth)
            if outcome.kind != _REFERRAL:
                return outcome
            assert outcome.cut is not None and outcome.ns is not None
            zone, ns = outcome.cut, outcome.ns
        return _Step(_SERVFAIL)

    def _ask_servers(
        self,
        zone: dns.name.Name,
        ns: dns.rrset.RRset | None,
        name: dns.name.Name,
        qtype: dns.rdatatype.RdataType,
        run: _Run,
        depth: int,
    ) -> Step[_Step]:
        """Ask the zone's servers in turn until one gives a usable reply.

        A lame server (SERVFAIL, REFUSED, an upward referral) leaves the rotation; a silent
        one is asked again with a longer timeout, up to MAX_TRIES_PER_SERVER. When no known
        server is left, the addresses of the zone's other server names are looked up.
        """
        tried: set[NameKey] = set()  # by key: a Name hashes slowly (mxsim/names.py)
        failures: dict[str, int] = {}
        sends = 0
        while sends < MAX_SENDS_PER_STEP:
            targets = yield from self._addresses(zone, ns, run, depth, skip=tried)
            if not targets:
                return _Step(_SERVFAIL)
            tried.update(key(server) for _address, server in targets)
            rotation = deque(self._order(targets))
            while rotation and sends < MAX_SENDS_PER_STEP:
                address, server = rotation.popleft()
                timeout = self._timeout(address, failures.get(address, 0))
                if run.deadline is not None:
                    left = run.deadline - self.clock.now()
                    if left <= 0:
                        return _Step(_SERVFAIL)
                    timeout = min(timeout, left)
                sends += 1
                result = yield from self._send(name, qtype, address, server, timeout, run)
                if result.message is None:
                    failures[address] = failures.get(address, 0) + 1
                    if result.error == NetError.TIMEOUT:
                        self._srtt[address] = max(self._srtt.get(address, 0.0), timeout)
                    if failures[address] < MAX_TRIES_PER_SERVER:
                        rotation.append((address, server))
                    continue
                step = self._classify(result.message, zone, name, qtype)
                if step.kind != _LAME:
                    return step
        return _Step(_SERVFAIL)

    def _classify(
        self,
        message: dns.message.Message,
        zone: dns.name.Name,
        name: dns.name.Name,
        qtype: dns.rdatatype.RdataType,
    ) -> _Step:
        # The rcode's low bits tell most lame replies at once; the whole rcode is read once
        # per reply, with the rest of what the resolver takes from it.
        read = _read(message, zone, name, qtype) if (int(message.flags) & 0xF) in _USABLE_LOW else None
        if read is None or read.rcode not in _USABLE:
            return _Step(_LAME)  # SERVFAIL, REFUSED, NOTIMP, FORMERR: try another server
        rcode = read.rcode
        answer = list(read.answer)
        soa = read.soa
        now = self.clock.now()
        if answer:
            for rrset in answer:
                self.cache.put(rrset, now)
            last = answer[-1]
            if last.rdtype == dns.rdatatype.CNAME and qtype != dns.rdatatype.CNAME:
                if rcode == dns.rcode.NXDOMAIN and read.dangles:
                    # The server was authoritative for the target too: the chain dangles.
                    negative = Negative(dns.rcode.NXDOMAIN, read.negative_soa)
                    self.cache.put_negative(last[0].target, qtype, negative, now)
                    return _Step(_NEGATIVE, answer, negative=negative)
                return _Step(_CNAME, answer)
            return _Step(_ANSWER, answer)
        if rcode == dns.rcode.NXDOMAIN:
            negative = Negative(dns.rcode.NXDOMAIN, read.negative_soa)
            self.cache.put_negative(name, qtype, negative, now)
            return _Step(_NEGATIVE, negative=negative)
        ns = read.ns
        if ns is not None and not int(message.flags) & _AA:
            self.cache.put_infrastructure(ns, now)
            for glue in read.glue:
                self.cache.put_infrastructure(glue, now)
            return _Step(_REFERRAL, cut=ns.name, ns=ns)
        if soa is not None or int(message.flags) & _AA:
            negative = Negative(dns.rcode.NOERROR, read.negative_soa)
            self.cache.put_negative(name, qtype, negative, now)
            return _Step(_NEGATIVE, negative=negative)
        return _Step(_LAME)  # an upward or sideways referral, or an empty non-answer


_TC: Final = int(dns.flags.TC)
_AA: Final = int(dns.flags.AA)
_FIRST: Final = ServerChoice.FIRST
_RANDOM: Final = ServerChoice.RANDOM
_USABLE: Final = (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)
_USABLE_LOW: Final = (int(dns.rcode.NOERROR), int(dns.rcode.NXDOMAIN))
_FORMERR: Final = dns.rcode.FORMERR
_RCODES: Final = {int(rcode): rcode for rcode in dns.rcode.Rcode}


def _rcode(message: dns.message.Message) -> dns.rcode.Rcode:
    """`message.rcode()` (dns.rcode.from_flags) without its enum lookups: a reply is read
    several times per question, and every question a cache does not answer is one."""
    value = (int(message.flags) & 0x000F) | ((int(message.ednsflags) >> 20) & 0xFF0)
    known = _RCODES.get(value)
    return known if known is not None else dns.rcode.Rcode.make(value)


@dataclass(frozen=True, slots=True)
class _Read:
    """What a resolver takes from one reply to one question at one zone cut."""

    rcode: dns.rcode.Rcode
    answer: tuple[dns.rrset.RRset, ...]  # the scrubbed CNAME chain and data
    soa: dns.rrset.RRset | None
    dangles: bool  # the chain ends in a CNAME whose target is inside the zone
    ns: dns.rrset.RRset | None  # a delegation below the zone, towards the name
    glue: tuple[dns.rrset.RRset, ...]  # addresses of that delegation's servers
    negative_soa: dns.rrset.RRset | None  # the SOA as a negative answer is cached: its TTL capped


def _read(message: dns.message.Message, zone: dns.name.Name, name: dns.name.Name,
          qtype: dns.rdatatype.RdataType) -> _Read:
    """`scrub` and what `_classify` picks from it: a function of the reply and the question
    alone, so worked out once per reply object (the model transport hands the same
    object again for the same question) and zone cut."""
    extra = (zone.labels, name.labels, qtype)  # as written: finer than by key, and no call
    known = _READS.get(message, extra)
    if known is not None:
        return known
    answer, authority, additional = scrub(message, zone, name, qtype)
    soa = next((r for r in authority if r.rdtype == dns.rdatatype.SOA), None)
    dangles = bool(answer) and answer[-1].rdtype == dns.rdatatype.CNAME and answer[-1][0].target.is_subdomain(zone)
    ns = next(
        (r for r in authority if r.rdtype == dns.rdatatype.NS and r.name != zone
         and name.is_subdomain(r.name)),
        None,
    )
    glue = tuple(g for g in additional if any(g.name == rdata.target for rdata in ns)) if ns is not None else ()
    return _READS.put(message, _Read(_rcode(message), tuple(answer), soa, dangles, ns, glue, _negative_soa(soa)),
                      extra)


_READS: Final[IdentityMemo[_Read]] = IdentityMemo(8192)


def _targets(ns: dns.rrset.RRset) -> tuple[tuple[dns.name.Name, NameKey], ...]:
    """The server names of an NS set, sorted, each with its key: once per RRset object
    (cached ones are read as stored, and an RRset's records do not change once cached)."""
    known = _TARGETS.get(ns, len(ns))
    if known is None:
        known = _TARGETS.put(ns, tuple((target, key(target)) for target in sorted(rdata.target for rdata in ns)),
                             len(ns))
    return known


_TARGETS: Final[IdentityMemo[tuple[tuple[dns.name.Name, NameKey], ...]]] = IdentityMemo(8192)


def _addresses_of(rrset: dns.rrset.RRset, server: dns.name.Name) -> tuple[tuple[str, dns.name.Name], ...]:
    """(address, server) for each record of a server's cached address set: once per RRset
    object and server name (glue is read at every delegation step through its zone)."""
    extra = (id(server), len(rrset))
    known = _ADDRESSES.get(rrset, extra)
    if known is None or known[0] is not server:
        known = _ADDRESSES.put(rrset, (server, tuple((str(r.address), server) for r in rrset)), extra)
    return known[1]


_ADDRESSES: Final[IdentityMemo[tuple[dns.name.Name, tuple[tuple[str, dns.name.Name], ...]]]] = IdentityMemo(8192)


@functools.lru_cache(maxsize=4096)
def _ancestors(labels: tuple[bytes, ...]) -> tuple[tuple[dns.name.Name, Key], ...]:
    """The name and each parent above it, the root left out, each with its NS slot in the
    cache: the zones a delegation may start at, closest first (worked out once per name,
    as Names are immutable)."""
    name = dns.name.Name(labels)
    found = []
    while len(name.labels) > 1:
        found.append((name, (key(name), dns.rdatatype.NS)))
        name = name.parent()
    return tuple(found)


def _negative_soa(soa: dns.rrset.RRset | None) -> dns.rrset.RRset | None:
    if soa is None:
        return None
    capped: dns.rrset.RRset = soa.copy()
    capped.ttl = min(soa.ttl, soa[0].minimum)  # RFC 2308 §5
    return capped


by_fields(globals())  # frozen dataclasses pickle alike in the compiled build (mxsim/pickling.py)
