"""`lab up --time-scale K`: the scenario's timeline applied on the wall clock, K times faster.

At each change's time (divided by K, counted from when the lab is ready) the DNS servers
start answering from that stretch's world; what a resolver cached stays cached, as in
replay. The lab binds its sockets once, so a change may alter what servers answer but
not add addresses; and the SMTP listeners are set up once, so `hosts` changes are not
applied on the wall clock (the model's replay applies them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

import dns.name

from mxsim.lab.addressmap import AddressMap
from mxsim.lab.dns_server import DnsService
from mxsim.lab.errors import LabError
from mxsim.scenario.spec import ScenarioSpec
from mxsim.world.timeline import WorldTimeline

log = logging.getLogger("mxsim.lab.timeline")


def check_lab_timeline(spec: ScenarioSpec, pins: Mapping[dns.name.Name, str], address_map: AddressMap,
                       time_scale: float) -> WorldTimeline:
    """The timeline the lab can follow, or a LabError saying what it cannot."""
    if time_scale <= 0:
        raise LabError(f"--time-scale {time_scale:g}: expected a factor above 0 (60: one hour in one minute)")
    timeline = WorldTimeline(spec, pins)
    servers = {entry.real for entry in address_map.dns_addresses()}
    mapped = {entry.real for entry in address_map.entries}
    for epoch in range(1, len(timeline)):
        world = timeline.world(epoch)
        added = sorted({a for s in world.server_specs() for a in s.addresses} - servers
                       | set(world.hosts.addresses()) - mapped)
        if added:
            raise LabError(f"the change at {timeline.starts[epoch]:g}s brings addresses the lab did not map at the "
                           f"start ({', '.join(added)}); the lab follows changes of what servers answer, not new "
                           "addresses")
        if world.spec.hosts != spec.hosts:
            raise LabError(f"the change at {timeline.starts[epoch]:g}s changes `hosts`; the lab applies zone and "
                           "server changes on the wall clock, not SMTP behaviour (replay applies both)")
    return timeline


async def follow(timeline: WorldTimeline, dns: DnsService, time_scale: float, stop: asyncio.Event) -> None:
    """Swap each later world in at its time / time_scale after now."""
    started = time.monotonic()
    for epoch in range(1, len(timeline)):
        due = started + timeline.starts[epoch] / time_scale
        wait = due - time.monotonic()
        if wait > 0:
            try:
                await asyncio.wait_for(stop.wait(), wait)
                return
            except TimeoutError:
                pass
        dns.use_world(timeline.world(epoch))
        log.warning("timeline: the world of %gs after the start is served from now on", timeline.starts[epoch])
