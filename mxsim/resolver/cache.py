"""The recursive resolver's cache: RRsets and negative answers by TTL, on a clock.

Timing follows what the lab observed of unbound 1.17 (docs/lab.md#how-unbound-caches): time in whole seconds, an
entry fetched at t is served while the current second is at most floor(t) + TTL. A
CNAME answer is rebuilt from the record cache link by link, so a cached CNAME outlives
a shorter-lived answer at its target (the farm is not asked again while it lives).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Final, TypeVar

import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from mxsim.memo import IdentityMemo
from mxsim.names import NameKey, key
from mxsim.pickling import by_fields
from mxsim.transport.base import DnsReply

Key = tuple[NameKey, dns.rdatatype.RdataType]


@dataclass(frozen=True, slots=True)
class Negative:
    rcode: dns.rcode.Rcode  # NXDOMAIN or NOERROR (NODATA)
    soa: dns.rrset.RRset | None


class _Stored:
    """What any cache entry knows of its time: fetched at `fetched`, served while the
    current second is at most `last`."""

    __slots__ = ("_ttl", "fetched", "last", "since")

    def __init__(self, fetched: float, ttl: int) -> None:
        self.fetched = fetched
        self.since = math.floor(fetched)
        self._ttl = ttl
        self.last = self.since + ttl

    @property
    def ttl(self) -> int:
        return self._ttl

    @ttl.setter
    def ttl(self, ttl: int) -> None:
        """A resolver's TTL bounds (cache-min-ttl, max-cache-ttl) change it after the fact
        (mxsim/resolver/policy.py)."""
        self._ttl = ttl
        self.last = self.since + ttl

    def alive(self, now: float) -> bool:
        return math.floor(now) <= self.last

    def remaining(self, now: float) -> int:
        return max(0, self.last - math.floor(now))


class _Entry(_Stored):
    """A cached RRset or negative answer."""

    __slots__ = ("value",)

    def __init__(self, value: dns.rrset.RRset | Negative, fetched: float, ttl: int) -> None:
        _Stored.__init__(self, fetched, ttl)  # by name: `super()` costs a lookup per entry stored
        self.value = value


class _Message(_Stored):
    """A cached reply; served again and again, so what serving needs is worked out once."""

    __slots__ = ("reply", "served", "token")

    def __init__(self, reply: DnsReply, fetched: float, ttl: int) -> None:
        _Stored.__init__(self, fetched, ttl)
        self.reply = reply
        self.served = reply  # the reply as last served, with its age: served again in the same second
        # What the reply says, TTLs aside, as a number: equal numbers, equal replies
        # (`content_token`). A remembered attempt reads it at every walk; worked out here,
        # once, it is a plain attribute read.
        self.token = reply_token(reply)

    def at_age(self, age: int) -> DnsReply:
        """The reply `age` seconds after it was fetched (a DnsReply is immutable: one per age is enough)."""
        if self.served.age != age:
            reply = self.reply
            self.served = DnsReply(reply.rcode_value, reply.answer, reply.authority, age)
        return self.served


_TOKENS: Final[dict[tuple[object, ...], tuple[int, tuple[object, ...]]]] = {}
_TOKENS_HELD: Final = 65536  # past this many distinct replies, new ones get numbers of their own, unshared
_NEXT_TOKEN: Final = itertools.count(1)


def content_token(reply: DnsReply) -> int:
    """A number for what a reply says to a stub, its TTLs and age aside: the rcode, then each
    section's RRsets by owner (as written), type and records. Two replies get the same
    number only when they say the same; re-fetched, a reply built from the same records
    gets its old number back. Records are immutable and the model serves the same record
    objects each time, so they are told apart by identity (they are kept alive beside the
    number, so an identity is never reused)."""
    key = (reply.rcode_value, _section(reply.answer), _section(reply.authority))
    known = _TOKENS.get(key)
    if known is not None:
        return known[0]
    token = next(_NEXT_TOKEN)
    if len(_TOKENS) < _TOKENS_HELD:
        records = tuple(rdata for rrset in (*reply.answer, *reply.authority) for rdata in rrset)
        _TOKENS[key] = (token, records)
    return token


def reply_token(reply: DnsReply) -> int:
    """`content_token`, worked out once per reply object: a reply the resolver has just
    built is read by the stub (does it fit in 512 bytes?), by the message cache and by a
    remembered attempt (which branch?)."""
    known = _REPLY_TOKENS.get(reply)
    if known is None:
        known = _REPLY_TOKENS.put(reply, content_token(reply))
    return known


_REPLY_TOKENS: Final[IdentityMemo[int]] = IdentityMemo(8192)


def _section(rrsets: tuple[dns.rrset.RRset, ...]) -> tuple[object, ...]:
    return tuple((rrset.name.labels, rrset.rdclass, rrset.rdtype, rrset.covers, tuple(map(id, rrset)))
                 for rrset in rrsets)


class Cache:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._messages: dict[Key, _Message] = {}
        self._rrsets: dict[Key, _Entry] = {}
        self._negative: dict[Key, _Entry] = {}
        self._nxdomain: dict[NameKey, _Entry] = {}
        # Counts every change to what the message cache serves: an answer read from it
        # stays the answer until this moves or the clock does (mxsim.mta.stub.SameInstant).
        self.generation = 0
        # Counts the changes to answers still alive (a reply written over a live one, the
        # cache emptied): without one, a live answer stays until it expires
        # (mxsim.mta.attempt_memo.Lease).
        self.rewritten = 0

    def clear(self) -> None:
        self.generation += 1
        self.rewritten += 1
        self._messages.clear()
        self._rrsets.clear()
        self._negative.clear()
        self._nxdomain.clear()

    def put_message(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, reply: DnsReply,
                    now: float) -> None:
        """A whole reply, alive for the smallest TTL in it (unbound's message cache)."""
        if not self.enabled:
            return
        ttls = [rrset.ttl for rrset in (*reply.answer, *reply.authority)]
        self.generation += 1
        slot = (key(qname), rdtype)
        old = self._messages.get(slot)
        if old is not None and old.alive(now):
            self.rewritten += 1  # another lookup of the same question finished first
        self._messages[slot] = _Message(reply, now, min(ttls) if ttls else 0)

    def messages(self) -> dict[Key, _Message]:
        """The message cache itself, for a reader that checks entries by `token` and `last`
        (mxsim.mta.attempt_memo): it must not change them."""
        return self._messages

    def get_message(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, now: float) -> DnsReply | None:
        slot = (key(qname), rdtype)
        entry = self._messages.get(slot)
        if entry is None:
            return None
        second = math.floor(now)
        if second > entry.last:
            del self._messages[slot]
            return None
        return entry.at_age(second - entry.since)

    def put(self, rrset: dns.rrset.RRset, now: float) -> None:
        if self.enabled:
            self._rrsets[(key(rrset.name), rrset.rdtype)] = _Entry(rrset, now, rrset.ttl)

    def put_infrastructure(self, rrset: dns.rrset.RRset, now: float) -> None:
        """NS sets and glue: kept even without an answer cache, for the length of one run.

        A resolver with its cache "off" (`resolver.cache: false`, docs/scenario-format.md#resolver) still has
        to remember a referral while it follows it.
        """
        self._rrsets[(key(rrset.name), rrset.rdtype)] = _Entry(rrset, now, rrset.ttl)

    def put_negative(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, negative: Negative, now: float
    ) -> None:
        if not self.enabled:
            return
        ttl = negative.soa.ttl if negative.soa is not None else 0
        entry = _Entry(negative, now, ttl)
        if negative.rcode == dns.rcode.NXDOMAIN:
            self._nxdomain[key(name)] = entry
        else:
            self._negative[(key(name), rdtype)] = entry

    def get(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, now: float
    ) -> dns.rrset.RRset | None:
        return self.get_at((key(name), rdtype), now)

    def get_at(self, slot: Key, now: float) -> dns.rrset.RRset | None:
        """`get` by the name's key (`mxsim.names.key`), for a caller that has it already."""
        entry = _live(self._rrsets, slot, now)
        if entry is None:
            return None
        assert isinstance(entry.value, dns.rrset.RRset)
        rrset: dns.rrset.RRset = entry.value.copy()
        rrset.ttl = entry.remaining(now)
        return rrset

    def peek(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, now: float) -> dns.rrset.RRset | None:
        """`get` for a reader of the records alone (delegations, server addresses): the
        RRset as stored, its TTL as fetched, no copy. The caller must not change it."""
        return self.peek_at((key(name), rdtype), now)

    def peek_at(self, slot: Key, now: float) -> dns.rrset.RRset | None:
        """`peek` by the name's key: a delegation step peeks at a dozen names per question."""
        entry = _live(self._rrsets, slot, now)
        if entry is None:
            return None
        assert isinstance(entry.value, dns.rrset.RRset)
        return entry.value

    def get_negative(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, now: float
    ) -> Negative | None:
        return self.negative_at(key(name), rdtype, now)

    def negative_at(self, name_key: NameKey, rdtype: dns.rdatatype.RdataType, now: float) -> Negative | None:
        """`get_negative` by the name's key."""
        entry = _live(self._nxdomain, name_key, now) or _live(self._negative, (name_key, rdtype), now)
        if entry is None:
            return None
        assert isinstance(entry.value, Negative)
        soa = entry.value.soa
        if soa is not None:
            soa = soa.copy()
            soa.ttl = entry.remaining(now)
        return Negative(entry.value.rcode, soa)


K = TypeVar("K")


def _live(table: dict[K, _Entry], key: K, now: float) -> _Entry | None:
    """The stored entry while it lives; an expired one is dropped on the way."""
    entry = table.get(key)
    if entry is not None and math.floor(now) > entry.last:  # `entry.alive`, without the call
        del table[key]
        return None
    return entry


by_fields(globals())  # frozen dataclasses pickle alike in the compiled build (mxsim/pickling.py)
