"""The address map and the socket-free DNS service: safety and determinism."""

from __future__ import annotations

import ipaddress
import random

import dns.flags
import dns.message
import dns.rcode
import pytest

from mxsim.lab.addressmap import (
    LOOPBACK,
    AddressMap,
    MappedAddress,
    UnmappedAddressError,
    connectable,
    ensure_loopback,
)
from mxsim.lab.dns_server import DnsService, formerr_for
from mxsim.lab.errors import LabSafetyError
from mxsim.scenario import bundled_scenarios, load_scenario
from mxsim.world import World
from tests.lab.conftest import WIRE_SCENARIO

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("name", bundled_scenarios())
def test_every_bundled_scenario_maps_one_to_one_onto_loopback(name: str) -> None:
    world = World(load_scenario(name))
    first = AddressMap.build(world)
    again = AddressMap.build(World(load_scenario(name)))
    assert first.to_json() == again.to_json()
    labs = [entry.lab for entry in first.entries]
    reals = [entry.real for entry in first.entries]
    assert len(set(labs)) == len(labs) and len(set(reals)) == len(reals)
    assert all(ipaddress.ip_address(lab) in LOOPBACK for lab in labs)
    servers = {a for spec in world.server_specs() for a in spec.addresses}
    assert {first.lab(a) for a in servers} == {e.lab for e in first.entries if e.dns}
    for address in world.hosts.addresses():
        assert first.real(first.lab(address)) == str(ipaddress.ip_address(address))
    assert AddressMap.from_json(first.to_json()).to_json() == first.to_json()


@pytest.mark.parametrize("address", ["8.8.8.8", "10.0.0.1", "::1", "2001:db8::1", "::ffff:8.8.8.8", "x"])
def test_nothing_outside_127_8_is_accepted(address: str) -> None:
    with pytest.raises(LabSafetyError):
        ensure_loopback(address)


def test_ipv4_mapped_loopback_is_connectable_as_ipv4() -> None:
    assert ensure_loopback("127.25.0.1") == "127.25.0.1"
    assert connectable("::ffff:127.25.0.1") == "127.25.0.1"


@pytest.mark.parametrize(
    ("dns_network", "smtp_network"),
    [("10.53.0.0/16", "127.25.0.0/16"), ("127.53.0.0/16", "0.0.0.0/0"),
     ("127.53.0.0/16", "127.53.0.0/24"), ("::1/128", "127.25.0.0/16")],
)
def test_networks_outside_loopback_or_overlapping_are_refused(
    dns_network: str, smtp_network: str
) -> None:
    world = World(load_scenario("wa-students-2017"))
    with pytest.raises(LabSafetyError):
        AddressMap.build(world, dns_network=dns_network, smtp_network=smtp_network)


def test_a_network_too_small_is_refused() -> None:
    world = World(load_scenario("wa-students-2017"))
    with pytest.raises(LabSafetyError, match="room"):
        AddressMap.build(world, dns_network="127.53.0.0/29")


def test_a_map_that_is_not_one_to_one_is_refused() -> None:
    with pytest.raises(LabSafetyError, match="one-to-one"):
        AddressMap([MappedAddress("192.0.2.1", "127.25.0.1", False, True),
                    MappedAddress("192.0.2.2", "127.25.0.1", False, True)])
    with pytest.raises(LabSafetyError):
        AddressMap([MappedAddress("192.0.2.1", "192.0.2.1", False, True)])


def _query(service: DnsService, lab: str, qname: str, qtype: str) -> dns.message.Message:
    wire = dns.message.make_query(qname, qtype, id=1).to_wire()
    outcome = service.answer(lab, wire, tcp=False)
    assert outcome.wire is not None
    return dns.message.from_wire(outcome.wire)


def test_an_unmapped_address_in_an_answer_is_servfail_not_a_leak() -> None:
    world = World(load_scenario(WIRE_SCENARIO))
    full = AddressMap.build(world)
    partial = AddressMap(e for e in full.entries if e.real != "192.0.2.25")
    service = DnsService(world, partial)
    lab = partial.lab("192.0.2.53")
    response = _query(service, lab, "accept.example.org", "A")
    assert response.rcode() == dns.rcode.SERVFAIL and not response.answer
    assert service.counters[lab].errors == 1
    with pytest.raises(UnmappedAddressError):
        partial.lab("192.0.2.25")


def test_backend_draws_are_deterministic_given_the_seed() -> None:
    def draws(seed: int) -> list[str]:
        world = World(load_scenario("wa-students-2017"))
        service = DnsService(world, AddressMap.build(world), seed=seed)
        lab = service.map.lab("216.40.47.26")
        for _ in range(60):
            _query(service, lab, "wa-students.org", "MX")
        return sorted(service.counters[lab].by_backend.items())

    assert draws(1) == draws(1)
    assert draws(1) != draws(2) or draws(1) != draws(3)


def test_formerr_echoes_the_id_and_never_answers_a_response() -> None:
    header = bytes.fromhex("abcd0100000100000000000000")
    reply = formerr_for(header)
    assert reply is not None and reply[:2] == b"\xab\xcd"
    assert reply[2] & 0x80 and reply[3] & 0x0F == dns.rcode.FORMERR
    assert formerr_for(bytes.fromhex("abcd8100000100000000000000")) is None
    assert formerr_for(b"\x00\x01") is None


def test_responses_are_not_answered() -> None:
    world = World(load_scenario(WIRE_SCENARIO))
    service = DnsService(world, AddressMap.build(world))
    query = dns.message.make_query("accept.example.org", "A")
    query.flags |= dns.flags.QR
    assert service.answer(service.map.lab("192.0.2.53"), query.to_wire(), tcp=False).wire is None


def test_random_bytes_never_break_the_service() -> None:
    world = World(load_scenario("wa-students-2017"))
    service = DnsService(world, AddressMap.build(world))
    lab = service.map.lab("216.40.47.26")
    valid = dns.message.make_query("wa-students.org", "MX", use_edns=0).to_wire()
    rng = random.Random(5)
    for _ in range(2000):
        if rng.random() < 0.5:
            wire = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        else:  # a real query with a few bytes flipped: deeper into the parser
            mutable = bytearray(valid)
            for _ in range(rng.randrange(1, 4)):
                mutable[rng.randrange(len(mutable))] = rng.randrange(256)
            wire = bytes(mutable)
        service.answer(lab, wire, tcp=rng.random() < 0.5)
    assert service.counters[lab].errors == 0
