"""How many samples `mxsim check --samples auto` takes, and when it may stop early.

A farm behind one server address draws a backend for each query: a backend answering a
share p of the queries is absent from n queries with probability (1 - p)^n. `--samples
auto` first takes, from every address, the whole rounds that make at least
n = ceil(ln P / ln(1 - p)) queries (P: `--miss`, p: `--min-share`). If every reply then
agrees (for each type: the same rcode, AA flag, records and TTLs, from every address,
whichever backend sent it) and every query was answered, it stops there: a backend that
answers otherwise, with a share of at least p, would have shown with probability at
least 1 - P. Anything else (answers that differ, a caching backend's TTL counting down,
a query lost) goes on to the full count, so the shares of what differs are measured as
with a fixed `--samples`. Backends (NSIDs) that answer alike are one behaviour: a uniform
farm stops early. The derivation assumes each query's backend is drawn afresh, as a load
balancer in front of a farm does; one that pins a client to a backend shows one backend
per address however many queries are sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

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


def detection_rounds(min_share: float, miss: float) -> int:
    """Whole rounds making at least `detection_queries` per address (one TCP query, then
    `PER_ROUND` a round)."""
    return max(1, math.ceil((detection_queries(min_share, miss) - 1) / PER_ROUND))


def queries_per_address(rounds: int) -> int:
    return 1 + PER_ROUND * rounds


def miss_probability(min_share: float, rounds: int) -> float:
    """The probability that a backend of share `min_share` answers none of `rounds` rounds at one address."""
    return float((1 - min_share) ** queries_per_address(rounds))


def _signature(sample: Sample) -> Signature | None:
    reply = sample.reply
    if reply is None:
        return None
    answer = tuple(sorted((key, rrset.ttl) for rrset, key in reply.keyed()))
    return (str(reply.rcode), reply.aa, reply.edns, answer)


def uniform(samples: Iterable[Sample]) -> bool:
    """Every query answered, and for each type one reply from every address and backend
    (records, TTLs, rcode, AA flag and EDNS alike): nothing left for more samples to measure."""
    seen: dict[dns.rdatatype.RdataType, Signature] = {}
    for sample in samples:
        signature = _signature(sample)
        if signature is None or sample.failures or sample.skipped:
            return False
        if seen.setdefault(sample.query.qtype, signature) != signature:
            return False
    return True


__all__ = [
    "FULL_ROUNDS",
    "MIN_SHARE",
    "MISS",
    "PER_ROUND",
    "detection_queries",
    "detection_rounds",
    "miss_probability",
    "queries_per_address",
    "uniform",
]
