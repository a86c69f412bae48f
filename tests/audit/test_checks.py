"""The checks as pure functions over hand-built replies: what each finding needs, and what
must never raise one (a timeout is unknown, not missing data)."""

from __future__ import annotations

import dns.name
import dns.rcode
import dns.rdatatype

from mxsim.audit.checks import (
    ProbeState,
    countdown,
    dns_findings,
    mx_findings,
    probe_state,
)
from mxsim.audit.probes import Delegation, Sample
from mxsim.transport.base import ConnectResult, DnsReply, NetError, Reply, SmtpSession
from tests.audit.replies import A1, A2, DOMAIN, NS1, NS2, TYPES, analysed, healthy, observed, sample

MISSING = {"CONS01_MX", "CONS02_TXT", "CONS03_SOA", "CONS04_NS", "CONS05_ADDRESS", "SPF01_MISSING",
           "SPF04_NONE", "MX03_TARGET_NO_ADDRESS", "MX05_NO_MX", "NS01_SILENT", "APEX01_CNAME"}


def ids(samples: list[Sample]) -> list[str]:
    analysis = analysed(samples)
    delegation = Delegation(DOMAIN, dns.name.from_text("org."), (NS1, NS2))
    return sorted(f.id for f in dns_findings(DOMAIN, delegation, analysis, ()))


def test_a_healthy_pair_raises_nothing() -> None:
    assert ids(healthy(A1) + healthy(A2)) == []


def test_timeouts_are_unknown_never_missing_records() -> None:
    """Half the samples of one server got no reply at all: they count as unknown."""
    lossy = []
    for index, item in enumerate(healthy(A2, rounds=8)):
        if index % 2:
            lossy.append(sample(A2, dns.rdatatype.to_text(item.query.qtype), None, rd=item.query.rd,
                                failures=(NetError.TIMEOUT,) * 3))
        else:
            lossy.append(item)
    samples = healthy(A1) + lossy
    found = ids(samples)
    assert not set(found) & MISSING, found
    assert "NS03_PACKET_LOSS" in found
    view = analysed(samples).view(A2)
    assert view.unknown == len(lossy) // 2 and view.answered == len(lossy) // 2


def test_a_silent_server_is_unknown_and_says_so() -> None:
    silent = [sample(A2, t, None, failures=(NetError.TIMEOUT,) * 3) for t in TYPES]
    found = ids(healthy(A1) + silent)
    assert "NS01_SILENT" in found
    assert not set(found) & (MISSING - {"NS01_SILENT"}), found


def test_apex_cname_missing_aa_and_inconsistent_mx() -> None:
    chain = ["example.org. 900 CNAME www.example.com.", "www.example.com. 900 CNAME web.example.net."]
    broken = [sample(A2, t, observed(t, chain, nsid="ns-b", aa=not rd, at=float(i)), rd=rd)
              for i, t in enumerate(TYPES) for rd in (False, True)]
    found = ids(healthy(A1) + healthy(A2) + broken)
    for expected in ("APEX01_CNAME", "AA02_NOT_AUTHORITATIVE_RD", "CONS01_MX", "CONS02_TXT", "SPF01_MISSING",
                     "NS07_FARM"):
        assert expected in found, (expected, found)
    assert "AA01_NOT_AUTHORITATIVE" not in found  # AA is set without RD: only the RD-set finding


def test_ttl_countdown_and_skew_are_apart() -> None:
    falling = [sample(A2, "MX", observed("MX", [f"example.org. {3600 - i} MX 10 mx.example.org."],
                                         nsid="ns-b", at=float(i))) for i in range(4)]
    found = ids(healthy(A1) + falling)
    assert "TTL01_COUNTDOWN" in found and "CONS01_MX" not in found
    skewed = [sample(A2, "MX", observed("MX", ["example.org. 3599 MX 10 mx.example.org."], nsid="ns-b"))]
    found = ids(healthy(A1) + skewed)
    assert "TTL02_SKEW" in found and "CONS01_MX" not in found  # same data: not inconsistent


def test_countdown_needs_time_to_pass() -> None:
    assert countdown([(0.0, 900), (1.0, 899), (2.5, 898)])
    assert countdown([(0.0, 300), (1.0, 299), (2.0, 300)])  # counted down, then refilled to the top
    assert not countdown([(0.0, 900), (1.0, 900)])
    assert not countdown([(0.0, 900), (0.1, 600)])  # fell faster than time: two TTLs, not a clock
    assert not countdown([(0.0, 600), (1.0, 900), (2.0, 300)])


def test_lame_answers_and_spf() -> None:
    refused = [sample(A2, t, observed(t, [], rcode=dns.rcode.REFUSED, aa=False)) for t in TYPES]
    assert "NS02_LAME" in ids(healthy(A1) + refused)
    two = ['example.org. 3600 TXT "v=spf1 mx -all"', 'example.org. 3600 TXT "v=spf1 a -all"']
    multiple = [sample(a, "TXT", observed("TXT", two, nsid="ns-a")) for a in (A1, A2)]
    assert "SPF03_MULTIPLE" in ids(multiple)
    none = [sample(a, "TXT", observed("TXT", ['example.org. 3600 TXT "hello"'])) for a in (A1, A2)]
    assert "SPF04_NONE" in ids(none)


def test_cname_beside_other_data_in_one_reply() -> None:
    mixed = ["example.org. 900 CNAME www.example.com.", "example.org. 900 MX 10 mx.example.org."]
    found = ids([*healthy(A1), sample(A2, "MX", observed("MX", mixed, nsid="ns-b"))])
    assert "APEX02_CNAME_AND_OTHER_DATA" in found


def _reply(rcode: dns.rcode.Rcode, *records: str) -> DnsReply:
    from tests.audit.replies import observed as make

    built = make("A", records, rcode=rcode)
    return DnsReply(rcode, built.answer)


def test_mx_targets() -> None:
    mxs = ["example.org. 3600 MX 10 alias.example.org.", "example.org. 3600 MX 20 192.0.2.1.",
           "example.org. 3600 MX 30 gone.example.org.", "example.org. 3600 MX 40 mx.example.org."]
    samples = [sample(a, "MX", observed("MX", mxs)) for a in (A1, A2)]
    name = dns.name.from_text
    a, aaaa = dns.rdatatype.A, dns.rdatatype.AAAA
    facts = {
        (name("alias.example.org."), a): _reply(dns.rcode.NOERROR, "alias.example.org. 300 CNAME mx.example.org.",
                                                "mx.example.org. 300 A 192.0.2.25"),
        (name("alias.example.org."), aaaa): _reply(dns.rcode.NOERROR, "alias.example.org. 300 CNAME mx.example.org."),
        (name("gone.example.org."), a): _reply(dns.rcode.NXDOMAIN),
        (name("gone.example.org."), aaaa): _reply(dns.rcode.NXDOMAIN),
        (name("mx.example.org."), a): _reply(dns.rcode.NOERROR, "mx.example.org. 300 A 192.0.2.25"),
        (name("mx.example.org."), aaaa): None,  # timed out: whether it has an address is unknown
    }
    found = sorted(f.id for f in mx_findings(analysed(samples), facts))
    assert found == ["MX01_TARGET_CNAME", "MX02_TARGET_IP_LITERAL", "MX03_TARGET_NO_ADDRESS"]
    null = [sample(a_, "MX", observed("MX", ["example.org. 3600 MX 0 .", "example.org. 3600 MX 10 mx.example.org."]))
            for a_ in (A1, A2)]
    assert "MX04_NULL_MX_MIXED" in {f.id for f in mx_findings(analysed(null), facts)}
    nomx = [sample(a_, "MX", observed("MX", [])) for a_ in (A1, A2)]
    assert {f.id for f in mx_findings(analysed(nomx), facts)} == {"MX05_NO_MX"}


def test_smtp_tri_state() -> None:
    accepted = SmtpSession(ConnectResult.CONNECTED, 0.1, greeting=Reply(220, "mx ESMTP"), ehlo=Reply(250, "hi"))
    assert probe_state(accepted)[0] == ProbeState.ACCEPTED
    assert probe_state(SmtpSession(ConnectResult.CONNECTED, 0.1, greeting=Reply(554, "no")))[0] == ProbeState.FAILED
    for unknown in (SmtpSession(ConnectResult.TIMEOUT, 30.0), SmtpSession(ConnectResult.REFUSED, 0.0),
                    SmtpSession(ConnectResult.UNREACHABLE, 0.0),
                    SmtpSession(ConnectResult.CONNECTED, 300.0, greeting_timeout=True)):
        assert probe_state(unknown)[0] == ProbeState.UNKNOWN


def test_the_first_round_names_mx_hosts_and_where_a_cname_leads() -> None:
    """What `check` resolves and probes beside the rest of the samples: the MX hosts' addresses
    and every kind of lookup at a CNAME's target; nothing for the null MX, nothing from a timeout."""
    from mxsim.commands.check import HOST_TYPES, _first_round_wanted

    mx = observed("MX", ["example.org. 300 MX 10 mx1.example.net.", "example.org. 300 MX 20 mx2.example.net."])
    cname = observed("A", ["example.org. 300 CNAME web.example.com.", "web.example.com. 300 A 192.0.2.80"])
    null = observed("MX", ["example.org. 300 MX 0 ."])
    wanted = _first_round_wanted([sample(A1, "MX", mx), sample(A2, "A", cname), sample(A1, "MX", null),
                                  sample(A2, "MX", None, failures=(NetError.TIMEOUT,))], DOMAIN)
    names = {name.to_text(): set() for name, _ in wanted}
    for name, rdtype in wanted:
        names[name.to_text()].add(rdtype)
    assert names == {
        "mx1.example.net.": {dns.rdatatype.A, dns.rdatatype.AAAA},
        "mx2.example.net.": {dns.rdatatype.A, dns.rdatatype.AAAA},
        "web.example.com.": set(HOST_TYPES),
    }
