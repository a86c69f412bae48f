"""`lab up --time-scale`: the timeline on the wall clock, held against Debian's unbound.

The MX (TTL 8 s) changes 240 virtual seconds in, 6 s of wall time at 40x. unbound fetched
the old MX before the change, so right after it still answers the old one from its cache
(a cache keeps what it fetched, as replay's do), and once the TTL has run out the new one.
"""

from __future__ import annotations

import time
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest

from mxsim.lab.addressmap import AddressMap
from mxsim.lab.errors import LabError
from mxsim.lab.timeline import check_lab_timeline
from mxsim.scenario import load_scenario
from mxsim.world import World
from tests.lab.tools import lab, require_root, require_tool

pytestmark = pytest.mark.lab

SCENARIO = """mxsim: 1
name: lab-timeline
recipient: user@example.org
zones:
  example.org: |
    $TTL 8
    @    SOA  ns1.example.org. hostmaster.example.org. 1 7200 900 1209600 8
    @    NS   ns1.example.org.
    @    MX   10 mx.old.example.org.
    ns1  A    192.0.2.53
    mx.old  A  192.0.2.25
    mx.new  A  192.0.2.26
servers:
  ns1.example.org: {address: 192.0.2.53, zones: [example.org]}
hosts:
  default: {smtp: accept}
timeline:
  - at: 240s
    zones:
      example.org: |
        $TTL 8
        @    SOA  ns1.example.org. hostmaster.example.org. 2 7200 900 1209600 8
        @    NS   ns1.example.org.
        @    MX   10 mx.new.example.org.
        ns1  A    192.0.2.53
        mx.old  A  192.0.2.25
        mx.new  A  192.0.2.26
"""
CHANGE_LINE = "timeline: the world of 240s after the start is served from now on"
TTL = 8.0


def _mx(address: str, port: int) -> str:
    response = dns.query.udp(dns.message.make_query("example.org", "MX"), address, port=port, timeout=5)
    return next(str(rdata.exchange) for rrset in response.answer if rrset.rdtype == dns.rdatatype.MX
                for rdata in rrset)


def test_unbound_keeps_the_old_mx_for_its_ttl_after_the_lab_changes_it(tmp_path: Path) -> None:
    require_root("unbound on port 53")
    require_tool("unbound", "unbound")
    scenario = tmp_path / "lab-timeline.yaml"
    scenario.write_text(SCENARIO)
    state = tmp_path / "lab"
    with lab(scenario, state, dns_port=53, resolver="unbound", time_scale=40.0) as info:
        assert info.resolver is not None
        address, port = info.resolver
        fetched = time.monotonic()
        assert _mx(address, port) == "mx.old.example.org."
        deadline = time.monotonic() + 20
        while CHANGE_LINE not in (state / "serve.log").read_text():
            assert time.monotonic() < deadline, (state / "serve.log").read_text()[-2000:]
            time.sleep(0.05)
        assert time.monotonic() < fetched + TTL - 1  # the cached answer is still alive ...
        assert _mx(address, port) == "mx.old.example.org."  # ... and unbound hands it out
        time.sleep(max(0.0, fetched + TTL + 2 - time.monotonic()))
        assert _mx(address, port) == "mx.new.example.org."


def test_the_lab_refuses_a_timeline_it_cannot_follow() -> None:
    spec = load_scenario("migrate-to-m365-rejects")  # changes `hosts` two hours in
    world = World(spec)
    address_map = AddressMap.build(world, dns_network="127.77.0.0/16", smtp_network="127.78.0.0/16")
    with pytest.raises(LabError, match="changes `hosts`"):
        check_lab_timeline(spec, {}, address_map, 60.0)
    spec = load_scenario("migrate-registrar-move")  # a new name server address
    address_map = AddressMap.build(World(spec), dns_network="127.77.0.0/16", smtp_network="127.78.0.0/16")
    with pytest.raises(LabError, match=r"203\.0\.113\.153"):
        check_lab_timeline(spec, {}, address_map, 60.0)
    spec = load_scenario("migrate-to-m365")  # only the zone changes: the lab follows it
    address_map = AddressMap.build(World(spec), dns_network="127.77.0.0/16", smtp_network="127.78.0.0/16")
    assert len(check_lab_timeline(spec, {}, address_map, 60.0)) == 2
