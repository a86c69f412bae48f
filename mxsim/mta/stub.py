"""What the MTA's DNS library makes of the recursive resolver's reply.

Postfix, Exim and Sendmail read DNS through glibc's libresolv; OpenSMTPD through
libasr (docs/mta-behaviour.md#glibc, #libasr). They disagree on what counts as success (glibc: NOERROR and
ANCOUNT > 0; libasr: ANCOUNT > 0 whatever the rcode) and on SERVFAIL/REFUSED (glibc
tries the next server, then the same one again, and reports TRY_AGAIN; libasr hands the
rcode to the caller). This module turns a reply into the h_errno the MTA sees, and
records every question the MTA asked, in order, for the trace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import dns.flags
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rrset

from mxsim.memo import IdentityMemo
from mxsim.resolver.cache import Cache, reply_token
from mxsim.resolver.recursive import Resolved
from mxsim.transport.base import DnsReply, Step
from mxsim.wiresize import size_bound


class Herrno(StrEnum):
    """h_errno as resolver libraries report it (netdb.h names)."""

    SUCCESS = "success"
    HOST_NOT_FOUND = "HOST_NOT_FOUND"  # NXDOMAIN
    NO_DATA = "NO_DATA"  # NOERROR, nothing of the type
    TRY_AGAIN = "TRY_AGAIN"  # SERVFAIL, timeout
    NO_RECOVERY = "NO_RECOVERY"  # FORMERR, NOTIMP, (libasr: REFUSED)


class Library(StrEnum):
    GLIBC = "glibc"
    LIBASR = "libasr"


def glibc_status(response: DnsReply | None) -> Herrno:
    """GLIBC resolv/res_query.c __res_context_query, res_send.c send_dg."""
    if response is None:
        return Herrno.TRY_AGAIN
    rcode = response.rcode()
    if rcode in (dns.rcode.SERVFAIL, dns.rcode.REFUSED, dns.rcode.NOTIMP):
        return Herrno.TRY_AGAIN  # send_dg moves on; when all servers fail: TRY_AGAIN
    if rcode == dns.rcode.NXDOMAIN:
        return Herrno.HOST_NOT_FOUND
    if rcode != dns.rcode.NOERROR:
        return Herrno.NO_RECOVERY
    return Herrno.SUCCESS if response.answer else Herrno.NO_DATA


def libasr_status(response: DnsReply | None) -> Herrno:
    """OS openbsd-compat/libasr/res_send_async.c ASR_STATE_HALT: ANCOUNT>0 is success."""
    if response is None:
        return Herrno.TRY_AGAIN
    if response.answer:
        return Herrno.SUCCESS
    rcode = response.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return Herrno.HOST_NOT_FOUND
    if rcode == dns.rcode.SERVFAIL:
        return Herrno.TRY_AGAIN
    if rcode == dns.rcode.NOERROR:
        return Herrno.NO_DATA
    return Herrno.NO_RECOVERY


STATUS: Final = {Library.GLIBC: glibc_status, Library.LIBASR: libasr_status}
PLAIN_UDP: Final = 512  # RFC 1035 §4.2.1: neither glibc nor libasr sends EDNS unless told to


def _truncated(qname: dns.name.Name, reply: DnsReply) -> bool:
    return size_bound(qname, (*reply.answer, *reply.authority), edns=False) > PLAIN_UDP


def _truncated_remembered(qname: dns.name.Name, reply: DnsReply) -> bool:
    """`_truncated`, remembered per reply's sections: a cached reply is served again and
    again with the very same answer and authority tuples (only its age changes). The
    authority tuple is kept beside the verdict, so its id cannot be reused meanwhile.
    A reply built afresh (a cache miss) is told by what it says (`reply_token`): the
    resolver builds the same reply again each time the records expire."""
    extra = (id(reply.authority), qname.labels)
    known = _TRUNCATED.get(reply.answer, extra)
    if known is not None and known[0] is reply.authority:
        return known[1]
    said = (qname.labels, reply_token(reply))
    truncated = _TRUNCATED_SAYING.get(said)
    if truncated is None:
        if len(_TRUNCATED_SAYING) >= _SAYINGS_HELD:
            _TRUNCATED_SAYING.clear()
        truncated = _TRUNCATED_SAYING[said] = _truncated(qname, reply)
    return _TRUNCATED.put(reply.answer, (reply.authority, truncated), extra)[1]


_TRUNCATED: Final[IdentityMemo[tuple[tuple[dns.rrset.RRset, ...], bool]]] = IdentityMemo(8192)
_TRUNCATED_SAYING: Final[dict[tuple[tuple[bytes, ...], int], bool]] = {}
_SAYINGS_HELD: Final = 65536
# glibc retries a rejected query (SERVFAIL/REFUSED) `attempts` times; libasr returns it.
RETRIED_RCODES: Final = (dns.rcode.SERVFAIL, dns.rcode.REFUSED, dns.rcode.NOTIMP)


@dataclass(slots=True, init=False)  # not frozen: made per question a cache cannot answer (mxsim/mta/results.py)
class StubAnswer:
    """One question the MTA asked, as its library reported it."""

    qname: dns.name.Name
    qtype: dns.rdatatype.RdataType
    status: Herrno
    response: DnsReply | None  # None: the resolver never answered
    at: float
    resolved: tuple[Resolved, ...]  # the model's evidence: how the resolver got it

    def __init__(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType, status: Herrno, response: DnsReply | None,
                 at: float, resolved: tuple[Resolved, ...] = ()) -> None:
        self.qname = qname
        self.qtype = qtype
        self.status = status
        self.response = response
        self.at = at
        self.resolved = resolved

    @property
    def rcode(self) -> dns.rcode.Rcode | None:
        return None if self.response is None else self.response.rcode()

    def records(self, rdtype: dns.rdatatype.RdataType) -> list[dns.rrset.RRset]:
        """Every RRset of `rdtype` in the answer, whatever its owner (as the MTAs read it).

        Only a successful lookup hands the answer to the MTA: glibc's res_query returns
        -1 for NXDOMAIN even when the reply carries a CNAME chain (a dangling CNAME).
        """
        if self.response is None or self.status != Herrno.SUCCESS:
            return []
        return [rrset for rrset in self.response.answer if rrset.rdtype == rdtype]

    def cnames(self) -> list[tuple[dns.name.Name, dns.name.Name]]:
        """(owner, target) of each CNAME RR in answer order."""
        found = []
        for rrset in self.records(dns.rdatatype.CNAME):
            for rdata in rrset:
                assert isinstance(rdata, dns.rdtypes.ANY.CNAME.CNAME)
                found.append((rrset.name, rdata.target))
        return found


# A source of recursive answers: the model's emulated resolver, or a real one over the wire.
# Called with the question and how long the library waits for an answer.
Ask = Callable[[dns.name.Name, dns.rdatatype.RdataType, float], Step[tuple[DnsReply | None, Resolved | None]]]
# The same source's answer when it has one at hand (a resolver's cache hit): what `Ask`
# would return without yielding, or None when only `Ask` can tell.
AtHand = Callable[[dns.name.Name, dns.rdatatype.RdataType], tuple[DnsReply, Resolved] | None]
# How long each library waits for the recursive resolver before TRY_AGAIN:
# glibc: RES_TIMEOUT 5 s x RES_DFLRETRY 2 to the one nameserver (resolv/resolv.h; docs/mta-behaviour.md#glibc);
# libasr: 5 s, 4 rounds, doubling: 5 + 10 + 20 + 40 s (asr.c; docs/mta-behaviour.md#libasr).
WAIT: Final = {Library.GLIBC: 10.0, Library.LIBASR: 75.0}


Lookup = tuple[tuple["StubAnswer", ...], "StubAnswer"]  # what one query logged, and its answer


class SameInstant:
    """Lookups answered wholly from one resolver's cache, remembered for as long as neither
    the clock nor the cache moves: asked again meanwhile, they log and return the very same
    answers (a queue run retries many messages in the same second, each asking the same
    questions). Keyed on the name's labels as written and the library that asked."""

    __slots__ = ("_answers", "_asked", "_at", "_cache", "_generation", "_now")

    def __init__(self, cache: Cache, clock_now: Callable[[], float]) -> None:
        self._cache = cache
        self._now = clock_now
        self._at = -1.0
        self._generation = -1
        self._asked = -1  # the cache's generation when the lookup now under way began
        self._answers: dict[tuple[tuple[bytes, ...], dns.rdatatype.RdataType, Library, int], Lookup] = {}

    def _current(self) -> bool:
        """Whether what is remembered still holds; if not, it is forgotten."""
        now, generation = self._now(), self._cache.generation
        if now == self._at and generation == self._generation:
            return True
        self._answers.clear()
        self._at, self._generation = now, generation
        return False

    def get(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType, library: Library, tries: int) -> Lookup | None:
        self._asked = self._cache.generation
        return self._answers.get((qname.labels, qtype, library, tries)) if self._current() else None

    def put(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType, library: Library, tries: int,
            lookup: Lookup) -> None:
        """Remember a lookup, unless reading the cache changed it: a resolver that serves an
        expired record, or prefetches, drops the entry as it answers, so the same question
        asked again would not get the same answer."""
        if self._cache.generation != self._asked:
            return
        self._current()
        self._answers[(qname.labels, qtype, library, tries)] = lookup


class Stub:
    """The MTA's resolver library over one recursive resolver; keeps the question log."""

    def __init__(self, ask: Ask, library: Library, clock_now: Callable[[], float], attempts: int = 2,
                 at_hand: AtHand | None = None, instant: SameInstant | None = None) -> None:
        self.ask = ask
        # With `at_hand`, answers the resolver holds skip the generators in between, and
        # the 512-byte check is remembered per cached reply (mxsim.memo switches both off);
        # with `instant` too, a lookup repeated while nothing has changed is not redone.
        self.at_hand = at_hand
        self.instant = instant if at_hand is not None else None
        self._truncated = _truncated if at_hand is None else _truncated_remembered
        self.library = library
        self.now = clock_now
        self.attempts = attempts  # glibc RES_DFLRETRY: resolv.conf `options attempts:`
        self.log: list[StubAnswer] = []

    def query(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> Step[StubAnswer]:
        """One lookup. Every question the library sends is logged: the resolver sees each one.

        glibc sends a question again after SERVFAIL/REFUSED (res_send goes round the
        servers `attempts` times), so the resolver's log shows it twice (confirmed
        against unbound's query log with Postfix, Exim and Sendmail: docs/agreement.md).
        """
        library = self.library
        tries = self.attempts if library == Library.GLIBC else 1
        instant = self.instant
        if instant is not None:
            known = instant.get(qname, qtype, library, tries)
            if known is not None:
                self.log.extend(known[0])
                return known[1]
        hit = None
        if self.at_hand is not None:
            # The common case, in one pass: a cached reply that fits and needs no retry.
            at = self.now()
            hit = self.at_hand(qname, qtype)
            if hit is not None:
                response = hit[0]
                if response.rcode_value not in RETRIED_RCODES and not self._truncated(qname, response):
                    answer = StubAnswer(qname, qtype, STATUS[library](response), response, at, (hit[1],))
                    self.log.append(answer)
                    if instant is not None:
                        instant.put(qname, qtype, library, tries, ((answer,), answer))
                    return answer
        return (yield from self._query(qname, qtype, tries, hit))

    def _query(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType, tries: int,
               first: tuple[DnsReply, Resolved] | None) -> Step[StubAnswer]:
        """`query` in full; `first`: what the resolver had at hand when the lookup began
        (None: nothing, so the first try asks)."""
        instant = self.instant
        logged = len(self.log)
        asked = False  # a question went to the resolver: time passed, the answer is not reusable
        answer: StubAnswer | None = None
        hit: tuple[DnsReply, Resolved] | None
        for round_ in range(tries):
            at = self.now()
            hit = first if round_ == 0 else self._at_hand(qname, qtype)
            asked = asked or hit is None
            response, resolved = hit if hit is not None else (yield from self.ask(qname, qtype, WAIT[self.library]))
            evidence = (resolved,) if resolved is not None else ()
            answer = StubAnswer(qname, qtype, STATUS[self.library](response), response, at, evidence)
            self.log.append(answer)
            if response is not None and self._truncated(qname, response):
                # The library sends no EDNS: a reply over 512 bytes comes back with TC over
                # UDP, and the question is sent again over TCP (all four MTAs in the lab).
                at = self.now()
                hit = self._at_hand(qname, qtype)
                asked = asked or hit is None
                response, resolved = hit if hit is not None else (
                    yield from self.ask(qname, qtype, WAIT[self.library]))
                evidence = (resolved,) if resolved is not None else ()
                answer = StubAnswer(qname, qtype, STATUS[self.library](response), response, at, evidence)
                self.log.append(answer)
            if response is None or response.rcode() not in RETRIED_RCODES:
                break
        assert answer is not None
        if instant is not None and not asked:
            instant.put(qname, qtype, self.library, tries, (tuple(self.log[logged:]), answer))
        return answer

    def _at_hand(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> tuple[DnsReply, Resolved] | None:
        return self.at_hand(qname, qtype) if self.at_hand is not None else None
