"""How many samples `mxsim check --samples auto` takes, and when it may stop early.

A farm behind a server address draws a backend for each query. Say a backend answers a
share p_i of the queries to address i, and each of the zone's A addresses gets m queries:
it answers none of them with probability prod_i (1 - p_i)^m <= (1 - p)^(A m), where p is
the mean of the p_i, its share of all the zone's queries (AM-GM), which is the share of
lookups it answers for resolvers that spread theirs evenly over the addresses. So
`--samples auto` takes whole rounds until the zone's addresses together have at least
n = ceil(ln P / ln(1 - p)) queries (P: `--miss`, p: `--min-share`), spread evenly. If
every reply then agrees (for each type: the same rcode, AA flag, records and TTLs, from
every address, whichever backend sent it) and every query was answered, it stops there:
a backend that answers otherwise for a share of at least p of the lookups would have
shown with probability at least 1 - P. Anything else (answers that differ, a caching
backend's TTL counting down, a lost query) goes on to the full count, so the shares of
what differs are measured as with a fixed `--samples`. Backends (NSIDs) that answer alike
are one behaviour: a uniform farm stops early, once every backend seen (by its NSID) has
been compared on every type (until then, one more round at a time). That makes the bound
hold for a backend that differs in one type only (TXT without SPF) when the servers send
NSIDs; without NSIDs such a backend is seen only by that type's queries, a sixth of
them: (1 - p)^(n/6). The derivation assumes
each query's backend is drawn afresh, as a load balancer in front of a farm does; one
that pins a client to a backend shows one backend per address however many queries are
sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import Enum

import dns.rdatatype

from mxsim.audit.probes import SAMPLE_TYPES, Sample

MIN_SHARE = 0.05  # a backend answering 1 query in 20 is found (--min-share)
MISS = 0.001  # ... at worst once in 1,000 zones (--miss)
FULL_ROUNDS = 20  # rounds taken once answers differ: the fixed --samples default
PER_ROUND = len(SAMPLE_TYPES) * 2  # each round asks every type, RD clear and set
Signature = tuple[str, bool, bool, tuple[tuple[object, ...], ...]]


def detection_queries(min_share: float, miss: float) -> int:
    """The fewest queries to one address after which a backend of share `min_share` is
    still unseen with probability at most `miss`: (1 - p)^n <= P."""
    if not 0 < min_share < 1 or not 0 < miss < 1:
        raise ValueError("the share and the miss probability must lie strictly between 0 and 1")
    return math.ceil(math.log(miss) / math.log1p(-min_share))


def detection_rounds(min_share: float, miss: float, addresses: int = 1) -> int:
    """Whole rounds making at least `detection_queries` over `addresses` addresses (each
    gets one TCP query, then `PER_ROUND` a round)."""
    per_address = math.ceil(detection_queries(min_share, miss) / max(1, addresses))
    return max(1, math.ceil((per_address - 1) / PER_ROUND))


def queries_per_address(rounds: int) -> int:
    return 1 + PER_ROUND * rounds


def miss_probability(min_share: float, rounds: int, addresses: int = 1) -> float:
    """At most the probability that a backend answering `min_share` of the lookups answers
    none of `rounds` rounds at `addresses` addresses."""
    return float((1 - min_share) ** (queries_per_address(rounds) * max(1, addresses)))


def _signature(sample: Sample) -> Signature | None:
    reply = sample.reply
    if reply is None:
        return None
    answer = tuple(sorted((key, rrset.ttl) for rrset, key in reply.keyed()))
    return (str(reply.rcode), reply.aa, reply.edns, answer)


class Agreement(Enum):
    AGREE = "agree"  # nothing left to measure: stop
    DIFFERS = "differs"  # something to measure: go on to the full count
    INCOMPLETE = "incomplete"  # all alike so far, but a backend not yet compared on every type: one more round


def agreement(samples: Iterable[Sample]) -> Agreement:
    """Whether more samples have anything to measure.

    They agree when every query was answered, for each type one reply came from every
    address and backend (records, TTLs, rcode, AA flag and EDNS alike), and every backend
    seen (by NSID) was compared on every type asked, so that a difference in one type only
    cannot hide behind a backend that happened not to be asked it.
    """
    seen: dict[dns.rdatatype.RdataType, Signature] = {}
    types_by_nsid: dict[str, set[dns.rdatatype.RdataType]] = {}
    for sample in samples:
        signature = _signature(sample)
        if signature is None or sample.failures or sample.skipped:
            return Agreement.DIFFERS
        if seen.setdefault(sample.query.qtype, signature) != signature:
            return Agreement.DIFFERS
        assert sample.reply is not None
        if sample.reply.nsid is not None:
            types_by_nsid.setdefault(sample.reply.nsid, set()).add(sample.query.qtype)
    if all(types == set(seen) for types in types_by_nsid.values()):
        return Agreement.AGREE
    return Agreement.INCOMPLETE


def uniform(samples: Iterable[Sample]) -> bool:
    return agreement(samples) == Agreement.AGREE


__all__ = [
    "FULL_ROUNDS",
    "MIN_SHARE",
    "MISS",
    "PER_ROUND",
    "Agreement",
    "agreement",
    "detection_queries",
    "detection_rounds",
    "miss_probability",
    "queries_per_address",
    "uniform",
]
