"""Caches in steady state: what a domain that has received mail for a long time looks like.

`resolver.warm` (docs/scenario-format.md#resolver): every record a delivery's lookups
fetch (the MX set, the address records of its hosts, and the delegations and glue on
the way) is already cached, each with an age drawn uniformly in [0, TTL). For caches
refilled on expiry by a steady stream of lookups, the time since the last fetch is
uniform over the TTL at any moment, which is what the draw reproduces.

The lookups run once, into a template cache, on a clock of their own; each sender's
cache then takes the template's entries, with its own ages (and its own TTL clamps).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import dns.name
import dns.rdatatype

from mxsim.clock import VirtualClock
from mxsim.resolver.cache import Cache, _Entry, _Message
from mxsim.resolver.recursive import RecursiveResolver
from mxsim.scenario.spec import ServerChoice
from mxsim.transport.model import ModelTransport
from mxsim.world import World

_LOOKUPS_ADDRESS = (dns.rdatatype.A, dns.rdatatype.AAAA)


def warm_template(world: World, domain: dns.name.Name, server_choice: ServerChoice, rng: random.Random) -> Cache:
    """A cache holding what one delivery to `domain` would fetch in `world`, fetched at time 0."""
    clock = VirtualClock()
    transport = ModelTransport(world, clock, rng)
    resolver = RecursiveResolver(world.root_hints, clock, rng, server_choice=server_choice)
    mx = transport.run(resolver.resolve(domain, dns.rdatatype.MX)).response
    targets = [rdata.exchange for rrset in mx.answer if rrset.rdtype == dns.rdatatype.MX for rdata in rrset]
    for target in targets or [domain]:
        if target == dns.name.root:  # a null MX names no host
            continue
        for rdtype in _LOOKUPS_ADDRESS:
            transport.run(resolver.resolve(target, rdtype))
    return resolver.cache


def warm_from(template: Cache, cache: Cache, rng: random.Random, clamp: Callable[[int], int] = lambda ttl: ttl) -> None:
    """Fill `cache` with the template's entries, aged as if fetched before time 0.

    Entries that one reply brought (a reply, its records, a referral's NS set and glue)
    were fetched at one instant and share one age, drawn uniformly below the shortest
    TTL among them: a steady cache refetches them together, and an NS set never outlives
    the glue that came with it by more than their TTLs differ.
    """
    tables: list[dict[Any, _Entry]] = [template._rrsets, template._negative, template._nxdomain]
    shortest: dict[float, int] = {}
    for fetched, ttl in [(m.fetched, m.ttl) for m in template._messages.values()] + [
            (e.fetched, e.ttl) for table in tables for e in table.values()]:
        shortest[fetched] = min(shortest.get(fetched, clamp(ttl)), clamp(ttl))
    ages = {fetched: rng.random() * ttl for fetched, ttl in sorted(shortest.items())}
    for slot, message in template._messages.items():
        cache._messages[slot] = _Message(message.reply, -ages[message.fetched], clamp(message.ttl))
    cache.rewritten += 1
    targets: list[dict[Any, _Entry]] = [cache._rrsets, cache._negative, cache._nxdomain]
    for table, target in zip(tables, targets, strict=True):
        for slot, entry in table.items():
            target[slot] = _Entry(entry.value, -ages[entry.fetched], clamp(entry.ttl))
