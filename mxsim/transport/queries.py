"""Query messages made from one template per kind of question, and their wire form.

dnspython's `make_query` builds each query from nothing: the question RRset, flags from
text, and for EDNS an OPT record rendered through a scratch renderer. A check asks
thousands of questions that differ only in their name, so the parts that do not depend
on the name are made once per (type, RD, EDNS payload) and shared:

- the message: a new `QueryMessage` (its own random ID, as `make_query` gives) with the
  template's flags and OPT record, and only the question made anew;
- its wire form: the template's bytes with the name spliced in. The question's name is
  the first name of a query, written whole (nothing before it to point to), and the OPT
  owner is the root, so the bytes are exactly what `to_wire()` renders, the ID aside
  (tests/unit/test_query_template.py compares them).

The OPT record is shared by every query of a template: nothing here or in dnspython's
rendering changes it, and a message handed to the transport is never changed after.
"""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype

from mxsim.memo import IdentityMemo

_HEADER = 12  # the ID, flags and the four counts; the question's name starts here
_Kind = tuple[dns.rdatatype.RdataType, bool, int | None]  # type, RD, EDNS payload (None: no EDNS)
_TEMPLATES: dict[_Kind, tuple[dns.message.Message, bytes]] = {}
_MADE: IdentityMemo[tuple[dns.message.Message, bytes]] = IdentityMemo(4096)  # a query made here -> its template


def _template(kind: _Kind) -> tuple[dns.message.Message, bytes]:
    known = _TEMPLATES.get(kind)
    if known is None:
        qtype, rd, payload = kind
        if payload is None:
            query = dns.message.make_query(dns.name.root, qtype, use_edns=False)
        else:
            # An empty NSID option asks each server to name itself (RFC 5001).
            query = dns.message.make_query(dns.name.root, qtype, use_edns=0, payload=payload,
                                           options=[dns.edns.GenericOption(dns.edns.OptionType.NSID, b"")])
        if not rd:
            query.flags &= ~dns.flags.RD
        known = _TEMPLATES[kind] = (query, query.to_wire())
    return known


def make_query(qname: dns.name.Name, qtype: dns.rdatatype.RdataType, *, rd: bool,
               payload: int | None) -> dns.message.Message:
    """The query `dns.message.make_query` makes for `qname`/`qtype` (IN), RD as given, and
    with `payload` set, EDNS0 of that payload asking for the NSID; else no EDNS."""
    template, wire = _template((qtype, rd, payload))
    query = dns.message.QueryMessage()
    query.flags = template.flags
    query.find_rrset(query.question, qname, dns.rdataclass.IN, qtype, create=True, force_unique=True)
    query.opt = template.opt
    query.request_payload = template.request_payload
    _MADE.put(query, (template, wire))
    return query


def query_wire(message: dns.message.Message) -> bytes | None:
    """The wire form of a query `make_query` made (its ID as the message's); None for any
    other message, or one changed since beyond its ID (then `to_wire()` renders it)."""
    made = _MADE.get(message)
    if made is None:
        return None
    template, wire = made
    if (message.flags != template.flags or message.opt is not template.opt or len(message.question) != 1
            or message.answer or message.authority or message.additional):
        return None
    name = message.question[0].name.to_wire()  # bytes when given no file to write to
    assert name is not None
    return message.id.to_bytes(2, "big") + wire[2:_HEADER] + name + wire[_HEADER + 1:]
