"""Which answer a behaviour group's delivery path needs and could not get (audit/lost.py),
over hand-built replies: the domain's MX first, its A and AAAA only for an implicit MX."""

from __future__ import annotations

import dns.rcode

from mxsim.audit.lost import group_lost
from mxsim.audit.probes import Sample, Unusable
from mxsim.transport.base import NetError
from tests.audit.replies import A1, NS1, TYPES, ZONE, analysed, observed, sample

SILENT = (NetError.TIMEOUT,) * 3


def answered(address: str, *, without: tuple[str, ...] = (), nsid: str = "ns-a",
             records: dict[str, list[str]] | None = None) -> list[Sample]:
    """One reply per type (RD clear), the types in `without` left unasked."""
    zone = {**ZONE, **(records or {})}
    return [sample(address, t, observed(t, zone[t], nsid=nsid)) for t in TYPES if t not in without]


def lost_of(samples: list[Sample]) -> str | None:
    analysis = analysed(samples, {A1: [NS1]})
    (group,) = analysis.groups
    found = group_lost(analysis, group)
    return None if found is None else found.why


def test_mx_answered_needs_nothing_more() -> None:
    assert lost_of(answered(A1)) is None


def test_mx_that_never_came_is_lost_with_its_failures() -> None:
    why = lost_of([*answered(A1, without=("MX",)), sample(A1, "MX", None, failures=SILENT)])
    assert why == "ns1.example.net [192.0.2.53] never answered MX (timeout 3)"


def test_mx_truncated_even_over_tcp_is_lost() -> None:
    why = lost_of([*answered(A1, without=("MX",)), sample(A1, "MX", None, failures=(Unusable.TRUNCATED,) * 3)])
    assert why is not None and "answered MX only truncated, even over TCP" in why


def test_servfail_to_mx_is_a_lame_server() -> None:
    analysis = analysed([*answered(A1, without=("MX",), nsid="ns-a"),
                         sample(A1, "MX", observed("MX", [], rcode=dns.rcode.SERVFAIL, aa=False, nsid="ns-a"))],
                        {A1: [NS1]})
    zone = next(g for g in analysis.groups if g.flavour == "zone")
    found = group_lost(analysis, zone)
    assert found is not None and found.lame
    assert found.why == "ns1.example.net [192.0.2.53] answered SERVFAIL when asked MX (a lame server)"


def test_a_farm_member_never_drawn_for_mx_is_unknown_not_mx_less() -> None:
    """Backend ns-b answered other types only: what it says to MX was never seen."""
    samples = [*answered(A1, nsid="ns-a"), *answered(A1, nsid="ns-b", without=("MX",),
                                                     records={"TXT": ['example.org. 3600 TXT "other"']})]
    analysis = analysed(samples, {A1: [NS1]})
    by_backend = {g.backends()[0]: group_lost(analysis, g) for g in analysis.groups}
    assert by_backend["ns-a"] is None
    lost_b = by_backend["ns-b"]
    assert lost_b is not None and "backend ns-b was never drawn for example.org MX" in lost_b.why


def test_no_mx_needs_the_domains_addresses_one_lost_is_unknown() -> None:
    """NODATA for MX: the implicit MX rests on A and AAAA; A NODATA and AAAA lost is unknown."""
    samples = [*answered(A1, without=("AAAA",), records={"MX": []}), sample(A1, "AAAA", None, failures=SILENT)]
    assert lost_of(samples) == "ns1.example.net [192.0.2.53] never answered AAAA (timeout 3)"


def test_no_mx_and_an_address_answered_needs_nothing_more() -> None:
    samples = [*answered(A1, without=("AAAA",), records={"MX": [], "A": ["example.org. 300 A 192.0.2.80"]}),
               sample(A1, "AAAA", None, failures=SILENT)]
    assert lost_of(samples) is None
