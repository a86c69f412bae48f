"""`wiresize`: the bound never says "fits" of a message that does not, and its memo follows the RRset."""

from __future__ import annotations

import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from hypothesis import given, settings
from hypothesis import strategies as st

from mxsim.wiresize import rrset_bound, size_bound

LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20).filter(
    lambda t: not t.startswith("-") and not t.endswith("-"))
NAME = st.lists(LABEL, min_size=1, max_size=4).map(lambda labels: ".".join(labels) + ".example.")
RECORD = st.one_of(
    st.tuples(st.just("A"), st.integers(1, 254).map(lambda n: f"192.0.2.{n}")),
    st.tuples(st.just("AAAA"), st.integers(1, 65535).map(lambda n: f"2001:db8::{n:x}")),
    st.tuples(st.just("MX"), st.tuples(st.integers(0, 100), NAME).map(lambda p: f"{p[0]} {p[1]}")),
    st.tuples(st.just("CNAME"), NAME),
    st.tuples(st.just("TXT"), st.text(alphabet="abc =;", max_size=60).map(lambda t: f'"{t}"')),
    st.tuples(st.just("SOA"), NAME.map(lambda n: f"{n} hostmaster.{n} 1 7200 3600 1209600 300")),
)


@settings(max_examples=200, deadline=None)
@given(NAME, st.lists(st.tuples(NAME, RECORD), min_size=1, max_size=12))
def test_the_bound_is_never_below_the_wire_size(qname: str, records: list[tuple[str, tuple[str, str]]]) -> None:
    query = dns.message.make_query(qname, dns.rdatatype.A, use_edns=False)
    response = dns.message.make_response(query)
    for owner, (rdtype, rdata) in records:
        rrset = response.find_rrset(response.answer, dns.name.from_text(owner), dns.rdataclass.IN,
                                    dns.rdatatype.from_text(rdtype), create=True)
        if rdtype in ("CNAME", "SOA") and len(rrset):
            continue  # singletons
        rrset.add(dns.rdata.from_text("IN", rdtype, rdata), 300)
    actual = len(response.to_wire())
    assert size_bound(dns.name.from_text(qname), response.answer, edns=False) >= actual


def test_the_memo_answers_for_the_same_rrset_and_measures_a_grown_one_again() -> None:
    rrset = dns.rrset.from_text("mx.example.", 300, "IN", "A", "192.0.2.1")
    one = rrset_bound(rrset)
    assert rrset_bound(rrset) == one == len("mx.example.") + 1 + 10 + 4
    rrset.add(dns.rdata.from_text("IN", "A", "192.0.2.2"))
    assert rrset_bound(rrset) == 2 * one
    twin = dns.rrset.from_text("mx.example.", 300, "IN", "A", "192.0.2.1")
    assert rrset_bound(twin) == one  # another object, measured on its own
