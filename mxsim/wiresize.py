"""How big a DNS message would be on the wire, bounded from above without encoding it.

Encoding with dnspython costs far more than this bound; the bound is exact for A, AAAA,
TXT and SOA and counts names uncompressed, so "fits" is never wrong.
"""

from __future__ import annotations

from collections.abc import Iterable

import dns.name
import dns.rdata
import dns.rdatatype
import dns.rrset

from mxsim.memo import IdentityMemo

HEADER = 12
OPT_RECORD = 11


def name_length(name: dns.name.Name) -> int:
    return sum(len(label) + 1 for label in name.labels)


FIXED = {dns.rdatatype.A: 4, dns.rdatatype.AAAA: 16}  # addresses: their size is their type's


def rdata_bound(rdata: dns.rdata.Rdata) -> int:
    fixed = FIXED.get(rdata.rdtype)
    if fixed is not None:
        return fixed
    # An Rdata is immutable and shared by every copy of its RRset (a cache hands out
    # copies): measured once per object.
    known = _RDATA_BOUNDS.get(rdata)
    if known is not None:
        return known
    names = [value for value in (getattr(rdata, slot, None) for slot in rdata.__slots__)
             if isinstance(value, dns.name.Name)]
    if names and rdata.rdtype != dns.rdatatype.SOA:
        return _RDATA_BOUNDS.put(rdata, 4 + sum(name_length(name) for name in names))  # MX, NS, CNAME, PTR
    wire = rdata.to_wire()
    assert wire is not None  # without a file argument, to_wire returns the bytes
    return _RDATA_BOUNDS.put(rdata, len(wire))


def size_bound(question: dns.name.Name | None, sections: Iterable[dns.rrset.RRset], *, edns: bool = True) -> int:
    """Upper bound of the wire size of a message with this question and these RRsets."""
    size = HEADER + (OPT_RECORD if edns else 0)
    if question is not None:
        size += name_length(question) + 4
    for rrset in sections:
        size += rrset_bound(rrset)
    return size


def rrset_bound(rrset: dns.rrset.RRset) -> int:
    """Upper bound of an RRset's records on the wire, owner names uncompressed.

    Remembered per RRset object: a stub asks whether the same cached answer fits in 512
    bytes at every lookup (replay: hundreds of thousands of times). The record count is
    part of the key, so an RRset that grew since is measured again.
    """
    known = _RRSET_BOUNDS.get(rrset, len(rrset))
    if known is not None:
        return known
    owner = name_length(rrset.name) + 10
    return _RRSET_BOUNDS.put(rrset, sum(owner + rdata_bound(rdata) for rdata in rrset), len(rrset))


_RRSET_BOUNDS: IdentityMemo[int] = IdentityMemo(8192)
_RDATA_BOUNDS: IdentityMemo[int] = IdentityMemo(8192)
