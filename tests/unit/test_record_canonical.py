"""An RRset in lower case already is its own canonical form; any other is read back in lower case."""

from __future__ import annotations

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from mxsim.audit.record import canonical

CASES = [
    ("zone.example.", "MX", ["10 mx1.provider.example.", "20 mx2.provider.example."]),
    ("Zone.EXAMPLE.", "MX", ["10 MX1.provider.example."]),
    ("zone.example.", "SOA", ["ns1.farm.example. hostmaster.farm.example. 1 3600 600 86400 900"]),
    ("zone.example.", "SOA", ["NS1.farm.example. hostmaster.farm.example. 1 3600 600 86400 900"]),
    ("zone.example.", "TXT", ['"v=spf1 -all"', '"Mixed Case stays"']),
    ("WWW.zone.example.", "A", ["192.0.2.1", "192.0.2.2"]),
    ("zone.example.", "AAAA", ["2001:db8::1"]),
    ("zone.example.", "CNAME", ["Sites.Web.example."]),
]


def _reference(rrset: dns.rrset.RRset) -> dns.rrset.RRset:
    """What canonical made of every RRset before: its text read back, names in lower case."""
    keep = rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.TXT)
    texts = [r.to_text() if keep else r.to_text().lower() for r in rrset]
    return dns.rrset.from_text_list(rrset.name.canonicalize(), rrset.ttl, rrset.rdclass, rrset.rdtype, texts)


def test_canonical_is_the_rrset_read_back_in_lower_case() -> None:
    for owner, rdtype, texts in CASES:
        rrset = dns.rrset.from_text_list(owner, 300, "IN", rdtype, texts)
        made, expected = canonical(rrset), _reference(rrset)
        assert made == expected and made.ttl == expected.ttl and made.covers == expected.covers
        assert made.name.labels == expected.name.labels  # the owner's case too (== ignores it)
        assert sorted(r.to_text() for r in made) == sorted(r.to_text() for r in expected)
        unchanged = owner == owner.lower() and (rdtype in ("A", "AAAA", "TXT") or all(t == t.lower() for t in texts))
        assert (made is rrset) == unchanged  # nothing to change: not copied
