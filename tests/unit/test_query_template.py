"""Queries made from a template are the queries dnspython's make_query makes, to the byte."""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rdatatype
import pytest

from mxsim.transport.queries import make_query, query_wire

NAMES = ["zone00016.org.", "_mta-sts.Zone00016.ORG.", "a.b.c.d.example.", "xn--bcher-kva.example.", "org.", "."]
TYPES = [dns.rdatatype.MX, dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.TXT, dns.rdatatype.SOA,
         dns.rdatatype.NS]


def _reference(qname: dns.name.Name, qtype: dns.rdatatype.RdataType, rd: bool, payload: int | None) -> bytes:
    if payload is None:
        query = dns.message.make_query(qname, qtype, use_edns=False)
    else:
        query = dns.message.make_query(qname, qtype, use_edns=0, payload=payload,
                                       options=[dns.edns.GenericOption(dns.edns.OptionType.NSID, b"")])
    if not rd:
        query.flags &= ~dns.flags.RD
    query.id = 0
    return query.to_wire()


@pytest.mark.parametrize("payload", [None, 1232, 4096])
@pytest.mark.parametrize("rd", [True, False])
def test_template_queries_render_as_make_query_does(rd: bool, payload: int | None) -> None:
    for text in NAMES:
        qname = dns.name.from_text(text)
        for qtype in TYPES:
            query = make_query(qname, qtype, rd=rd, payload=payload)
            query.id = 0
            expected = _reference(qname, qtype, rd, payload)
            assert query.to_wire() == expected  # the message itself
            assert query_wire(query) == expected  # the spliced bytes
            assert query.question[0].name == qname and query.question[0].rdtype == qtype
            assert bool(query.flags & dns.flags.RD) == rd
            assert query.edns == (-1 if payload is None else 0)
            if payload is not None:
                assert query.payload == payload


def test_each_query_has_its_own_question_and_id_and_the_wire_follows_the_id() -> None:
    one = make_query(dns.name.from_text("one.example."), dns.rdatatype.MX, rd=False, payload=1232)
    two = make_query(dns.name.from_text("two.example."), dns.rdatatype.MX, rd=False, payload=1232)
    assert one.question[0].name != two.question[0].name
    one.id, two.id = 0x1234, 0xABCD
    assert query_wire(one) == one.to_wire() and query_wire(two) == two.to_wire()


def test_a_query_changed_after_it_was_made_or_made_elsewhere_has_no_spliced_wire() -> None:
    query = make_query(dns.name.from_text("zone.example."), dns.rdatatype.A, rd=True, payload=None)
    query.flags &= ~dns.flags.RD
    assert query_wire(query) is None  # then the exchanger renders it whole
    assert query_wire(dns.message.make_query("zone.example.", "A")) is None
