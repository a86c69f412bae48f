"""`resolver.population` and `resolver.warm` (docs/scenario-format.md#resolver): YAML -> frozen values.

Each kind takes its options by the names its own configuration uses (unbound.conf(5),
BIND's named.conf), so a reader can copy them from a real server's configuration.
"""

from __future__ import annotations

import math
from dataclasses import replace

from mxsim.errors import shown
from mxsim.scenario.resolver_kinds import (
    DEFAULT_CACHES,
    DEFAULT_POLICY,
    KIND_OPTIONS,
    CachePolicy,
    PopulationSpec,
    ResolverKind,
)
from mxsim.scenario.yamlnodes import Entry, Node, did_you_mean
from mxsim.units import parse_duration

MAX_CACHES = 100_000  # in all: each cache is a resolver held in memory for the whole replay
_SHARE_SLACK = 1e-6
_COMMON_KEYS = ("kind", "share", "caches")
UNBOUND_PREFETCH_LEFT = 0.1  # unbound util/data/msgreply.h: PREFETCH_TTL_CALC(ttl) = ttl - ttl/10


def read_population(node: Node) -> tuple[PopulationSpec, ...]:
    """The list of kinds; their shares add up to 1 and the caches to at most MAX_CACHES."""
    items = node.items("a list of resolver kinds, e.g. [{kind: unbound, share: 0.6, caches: 100}]")
    if not items:
        raise node.error("`population` lists no resolver kind; expected at least one {kind, share, caches}")
    kinds = tuple(_member(item) for item in items)
    total = sum(kind.share for kind in kinds)
    if abs(total - 1.0) > _SHARE_SLACK:
        raise node.error(f"the shares of `population` add up to {total:g}; expected 1")
    caches = sum(kind.caches for kind in kinds)
    if caches > MAX_CACHES:
        raise node.error(f"`population` has {caches} caches in all; at most {MAX_CACHES} are allowed")
    return kinds


def _member(node: Node) -> PopulationSpec:
    mapping = node.mapping("a resolver kind {kind, share, caches, options}")
    kind_entry = mapping.get("kind")
    if kind_entry is None:
        raise node.error("a `population` entry needs a `kind`: " + ", ".join(k.value for k in ResolverKind))
    kind = _kind(kind_entry.value)
    mapping.check_keys((*_COMMON_KEYS, *KIND_OPTIONS[kind]), f"a resolver of kind {kind.value}")
    share_entry = mapping.get("share")
    if share_entry is None:
        raise node.error(f"the {kind.value} entry of `population` needs a `share` between 0 and 1")
    share = share_entry.value.number("`share`")
    if not 0.0 < share <= 1.0:
        raise share_entry.value.error(f"expected a share above 0 and at most 1, got {share:g}")
    caches_entry = mapping.get("caches")
    caches = DEFAULT_CACHES[kind] if caches_entry is None else _count(caches_entry.value)
    policy = DEFAULT_POLICY[kind]
    for entry in mapping:
        if entry.key not in _COMMON_KEYS:
            policy = _option(kind, entry, policy)
    if policy.min_ttl > policy.max_ttl:
        raise node.error(f"cache-min-ttl {policy.min_ttl} is above cache-max-ttl {policy.max_ttl}")
    return PopulationSpec(kind=kind, share=share, caches=caches, line=node.line, policy=policy)


def _kind(node: Node) -> ResolverKind:
    text = node.text("a resolver kind")
    for kind in ResolverKind:
        if kind.value == text.strip().lower():
            return kind
    choices = [kind.value for kind in ResolverKind]
    raise node.error(f"unknown resolver kind `{shown(text)}`; {did_you_mean(text, choices)}")


def _count(node: Node) -> int:
    value = node.value if node.is_scalar else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise node.error(f"expected a whole number of caches (1 or more), got {node.describe()}")
    return value


def _seconds(node: Node, what: str) -> int:
    value = node.value if node.is_scalar else None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise node.error(f"expected a number of seconds or a duration such as 1h for `{what}`")
    try:
        return math.floor(parse_duration(value))
    except ValueError as exc:
        raise node.error(f"`{what}`: {shown(str(exc))}") from None


def _option(kind: ResolverKind, entry: Entry, policy: CachePolicy) -> CachePolicy:
    node, key = entry.value, entry.key
    if key in ("cache-max-ttl", "max-cache-ttl", "max-ttl"):
        return replace(policy, max_ttl=_seconds(node, key))
    if key == "cache-min-ttl":
        return replace(policy, min_ttl=_seconds(node, key))
    if key == "serve-expired":
        return replace(policy, serve_expired=node.boolean(f"`{key}`"))
    if key in ("serve-expired-ttl", "max-stale-ttl"):
        return replace(policy, stale_limit=_seconds(node, key))
    if key == "stale-answer-enable":
        return replace(policy, stale_on_failure=node.boolean(f"`{key}`"))
    if key == "prefetch" and kind is ResolverKind.UNBOUND:
        return replace(policy, prefetch_left=UNBOUND_PREFETCH_LEFT if node.boolean("`prefetch`") else 0.0)
    if key == "prefetch":
        return _bind_prefetch(node, policy)
    raise entry.error(f"`{key}` is not an option of {kind.value}")  # unreachable: keys were checked


def _bind_prefetch(node: Node, policy: CachePolicy) -> CachePolicy:
    """BIND's `prefetch TRIGGER [ELIGIBILITY]`; 0 (or false) turns it off."""
    if node.is_scalar and isinstance(node.value, bool):
        return replace(policy, prefetch_trigger=2 if node.boolean("`prefetch`") else 0)
    words = node.text("`prefetch` as BIND writes it: TRIGGER [ELIGIBILITY], e.g. 2 9").split()
    if not 1 <= len(words) <= 2 or not all(word.isdigit() for word in words):
        raise node.error(f"expected `prefetch: TRIGGER [ELIGIBILITY]` (seconds, e.g. 2 9), got {node.describe()}")
    # BIND lowers a trigger above 10 to 10 and raises an eligibility below trigger + 6 to that.
    trigger = min(int(words[0]), 10)
    eligible = max(int(words[1]) if len(words) == 2 else policy.prefetch_eligible, trigger + 6)
    return replace(policy, prefetch_trigger=trigger, prefetch_eligible=eligible)
