"""The lab's DNS servers over real sockets: the 2017 farm as the incident describes it."""

from __future__ import annotations

import ipaddress
import math
import socket
import struct
import time
from collections.abc import Iterator

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from mxsim.lab.addressmap import LOOPBACK
from mxsim.scenario import load_scenario
from mxsim.world import World, parse_pins
from tests.lab.conftest import WIRE_SCENARIO, RunningLab, running_lab

pytestmark = pytest.mark.lab

SPEC = load_scenario("wa-students-2017")
NS1 = "216.40.47.26"  # ns1.hover.com
NS2 = "216.40.55.26"  # ns2.hover.com
APEX = "wa-students.org"
FARM = {backend.name: backend for backend in SPEC.server(dns.name.from_text("ns1.hover.com")).backends}  # type: ignore[union-attr]
NSIDS = {backend.nsid for backend in FARM.values()}


@pytest.fixture(scope="module")
def farm() -> Iterator[RunningLab]:
    with running_lab(World(SPEC), seed=7) as lab:
        yield lab


@pytest.fixture(scope="module")
def broken() -> Iterator[RunningLab]:
    with running_lab(World(SPEC, parse_pins(SPEC, ["broken"]))) as lab:
        yield lab


@pytest.fixture(scope="module")
def healthy() -> Iterator[RunningLab]:
    with running_lab(World(SPEC, parse_pins(SPEC, ["healthy"]))) as lab:
        yield lab


@pytest.fixture(scope="module")
def wire() -> Iterator[RunningLab]:
    with running_lab(World(load_scenario(WIRE_SCENARIO))) as lab:
        yield lab


def _nsid(response: dns.message.Message) -> str | None:
    for option in response.options:
        if option.otype == dns.edns.OptionType.NSID:
            assert isinstance(option, dns.edns.NSIDOption)
            return option.nsid.decode()
    return None


def _cnames(response: dns.message.Message) -> list[tuple[str, str]]:
    return [
        (rrset.name.to_text(), rrset[0].target.to_text())
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.CNAME
    ]


def test_nsid_comes_back(farm: RunningLab, broken: RunningLab) -> None:
    seen = {_nsid(farm.ask(NS1, APEX, "MX", nsid=True)) for _ in range(20)}
    assert seen <= NSIDS and len(seen) > 1
    assert _nsid(broken.ask(NS2, APEX, "MX", nsid=True)) == FARM["hover01"].nsid
    assert _nsid(broken.ask(NS2, APEX, "MX", nsid=False)) is None


def test_aa_follows_rd_as_the_broken_backend_says(broken: RunningLab, healthy: RunningLab) -> None:
    assert not broken.ask(NS1, APEX, "MX", rd=True).flags & dns.flags.AA
    assert broken.ask(NS1, APEX, "MX", rd=False).flags & dns.flags.AA
    assert healthy.ask(NS1, APEX, "MX", rd=True).flags & dns.flags.AA
    assert healthy.ask(NS1, APEX, "MX", rd=False).flags & dns.flags.AA


def test_broken_backend_answers_the_apex_mx_with_the_cname_chain(broken: RunningLab) -> None:
    for server in (NS1, NS2):
        response = broken.ask(server, APEX, "MX")
        assert response.rcode() == dns.rcode.NOERROR
        assert _cnames(response) == [
            ("wa-students.org.", "www.westlakeacademy.org."),
            ("www.westlakeacademy.org.", "westlakeacademy.sites.edlio.com."),
        ]
        assert not any(rrset.rdtype == dns.rdatatype.MX for rrset in response.answer)
        # hover01 puts the root NS set in the authority section.
        assert [rrset.name for rrset in response.authority] == [dns.name.root]


def test_healthy_backend_answers_the_mx(healthy: RunningLab) -> None:
    response = healthy.ask(NS1, APEX, "MX")
    assert not _cnames(response)
    assert len(response.answer[0]) == 6


def test_cname_share_follows_the_backend_weight(farm: RunningLab) -> None:
    counters = farm.servers.dns_service.counters[farm.lab(NS1)]
    before = dict(counters.by_backend)
    n = 200
    poisoned = sum(bool(_cnames(farm.ask(NS1, APEX, "MX"))) for _ in range(n))
    share = FARM["hover01"].weight / sum(backend.weight for backend in FARM.values())
    error = math.sqrt(share * (1 - share) / n)
    assert abs(poisoned / n - share) <= 3 * error, (poisoned, n, share)
    # What the wire showed is exactly what the server drew.
    drawn = {k: v - before.get(k, 0) for k, v in counters.by_backend.items()}
    assert drawn["hover01"] == poisoned
    assert sum(drawn.values()) == n


def test_address_answers_carry_mapped_loopback_addresses(farm: RunningLab) -> None:
    response = farm.ask("100.64.0.4", "aspmx.l.google.com", "A")  # ns1.google.com
    addresses = [rdata.address for rdata in response.answer[0]]
    assert addresses == [farm.lab("142.250.153.26")]
    assert all(ipaddress.ip_address(a) in LOOPBACK for a in addresses)


def test_glue_in_referrals_is_mapped(farm: RunningLab) -> None:
    root = farm.world.root_hints[0][1]
    referral = farm.ask(root, "ns1.hover.com", "A", rd=False)
    glue = [rdata.address for rrset in referral.additional for rdata in rrset]
    answer = [rdata.address for rrset in referral.answer for rdata in rrset]
    assert glue or answer
    for address in glue + answer:
        farm.map.real(address)  # raises unless it is a lab address


def test_aaaa_is_served_as_the_ipv4_mapped_lab_address(wire: RunningLab) -> None:
    response = wire.ask("192.0.2.53", "six.example.org", "AAAA")
    assert [rdata.address for rdata in response.answer[0]] == [
        "::ffff:" + wire.lab("2001:db8::25")
    ]


def test_a_big_answer_truncates_over_udp_and_comes_whole_over_tcp(wire: RunningLab) -> None:
    plain = wire.ask("192.0.2.53", "big.example.org", "TXT", edns=False)
    assert plain.flags & dns.flags.TC and not plain.answer
    small_edns = wire.ask("192.0.2.53", "big.example.org", "TXT", payload=512)
    assert small_edns.flags & dns.flags.TC
    roomy = wire.ask("192.0.2.53", "big.example.org", "TXT", payload=4096)
    assert not roomy.flags & dns.flags.TC and roomy.answer
    whole = wire.ask("192.0.2.53", "big.example.org", "TXT", edns=False, tcp=True)
    assert not whole.flags & dns.flags.TC
    assert whole.answer == roomy.answer
    assert wire.servers.dns_service.counters[wire.lab("192.0.2.53")].truncated == 2


def test_drop_gives_no_answer(wire: RunningLab) -> None:
    with pytest.raises(dns.exception.Timeout):
        wire.ask("198.51.100.53", "www.example.net", "A", timeout=0.5)
    with pytest.raises(dns.exception.Timeout):
        wire.ask("198.51.100.53", "www.example.net", "A", tcp=True, timeout=0.5)
    assert wire.servers.dns_service.counters[wire.lab("198.51.100.53")].drops == 2


def test_a_farm_without_tcp_refuses_connections(wire: RunningLab) -> None:
    assert wire.ask("198.51.100.54", "www.example.com", "A").answer
    with pytest.raises(ConnectionRefusedError):
        wire.ask("198.51.100.54", "www.example.com", "A", tcp=True, timeout=1)


def test_delay_holds_the_answer_back(wire: RunningLab) -> None:
    start = time.monotonic()
    assert wire.ask("198.51.100.55", "www.example.info", "A", timeout=3).answer
    assert time.monotonic() - start >= 0.29
    with pytest.raises(dns.exception.Timeout):
        wire.ask("198.51.100.55", "www.example.info", "A", timeout=0.1)


def test_garbage_gets_formerr_and_the_server_keeps_answering(wire: RunningLab) -> None:
    server = (wire.lab("192.0.2.53"), wire.dns_port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        garbage = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + b"\xff\x01"
        sock.sendto(garbage, server)
        reply, _ = sock.recvfrom(512)
    qid, flags = struct.unpack("!HH", reply[:4])
    assert qid == 0x4242 and flags & dns.flags.QR and flags & 0xF == dns.rcode.FORMERR
    assert wire.ask("192.0.2.53", "accept.example.org", "A").answer


def test_every_bundled_scenario_serves_its_zones() -> None:
    from mxsim.scenario import bundled_scenarios

    for name in bundled_scenarios():
        world = World(load_scenario(name))
        with running_lab(world) as lab:
            for spec in world.server_specs():
                for origin in spec.zones:
                    # A server without EDNS (ns-without-edns) is asked as an old resolver would.
                    edns = all(backend.edns for backend in spec.backends)
                    response = lab.ask(spec.addresses[0], origin.to_text(), "NS", rd=False, edns=edns)
                    assert response.rcode() in (dns.rcode.NOERROR, dns.rcode.SERVFAIL), name
