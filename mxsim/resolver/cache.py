"""The recursive resolver's cache: RRsets and negative answers by TTL, on a clock.

Timing follows what LAB-NOTES.md observed of unbound 1.17: time in whole seconds, an
entry fetched at t is served while the current second is at most floor(t) + TTL. A
CNAME answer is rebuilt from the record cache link by link, so a cached CNAME outlives
a shorter-lived answer at its target (the farm is not asked again while it lives).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

Key = tuple[dns.name.Name, dns.rdatatype.RdataType]


@dataclass(frozen=True, slots=True)
class Negative:
    rcode: dns.rcode.Rcode  # NXDOMAIN or NOERROR (NODATA)
    soa: dns.rrset.RRset | None


@dataclass(slots=True)
class _Entry:
    value: dns.rrset.RRset | Negative
    fetched: float
    ttl: int

    def alive(self, now: float) -> bool:
        return math.floor(now) <= math.floor(self.fetched) + self.ttl

    def remaining(self, now: float) -> int:
        return max(0, math.floor(self.fetched) + self.ttl - math.floor(now))


class Cache:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._rrsets: dict[Key, _Entry] = {}
        self._negative: dict[Key, _Entry] = {}
        self._nxdomain: dict[dns.name.Name, _Entry] = {}

    def clear(self) -> None:
        self._rrsets.clear()
        self._negative.clear()
        self._nxdomain.clear()

    def put(self, rrset: dns.rrset.RRset, now: float) -> None:
        if self.enabled:
            self._rrsets[(rrset.name, rrset.rdtype)] = _Entry(rrset, now, rrset.ttl)

    def put_infrastructure(self, rrset: dns.rrset.RRset, now: float) -> None:
        """NS sets and glue: kept even without an answer cache, for the length of one run.

        A resolver with its cache "off" (SCENARIO.md `resolver.cache: false`) still has
        to remember a referral while it follows it.
        """
        self._rrsets[(rrset.name, rrset.rdtype)] = _Entry(rrset, now, rrset.ttl)

    def put_negative(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, negative: Negative, now: float
    ) -> None:
        if not self.enabled:
            return
        ttl = negative.soa.ttl if negative.soa is not None else 0
        entry = _Entry(negative, now, ttl)
        if negative.rcode == dns.rcode.NXDOMAIN:
            self._nxdomain[name] = entry
        else:
            self._negative[(name, rdtype)] = entry

    def get(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, now: float
    ) -> dns.rrset.RRset | None:
        entry = self._rrsets.get((name, rdtype))
        if entry is None:
            return None
        if not entry.alive(now):
            del self._rrsets[(name, rdtype)]
            return None
        assert isinstance(entry.value, dns.rrset.RRset)
        rrset: dns.rrset.RRset = entry.value.copy()
        rrset.ttl = entry.remaining(now)
        return rrset

    def get_negative(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, now: float
    ) -> Negative | None:
        entry = _live(self._nxdomain, name, now) or _live(self._negative, (name, rdtype), now)
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
    entry = table.get(key)
    if entry is not None and not entry.alive(now):
        del table[key]
        return None
    return entry
