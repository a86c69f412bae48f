"""An RRset made from an rdataset without hashing its records again.

dnspython's `RRset.update(rdataset)` adds each record through `Rdataset.add`, which hashes
it (its whole wire form) to keep the set free of duplicates. An rdataset has none, so its
ordered dict of records (dnspython's `Set.items`) is copied as it is: the stored hashes
come along. The model world answers every query with such copies; this is most of what
building an answer costs.
"""

from __future__ import annotations

import dns.name
import dns.rdataset
import dns.rrset


def rrset_of(name: dns.name.Name, rdataset: dns.rdataset.Rdataset) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(name, rdataset.rdclass, rdataset.rdtype, rdataset.covers)
    rrset.items = rdataset.items.copy()
    rrset.ttl = rdataset.ttl
    return rrset
