"""The recursive resolver against the world model: what unbound hands an MTA (docs/lab.md)."""

from __future__ import annotations

import random

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from mxsim.clock import VirtualClock
from mxsim.resolver.recursive import RecursiveResolver, Resolved, scrub
from mxsim.scenario import load_scenario, load_scenario_text
from mxsim.scenario.spec import ScenarioSpec
from mxsim.transport.model import ModelTransport
from mxsim.world import World, parse_pins

N = dns.name.from_text
MX = dns.rdatatype.MX


class Harness:
    def __init__(self, spec: ScenarioSpec, pins: list[str] | None = None, *, cache: bool = True, seed: int = 7):
        self.clock = VirtualClock()
        rng = random.Random(seed)
        self.world = World(spec, parse_pins(spec, pins))
        self.transport = ModelTransport(self.world, self.clock, rng)
        self.resolver = RecursiveResolver(self.world.root_hints, self.clock, rng, cache=cache)

    def resolve(self, name: str, rdtype: str) -> Resolved:
        return self.transport.run(self.resolver.resolve(N(name), dns.rdatatype.from_text(rdtype)))


def chain(resolved: Resolved) -> list[tuple[str, str]]:
    return [(r.name.to_text(omit_final_dot=True), dns.rdatatype.to_text(r.rdtype)) for r in resolved.response.answer]


def test_broken_farm_gives_the_whole_chain_to_fastly_and_no_mx() -> None:
    """unbound drops the out-of-zone second CNAME and the root NS authority, chases the chain
    itself and hands the MTA the chain ending at edlio.map.fastly.net, no MX
    (docs/lab.md#unbound-as-the-labs-resolver)."""
    harness = Harness(load_scenario("wa-students-2017"), ["broken"])
    resolved = harness.resolve("wa-students.org", "MX")
    assert resolved.response.rcode() == dns.rcode.NOERROR
    assert chain(resolved) == [
        ("wa-students.org", "CNAME"), ("www.westlakeacademy.org", "CNAME"),
        ("westlakeacademy.sites.edlio.com", "CNAME"), ("sites.edlio.com", "CNAME"),
    ]
    assert resolved.response.answer[-1][0].target == N("edlio.map.fastly.net")
    farm_replies = [u for u in resolved.upstream if u.backend == "hover01"]
    assert farm_replies and farm_replies[0].nsid == "hover01.dns.bra.prod.tucows.net"
    # The broken backend's out-of-zone link was asked again of westlakeacademy.org's own server.
    assert any(u.qname == N("www.westlakeacademy.org") and u.backend is None for u in resolved.upstream)


def test_scrub_keeps_only_in_bailiwick_records() -> None:
    response = dns.message.from_text(
        "id 1\nflags QR AA\n;QUESTION\nwa-students.org. IN MX\n;ANSWER\n"
        "wa-students.org. 900 IN CNAME www.westlakeacademy.org.\n"
        "www.westlakeacademy.org. 900 IN CNAME westlakeacademy.sites.edlio.com.\n"
        ";AUTHORITY\n. 518400 IN NS a.root-servers.net.\n"
    )
    answer, authority, additional = scrub(response, N("wa-students.org"), N("wa-students.org"), MX)
    assert [r.name for r in answer] == [N("wa-students.org")]
    assert authority == [] and additional == []


def test_healthy_farm_gives_the_mx() -> None:
    harness = Harness(load_scenario("wa-students-2017"), ["healthy"])
    resolved = harness.resolve("wa-students.org", "MX")
    assert resolved.response.answer[0].rdtype == MX
    assert len(resolved.response.answer[0]) == 6


def test_nxdomain_and_dangling_chain_keep_the_chain_and_the_soa() -> None:
    harness = Harness(load_scenario("dangling-cname"))
    resolved = harness.resolve("lists.example.com", "MX")
    assert resolved.response.rcode() == dns.rcode.NXDOMAIN
    assert [r.rdtype for r in resolved.response.answer] == [dns.rdatatype.CNAME]
    assert resolved.response.authority[0].rdtype == dns.rdatatype.SOA


def test_servfail_from_every_server_is_servfail_not_absence() -> None:
    """A server that fails is never turned into "no records" (docs/architecture.md#a-timeout-is-never-an-absence)."""
    harness = Harness(load_scenario("servfail"))
    resolved = harness.resolve("example.org", "MX")
    assert resolved.response.rcode() == dns.rcode.SERVFAIL
    assert not resolved.response.answer


SILENT = """
mxsim: 1
name: half-silent
recipient: u@example.org
zones:
  example.org: |
    @ MX 10 mx.example.org.
    mx A 192.0.2.25
servers:
  ns1.example.org:
    address: 192.0.2.53
    zones: [example.org]
    backends:
      mute: {drop: 1}
  ns2.example.org:
    address: 192.0.2.54
    zones: [example.org]
"""


def test_a_silent_server_costs_a_timeout_then_the_other_answers() -> None:
    spec = load_scenario_text(SILENT, file="silent.yaml")
    for seed in range(6):
        harness = Harness(spec, seed=seed)
        resolved = harness.resolve("example.org", "MX")
        assert resolved.response.answer[0].rdtype == MX
        timeouts = [u for u in resolved.upstream if u.error is not None]
        assert all(u.address == "192.0.2.53" for u in timeouts)
        assert resolved.elapsed >= 0.376 * len(timeouts)


ALL_SILENT = SILENT.replace("  ns2.example.org:\n    address: 192.0.2.54\n    zones: [example.org]\n", "")


def test_only_silent_servers_is_servfail_after_bounded_retries() -> None:
    harness = Harness(load_scenario_text(ALL_SILENT, file="silent.yaml"))
    resolved = harness.resolve("example.org", "MX")
    assert resolved.response.rcode() == dns.rcode.SERVFAIL
    assert 1 < len([u for u in resolved.upstream if u.error]) <= 6


def test_cache_serves_until_floor_t_plus_ttl_as_unbound_does() -> None:
    """An entry fetched at t is served while the current second <= floor(t) + TTL (docs/lab.md#how-unbound-caches)."""
    harness = Harness(load_scenario("wa-students-2017"), ["healthy"])
    first = harness.resolve("wa-students.org", "MX")
    fetched = first.started + first.elapsed
    assert not first.from_cache
    harness.clock.jump_to(int(fetched) + 900 + 0.99)
    assert harness.resolve("wa-students.org", "MX").from_cache
    harness.clock.jump_to(int(fetched) + 901)
    assert not harness.resolve("wa-students.org", "MX").from_cache


def test_a_cached_cname_outlives_its_target_and_keeps_the_broken_answer() -> None:
    """A broken CNAME sticks for the CNAME's own TTL; only the expired part is asked again
    (docs/lab.md#how-unbound-caches)."""
    harness = Harness(load_scenario("wa-students-2017"), ["broken"])
    harness.resolve("wa-students.org", "MX")
    harness.clock.advance(60)
    again = harness.resolve("wa-students.org", "MX")
    assert again.from_cache
    assert chain(again)[0] == ("wa-students.org", "CNAME")


@pytest.mark.parametrize("cache", [True, False])
def test_without_cache_every_question_goes_to_the_farm(cache: bool) -> None:
    harness = Harness(load_scenario("wa-students-2017"), ["healthy"], cache=cache)
    harness.resolve("wa-students.org", "MX")
    second = harness.resolve("wa-students.org", "MX")
    assert second.from_cache is cache
