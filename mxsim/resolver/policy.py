"""A cache that keeps records the way one kind of resolver does (docs/resolver-population.md).

On top of `Cache` (whole-second TTLs, a message cache beside the record cache):

- TTL clamps: a record or reply is kept for its TTL raised to the minimum and lowered
  to the maximum (unbound cache-min-ttl/cache-max-ttl, BIND max-cache-ttl).
- prefetch: a hit late in an entry's life (unbound: the last tenth of its TTL, BIND:
  at most `trigger` seconds left of a TTL of at least `eligibility`) is answered from
  the cache and the entry refreshed behind it; the model lets the refresh happen at the
  next lookup, which for the answer a lookup sees is the same.
- serve-expired (unbound): an expired reply is answered at once with a TTL of 30 s and
  refreshed behind it (unbound 1.17's default serve-expired-client-timeout is 0).
- stale-answer-enable (BIND): an expired reply is kept and served, with a TTL of 30 s,
  only when a lookup finds no server that answers (RFC 8767 section 4).
"""

from __future__ import annotations

import math
from typing import Final

import dns.name
import dns.rdatatype
import dns.rrset

from mxsim.names import key
from mxsim.resolver.cache import Cache, Key, _Message
from mxsim.scenario.resolver_kinds import CachePolicy
from mxsim.transport.base import DnsReply

STALE_REPLY_TTL: Final = 30  # unbound serve-expired-reply-ttl, BIND stale-answer-ttl: both default to 30 s


class PolicyCache(Cache):
    def __init__(self, policy: CachePolicy, enabled: bool = True) -> None:
        super().__init__(enabled)
        self.policy = policy
        self._stale: dict[Key, _Message] = {}

    def clamp(self, ttl: int) -> int:
        return min(max(ttl, self.policy.min_ttl), self.policy.max_ttl)

    def put_message(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, reply: DnsReply,
                    now: float) -> None:
        super().put_message(qname, rdtype, reply, now)
        entry = self._messages.get((key(qname), rdtype))
        if entry is not None:
            entry.ttl = self.clamp(entry.ttl)

    def put(self, rrset: dns.rrset.RRset, now: float) -> None:
        super().put(rrset, now)
        self._clamp_rrset(rrset)

    def put_infrastructure(self, rrset: dns.rrset.RRset, now: float) -> None:
        super().put_infrastructure(rrset, now)
        self._clamp_rrset(rrset)

    def _clamp_rrset(self, rrset: dns.rrset.RRset) -> None:
        entry = self._rrsets.get((key(rrset.name), rrset.rdtype))
        if entry is not None:
            entry.ttl = self.clamp(entry.ttl)

    def get_message(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, now: float) -> DnsReply | None:
        slot = (key(qname), rdtype)
        entry = self._messages.get(slot)
        if entry is not None and not entry.alive(now):
            if self.policy.stale_on_failure:
                self._stale[slot] = entry
            if self.policy.serve_expired and self._stale_allowed(entry, now):
                self._refresh_behind(slot, entry)
                return _stale_reply(entry)
        reply = super().get_message(qname, rdtype, now)
        if reply is not None and entry is not None and self._prefetch_due(entry, now):
            self._refresh_behind(slot, entry)
        return reply

    def stale_reply(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, now: float) -> DnsReply | None:
        """The kept expired reply for a lookup that failed, if the policy serves one and it is not too old."""
        if not self.policy.stale_on_failure:
            return None
        entry = self._stale.get((key(qname), rdtype))
        if entry is None or not self._stale_allowed(entry, now):
            return None
        return _stale_reply(entry)

    def _stale_allowed(self, entry: _Message, now: float) -> bool:
        limit = self.policy.stale_limit
        return limit == 0 or math.floor(now) <= math.floor(entry.fetched) + entry.ttl + limit

    def _prefetch_due(self, entry: _Message, now: float) -> bool:
        policy = self.policy
        left = math.floor(entry.fetched) + entry.ttl - math.floor(now)
        if policy.prefetch_left > 0:
            return left <= entry.ttl * policy.prefetch_left
        return policy.prefetch_trigger > 0 and entry.ttl >= policy.prefetch_eligible and left <= policy.prefetch_trigger

    def _refresh_behind(self, slot: Key, entry: _Message) -> None:
        """The next lookup fetches anew: the reply and the records it holds leave the cache."""
        self.generation += 1  # what the cache serves changes: an answer read before no longer holds
        self._messages.pop(slot, None)
        for rrset in entry.reply.answer:
            self._rrsets.pop((key(rrset.name), rrset.rdtype), None)


def _stale_reply(entry: _Message) -> DnsReply:
    def fresh(rrset: dns.rrset.RRset) -> dns.rrset.RRset:
        copy: dns.rrset.RRset = rrset.copy()
        copy.ttl = STALE_REPLY_TTL
        return copy

    reply = entry.reply
    return DnsReply(reply.rcode_value, tuple(fresh(r) for r in reply.answer), tuple(fresh(r) for r in reply.authority))
