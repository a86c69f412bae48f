"""`mxsim check` with many domains in flight in one event loop, against a lab's real UDP,
TCP and SMTP listeners on 127.0.0.0/8: each domain's result is what it is one at a time,
the checks really overlap, `--rate` holds per address over all of them, a mail host
shared by domains checked at once is probed once, and a TLD's referral is asked once."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from mxsim.report.check_jsonl import data
from mxsim.world import World, parse_pins
from tests.audit.farm import MX_HOSTS, SERVERS, farm, zone_names
from tests.audit.test_check_shared import batch, farm_lab

pytestmark = pytest.mark.lab


def _line(result: Any) -> dict[str, Any]:
    line = data(result)
    line.pop("queries")  # how many: the shared caches fill in another order when domains overlap
    return line


def test_domains_in_flight_give_each_domain_the_result_it_has_alone() -> None:
    zones = zone_names(10)
    spec = farm(zones, {"good": 1, "bad": 1}, bad="bad", broken=zones[3:5])
    # Each address answers from one backend: no draw at the lab decides a result, so any
    # difference between the two runs is the interleaving's.
    world = World(spec, parse_pins(spec, [f"{SERVERS[0][0]}=bad", f"{SERVERS[1][0]}=good"]))
    with farm_lab(world) as (lab, heard):
        alone = batch(lab, zones, samples=2, parallel=1)
        last_alone = len(heard.queries)
        together = batch(lab, zones, samples=2, parallel=8)
    assert [r.domain for r in together] == zones  # the list's order, whatever order they finished in
    assert [_line(r) for r in together] == [_line(r) for r in alone]
    assert {f.id for r in together[3:5] for f in r.findings} >= {"APEX01_CNAME"}
    assert "APEX01_CNAME" not in {f.id for r in together[:3] for f in r.findings}

    def overlaps(queries: list[tuple[str, str, int, float]]) -> int:
        """Domains whose first sample reached the lab before the previous domain's last one."""
        times: dict[str, list[float]] = {}
        for _, qname, _, when in queries:
            if qname.rstrip(".") in zones:
                times.setdefault(qname.rstrip("."), []).append(when)
        return sum(1 for a, b in itertools.pairwise(zones) if min(times[b]) < max(times[a]))

    assert overlaps(heard.queries[:last_alone]) == 0  # one at a time: each domain's queries after the last's
    assert overlaps(heard.queries[last_alone:]) >= 5  # in flight together: they interleave at the lab


def test_rate_holds_per_address_with_many_domains_in_flight() -> None:
    rate = 50.0
    zones = zone_names(8)
    world = World(farm(zones, {"a": 1, "b": 1}))
    with farm_lab(world) as (lab, heard):
        batch(lab, zones, samples=1, rate=rate, smtp=False, parallel=8)
    for _, address in SERVERS:
        times = sorted(heard.at(address))
        assert len(times) >= 8 * 13
        # Eight domains sending at once still leave 1/rate apart at each address. The lab
        # stamps a query when it reads it, and a lab process the loaded machine set aside
        # reads its backlog at once, so a window may hold some more than rate + 1; eight
        # domains each at the rate would put 8 x rate in it.
        busiest = max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))
        assert busiest <= rate * 1.5, (address, busiest)
        assert times[-1] - times[0] >= (len(times) - 1) / rate * 0.9


def test_a_host_shared_by_domains_in_flight_is_probed_once_and_the_tld_asked_once() -> None:
    zones = zone_names(12)
    world = World(farm(zones, {"a": 1}))
    with farm_lab(world) as (lab, heard):
        # All twelve start together: each needs a mail host the others are probing, and the
        # org. referral the first is walking to.
        results = batch(lab, zones, samples=1, parallel=12)
        smtp = {real: lab.servers.smtp.counters[lab.map.lab(real)].connections for _, real in MX_HOSTS}
        root = {address for _, address in lab.world.root_hints}
    assert [r.domain for r in results] == zones
    assert all(r.probes for r in results)  # every domain has its mail host's probe, made once for all
    assert smtp == {address: 1 for address in smtp}, smtp
    asked_root = [q for a, q, _, _ in heard.queries if a in root and q.startswith("zone")]
    assert len(asked_root) == 1, asked_root
