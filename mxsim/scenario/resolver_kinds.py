"""Kinds of senders' resolvers and how each keeps records: frozen values, no YAML here.

A `resolver.population` entry names a kind, its share of the senders, how many independent
caches it has, and the kind's own cache options by their own names (docs/resolver-population.md
gives each option's source). What the options do is `mxsim.resolver.policy`'s business.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ResolverKind(StrEnum):
    UNBOUND = "unbound"
    BIND = "bind"
    PUBLIC_ANYCAST = "public-anycast"  # a large public service: many caches behind one address


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """What a cache does with TTLs: clamps, stale answers, early refresh."""

    min_ttl: int = 0  # unbound cache-min-ttl
    max_ttl: int = 86400  # unbound cache-max-ttl; BIND max-cache-ttl
    serve_expired: bool = False  # unbound serve-expired: an expired answer first, the refresh behind it
    stale_on_failure: bool = False  # BIND stale-answer-enable: an expired answer only when the refresh fails
    stale_limit: int = 0  # seconds past expiry a stale answer may be served; 0: no limit
    prefetch_left: float = 0.0  # refresh once a hit finds at most this share of the TTL left (unbound: 0.1)
    prefetch_trigger: int = 0  # BIND prefetch: refresh once at most this many seconds are left
    prefetch_eligible: int = 0  # BIND prefetch: only records whose TTL was at least this


# Each kind's options by their own names, with the kind's defaults (the sources: docs/resolver-population.md).
KIND_OPTIONS: dict[ResolverKind, tuple[str, ...]] = {
    ResolverKind.UNBOUND: ("cache-min-ttl", "cache-max-ttl", "serve-expired", "serve-expired-ttl", "prefetch"),
    ResolverKind.BIND: ("max-cache-ttl", "stale-answer-enable", "max-stale-ttl", "prefetch"),
    ResolverKind.PUBLIC_ANYCAST: ("max-ttl",),
}

DEFAULT_POLICY: dict[ResolverKind, CachePolicy] = {
    ResolverKind.UNBOUND: CachePolicy(max_ttl=86400),
    ResolverKind.BIND: CachePolicy(max_ttl=604800, stale_limit=43200, prefetch_trigger=2, prefetch_eligible=9),
    ResolverKind.PUBLIC_ANYCAST: CachePolicy(max_ttl=21600),
}

DEFAULT_CACHES = {ResolverKind.UNBOUND: 1, ResolverKind.BIND: 1, ResolverKind.PUBLIC_ANYCAST: 400}


@dataclass(frozen=True, slots=True)
class PopulationSpec:
    """One kind of resolver among the senders: its share of messages, its caches, its options."""

    kind: ResolverKind
    share: float
    caches: int
    line: int
    policy: CachePolicy = CachePolicy()
