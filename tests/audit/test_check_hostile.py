"""`mxsim check` against a hostile authoritative server (tests/hostile/dns_server.py) on
127.0.0.0/8: an answer never obtained is unknown, never "no records" or "no such name".

Each misbehaviour would otherwise read as a confident verdict (a bounce for NODATA, a
domain that does not exist). Here the summary says the verdict is unknown and why, no
finding claims absent data, the recorded world fails where the wire failed (so the MTAs
take their timeout/SERVFAIL path: they defer), and `check` exits 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dns.name
import dns.rcode
import pytest

from mxsim.commands.check import CheckConfig, CheckResult, run_check
from mxsim.exits import CheckExit
from mxsim.mta.results import Outcome
from mxsim.mta.stub import Herrno
from mxsim.report import check_json, check_text
from tests.hostile.dns_server import MX_ADDRESS, NS_ADDRESS, HostileDns, Mode, hostile_dns

pytestmark = pytest.mark.lab

DOMAIN = "example.test"
NS1 = f"ns1.example.test [{NS_ADDRESS}]"
UNKNOWN = f"mail to {DOMAIN}: unknown for every lookup"
# Findings that say data is absent, or that state where mail goes: never from a lost answer.
ABSENT = {"MX03_TARGET_NO_ADDRESS", "MX05_NO_MX", "SPF04_NONE", "DEL01_NXDOMAIN", "DEL02_NOT_A_ZONE",
          "PATH01_NOT_DELIVERED", "PATH02_ELSEWHERE", "NS04_NO_TCP"}
FAST = {"smtp": False, "samples": 2, "dns_timeout": 0.2, "retries": 1, "rate": 0.0}


@pytest.fixture(autouse=True)
def short_resolutions(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A wire resolution of a name whose server drops it waits 2 s, not the 10 s of a live check."""
    monkeypatch.setattr("mxsim.commands.check_run.RESOLVE_WAIT", 2.0)
    yield


def check(server: HostileDns, **config: Any) -> CheckResult:
    hints = config.pop("root_hints", server.root_hints)
    return run_check(CheckConfig(server.domain_text, hints, server.destinations, dns_port=server.port,
                                 **{**FAST, **config}))


def check_with(*modes: Mode, **config: Any) -> tuple[CheckResult, HostileDns]:
    with hostile_dns(DOMAIN, modes) as server:
        return check(server, **config), server


def assert_unknown(result: CheckResult, *why: str) -> None:
    """Unknown, with why, in the summary and the report; no finding of absence; exit 2."""
    assert result.summary.startswith(UNKNOWN), result.summary
    for part in why:
        assert part in result.summary, (part, result.summary)
    assert result.unmeasured and all(any(part in reason for reason in result.unmeasured) for part in why)
    assert not {f.id for f in result.findings} & ABSENT, [f.id for f in result.findings]
    assert "no data record" not in check_text.render(result)
    assert check_text.render(result).splitlines()[0] == result.summary
    assert result.exit_code == CheckExit.UNMEASURED
    assert check_json.data(result)["unmeasured"] == list(result.unmeasured)


def assert_lookups_failed(result: CheckResult, name: str) -> None:
    """Every MTA got a failed lookup (TRY_AGAIN) for `name`, never NODATA or NXDOMAIN."""
    owner = dns.name.from_text(name)
    assert result.paths
    for path in result.paths:
        assert path.unknown is not None
        for delivery in path.deliveries:
            statuses = {a.status for a in delivery.dns if a.qname == owner}
            assert statuses and statuses <= {Herrno.TRY_AGAIN, Herrno.NO_RECOVERY}, (delivery.mta, statuses)
            assert delivery.outcome != Outcome.DELIVERED


def assert_every_mta_defers(result: CheckResult) -> None:
    deliveries = [d for p in result.paths for d in p.deliveries]
    assert deliveries and all(d.outcome == Outcome.DEFERRED for d in deliveries), [
        (d.mta, d.outcome.value, d.reason) for d in deliveries]
    assert "senders defer and try again" in result.summary


def test_dropped_mx_queries_beside_nodata_addresses_are_unknown_not_a_nodata_bounce() -> None:
    """MX queries dropped, A/AAAA answered NODATA. Read as "no MX, no address", every MTA
    would bounce; unknown, they defer (docs/architecture.md#a-timeout-is-never-an-absence)."""
    result, server = check_with(Mode.DROP_MX, Mode.NODATA_ADDRESSES, record=True)
    assert_unknown(result, f"{NS1} never answered MX (timeout")
    assert_lookups_failed(result, DOMAIN)
    assert_every_mta_defers(result)
    assert server.seen.count("MX") > 0 and server.seen.count("AAAA") > 0
    # The recorded world fails as the wire did: a server that drops, not a zone without MX.
    assert result.recording is not None
    ns1 = next(s for s in result.recording.spec.servers if s.name.to_text() == "ns1.example.test.")
    assert [b.drop for b in ns1.backends] == [1.0]
    assert any("never answered MX" in note for note in result.recording.notes)
    assert "example.test MX: no usable reply, so unknown; left out of the recorded zone, where a replay reads it " \
           "as absent" in result.recording.notes


def test_mx_replies_with_a_compression_pointer_loop_are_unusable() -> None:
    result, _server = check_with(Mode.MX_POINTER_LOOP)
    assert_unknown(result, f"{NS1} never answered MX", "unparsable")
    assert_lookups_failed(result, DOMAIN)
    assert_every_mta_defers(result)


def test_replies_to_another_question_are_no_answer_over_udp_or_tcp() -> None:
    """The server answers every query about x-wrong.example.test (NXDOMAIN). Over TCP that
    reply was taken as the MX answer: "the domain does not exist"."""
    result, server = check_with(Mode.WRONG_QUESTION)
    assert_unknown(result, "no name server gave a usable answer", "another question")
    assert any(tcp for _, _, _, tcp in server.seen.queries), "the TCP sample was asked"
    assert result.analysis is not None and result.analysis.view(NS_ADDRESS).answered == 0


def test_replies_truncated_even_over_tcp_are_unknown() -> None:
    result, server = check_with(Mode.TRUNCATE_ALWAYS)
    assert_unknown(result, "truncated even over TCP")
    assert any(tcp for _, _, _, tcp in server.seen.queries)
    assert result.analysis is not None and result.analysis.view(NS_ADDRESS).answered == 0


def test_a_server_that_refers_the_domain_to_itself_is_lame() -> None:
    """No AA, no answer, the domain's own NS set: a referral, not an empty zone."""
    result, _server = check_with(Mode.SELF_REFERRAL)
    assert_unknown(result, f"{NS1} referred example.test to itself (a lame server)")
    assert "NS02_LAME" in {f.id for f in result.findings}


def test_an_upward_referral_is_lame_never_a_missing_domain() -> None:
    result, _server = check_with(Mode.UPWARD_REFERRAL)
    assert_unknown(result, f"{NS1} referred upward to .")
    assert "NS02_LAME" in {f.id for f in result.findings}


def test_an_upward_referral_met_on_the_way_down_leaves_the_delegation_unknown() -> None:
    """With the root hints pointing at the hostile server, its upward referral was taken for
    an answer: the zone became "." and the domain "not delegated"."""
    with hostile_dns(DOMAIN, [Mode.UPWARD_REFERRAL]) as server:
        result = check(server, root_hints=((dns.name.from_text("ns1.example.test."), NS_ADDRESS),))
    assert result.summary.startswith(f"could not measure {DOMAIN}: no server of zone . gave a usable answer")
    assert "referred . to itself (a lame delegation)" in result.summary
    assert result.zone == DOMAIN and not result.findings
    assert result.exit_code == CheckExit.UNMEASURED


def test_servfail_to_every_mx_query_defers_as_the_mtas_do() -> None:
    """Read as "no MX", every MTA delivered to the domain's own address (implicit MX)."""
    result, _server = check_with(Mode.SERVFAIL_MX, record=True)
    assert_unknown(result, f"{NS1} answered SERVFAIL when asked MX (a lame server)")
    assert_lookups_failed(result, DOMAIN)
    assert_every_mta_defers(result)
    assert result.recording is not None
    ns1 = next(s for s in result.recording.spec.servers if s.name.to_text() == "ns1.example.test.")
    assert {b.rcode for b in ns1.backends} == {dns.rcode.SERVFAIL}  # none serves a zone without MX


def test_mx_host_address_lookups_timing_out_are_unknown_not_host_not_found() -> None:
    """The MX host's A/AAAA dropped: recorded as missing, the MTAs found "no such host"."""
    result, _server = check_with(Mode.DROP_HOST_ADDRESSES, record=True)
    assert_unknown(result, "mx.example.test A: no answer within 2 s")
    assert_lookups_failed(result, "mx.example.test")
    assert result.recording is not None
    zones = {z.origin.to_text() for z in result.recording.spec.zones}
    assert "mx.example.test." in zones  # a zone of its own, whose server fails as the wire did
    unresolved = next(s for s in result.recording.spec.servers if s.name.to_text() == "unresolved.mx.example.test.")
    assert [b.drop for b in unresolved.backends] == [1.0]
    assert MX_ADDRESS not in check_text.render(result)


def test_a_healthy_domain_reports_as_before() -> None:
    result, server = check_with()
    assert result.summary == f"mail to {DOMAIN} would go to mx.example.test for every lookup " \
                             "[1 findings: 0 errors, 0 warnings]"
    assert [f.id for f in result.findings] == ["NS06_NO_NSID"]
    assert result.unknown == () and result.unmeasured == ()
    assert all(p.unknown is None for p in result.paths)
    deliveries = [d for p in result.paths for d in p.deliveries]
    assert {d.outcome for d in deliveries} == {Outcome.DELIVERED}
    assert {d.delivered_to.address for d in deliveries if d.delivered_to is not None} == {MX_ADDRESS}
    assert result.exit_code == CheckExit.CLEAN
    assert server.seen.count("MX", at=NS_ADDRESS) > 0


def test_a_real_nodata_is_still_a_bounce() -> None:
    """No MX and no address records, answered as such: that is measured, and MTAs bounce."""
    with hostile_dns(DOMAIN, without=["MX", "A"]) as server:
        result = check(server, smtp=True, smtp_timeout=0.5)
    assert result.summary.startswith(f"mail to {DOMAIN} bounced: ")
    assert {"MX05_NO_MX", "PATH01_NOT_DELIVERED"} <= {f.id for f in result.findings}
    assert result.unmeasured == () and all(p.unknown is None for p in result.paths)
    assert result.exit_code == CheckExit.FINDINGS  # measured


def test_one_backend_dropping_mx_leaves_its_share_unknown_and_the_rest_measured() -> None:
    """ns1 and ns2 name themselves in NSID (two backends); ns2 drops MX. What ns2 would say to
    MX was never seen: its share is unknown (it read as "no MX": mail to the domain's own
    address), ns1's share is measured."""
    with hostile_dns(DOMAIN, (), second=[Mode.DROP_MX], nsid=True) as server:
        result = check(server)
    ns2 = "ns2.example.test [198.51.100.3]"
    assert result.summary.startswith(
        f"mail to {DOMAIN}: unknown for 1 of 2 lookups (50%) ({ns2} never answered MX (timeout"), result.summary
    assert "; 1 of 2 (50%) would go to mx.example.test" in result.summary
    assert result.unmeasured == (f"mail to {DOMAIN} for 50% of lookups (zone) is unknown: {ns2} never answered MX "
                                 f"(timeout 10)",)
    measured = [p for p in result.paths if p.unknown is None]
    assert len(measured) == 1 and all(d.delivered_to is not None and d.delivered_to.address == MX_ADDRESS
                                      for d in measured[0].deliveries)
    assert result.exit_code == CheckExit.UNMEASURED


def test_a_name_server_whose_address_lookup_fails_is_unknown_not_addressless() -> None:
    """The root refers to ns1.example.test without glue: its address cannot be looked up
    (it lies in the zone it serves). That lookup failed; it did not say "no A record"."""
    with hostile_dns(DOMAIN, glue=False) as server:
        result = check(server)
    assert "DEL04_NS_NO_ADDRESS" not in {f.id for f in result.findings}
    assert result.summary.startswith(f"{UNKNOWN}: no name server gave a usable answer: no address of any name "
                                     "server was found (ns1.example.test A: no server gave a usable answer"), \
        result.summary
    assert "ns1.example.test A: no server gave a usable answer" in result.unknown
    assert result.exit_code == CheckExit.UNMEASURED


def test_nxdomain_to_mx_beside_addresses_at_the_same_name_is_unknown_not_an_implicit_mx() -> None:
    """NXDOMAIN to MX, with the MX record in the answer, while A answers: the libraries the MTAs
    use read NXDOMAIN as "no such domain" whatever the answer holds. The world rebuilt as zones
    held the name with its address and no MX, and sent every MTA to the domain's own address."""
    result, _server = check_with(Mode.NXDOMAIN_WITH_ANSWERS)
    assert_unknown(result, f"{NS1} answered NXDOMAIN when asked MX but NOERROR when asked A",
                   "a server that contradicts itself")
    assert "would go to" not in result.summary
    # The MTAs do not defer on it (Postfix tries the implicit MX, Exim and Sendmail fail the
    # address): no deferral is shown as their path.
    assert "defer" not in result.summary
    assert all(not path.deliveries for path in result.paths)
    assert "part ways on it (Postfix goes on to the domain's own address" in check_text.render(result)
    assert all(p["deliveries"] == [] for p in check_json.data(result)["paths"])


def test_nxdomain_to_mx_after_a_servfail_is_unknown_too() -> None:
    result, _server = check_with(Mode.SERVFAIL_MX, Mode.NXDOMAIN_WITH_ANSWERS)
    assert_unknown(result, "answered NXDOMAIN when asked MX")
    assert "would go to" not in result.summary
